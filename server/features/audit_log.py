"""Reading the audit log: the one reader behind the supervisors' ``GET /sites/{site}/audit``
and the admin console's ``GET /admin/audit`` (audit rows are written by ``core/audit.py``).

Each entry comes in two forms: as stored (``actor``, ``action``, ``before``, ``after``, for
tools) and as a person reads it, in both languages: ``who`` (the person's name, a device's
name: never ``token:19``), ``what`` (the action in words), ``target`` (the counter, service or
user it changed) and ``changes`` (one line per field that changed, before → after, values in
words). Both screens print these; neither translates a code of its own."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core import formats
from server.models import ApiToken, AuditLog, Counter, Device, Service, User

# The actions the code audits (core/audit.py callers), in words. An action missing here is
# shown as its code: tests/integration/test_audit_log.py fails when one is missing.
ACTIONS: dict[str, tuple[str, str]] = {
    "site.create": ("Tạo điểm phục vụ", "Site created"),
    "site.update": ("Sửa điểm phục vụ", "Site changed"),
    "site.interleave": ("Đổi tỉ lệ gọi ưu tiên", "Priority ratio changed"),
    "site.ticker": ("Đổi dòng chữ chạy", "Ticker line changed"),
    "service.create": ("Tạo lĩnh vực", "Service created"),
    "service.update": ("Sửa lĩnh vực", "Service changed"),
    "outbox.retry": ("Gửi lại tin nhắn chưa gửi được", "Undelivered message sent again"),
    "counter.create": ("Tạo quầy", "Counter created"),
    "counter.update": ("Sửa quầy", "Counter changed"),
    "counter.open": ("Mở quầy", "Counter opened"),
    "counter.paused": ("Tạm dừng quầy", "Counter paused"),
    "counter.closed": ("Đóng quầy", "Counter closed"),
    "counter.profile": ("Đổi lĩnh vực của quầy", "Counter services changed"),
    "counter.serves_site": ("Quầy điểm khác phục vụ hàng chờ",
                            "Another site's counter serves this queue"),
    "priority.create": ("Tạo diện ưu tiên", "Priority category created"),
    "priority.update": ("Sửa diện ưu tiên", "Priority category changed"),
    "user.create": ("Tạo tài khoản", "User created"),
    "user.update": ("Sửa tài khoản", "User changed"),
    "user.reset_password": ("Đặt lại mật khẩu", "Password reset"),
    "token.revoke": ("Thu hồi mã truy cập", "Access token revoked"),
    "device.pair": ("Ghép nối thiết bị", "Device paired"),
    "device.collect_token": ("Thiết bị nhận mã truy cập", "Device collected its token"),
    "device.revoke": ("Thu hồi thiết bị", "Device revoked"),
    "procedures.import": ("Nhập danh mục thủ tục", "Procedure catalog imported"),
    "holidays.import": ("Nhập ngày nghỉ", "Holidays imported"),
    "holiday.save": ("Lưu ngày nghỉ", "Holiday saved"),
    "holiday.delete": ("Xoá ngày nghỉ", "Holiday deleted"),
    "dossier.step": ("Chuyển bước hồ sơ", "Dossier step"),
    "restore.fence": ("Khôi phục dữ liệu", "Data restored"),
    "tickets.move": ("Chuyển số thứ tự", "Tickets moved"),
    "site.close_day": ("Kết thúc ngày làm việc", "Working day closed"),
    "config.counter_profile": ("Đổi lĩnh vực của quầy (tệp cấu hình)",
                               "Counter services changed (configuration file)"),
    "dossier.received": ("Tiếp nhận hồ sơ", "Dossier received"),
    "booking.held": ("Giữ chỗ lịch hẹn", "Appointment place held"),
    "booking.confirmed": ("Xác nhận lịch hẹn", "Appointment confirmed"),
    "booking.cancelled": ("Huỷ lịch hẹn", "Appointment cancelled"),
    "booking.checked_in": ("Nhận số theo lịch hẹn", "Appointment checked in"),
    "booking.no_show": ("Lịch hẹn không đến", "Appointment missed"),
    "booking.day_closed": ("Huỷ lịch hẹn do ngày nghỉ", "Appointment cancelled: day closed"),
}

# Field names as a person says them (the keys of the stored before/after objects).
FIELDS: dict[str, tuple[str, str]] = {
    "status": ("Trạng thái", "Status"),
    "reason": ("Lý do", "Reason"),
    "services": ("Lĩnh vực", "Services"),
    "service": ("Lĩnh vực", "Service"),
    "tickets": ("Số thứ tự", "Tickets"),
    "counter": ("Quầy", "Counter"),
    "counter_site": ("Điểm của quầy", "Counter's site"),
    "position": ("Vị trí", "Position"),
    "vi": ("Tiếng Việt", "Vietnamese"),
    "en": ("Tiếng Anh", "English"),
    "name": ("Tên", "Name"),
    "name_vi": ("Tên", "Name (Vietnamese)"),
    "name_en": ("Tên tiếng Anh", "Name (English)"),
    "full_name": ("Họ tên", "Full name"),
    "username": ("Tên đăng nhập", "Username"),
    "role": ("Vai trò", "Role"),
    "active": ("Hoạt động", "Active"),
    "sites": ("Điểm phục vụ", "Sites"),
    "prefix": ("Chữ đầu số", "Number prefix"),
    "sla_target_minutes": ("Mục tiêu chờ (phút)", "Target wait (min)"),
    "default_service_minutes": ("Thời gian phục vụ (phút)", "Service time (min)"),
    "daily_cap": ("Giới hạn số mỗi ngày", "Daily cap"),
    "number": ("Số quầy", "Counter number"),
    "opening_hours": ("Giờ làm việc", "Opening hours"),
    "interleave_priority": ("Số ưu tiên mỗi lượt", "Priority per round"),
    "interleave_normal": ("Số thường mỗi lượt", "Normal per round"),
    "timezone": ("Múi giờ", "Time zone"),
    "address": ("Địa chỉ", "Address"),
    "phone": ("Điện thoại", "Phone"),
    "kind": ("Loại", "Kind"),
    "step": ("Bước", "Step"),
    "revoked_at": ("Thu hồi lúc", "Revoked at"),
    "late": ("Đến muộn", "Late"),
    "ticket": ("Số thứ tự", "Ticket"),
    "code": ("Mã lịch hẹn", "Booking code"),
    "start": ("Giờ hẹn", "Appointment time"),
    "id": ("Số định danh", "ID number"),
    "booking": ("Cài đặt đặt lịch", "Booking settings"),
    "online_share": ("Tỉ lệ đặt lịch trực tuyến", "Online booking share"),
}

VALUES: dict[str, tuple[str, str]] = {
    "open": ("mở", "open"),
    "paused": ("tạm dừng", "paused"),
    "closed": ("đóng", "closed"),
    "back": ("cuối hàng", "back of the line"),
    "front": ("đầu hàng", "front of the line"),
    "clerk": ("cán bộ", "clerk"),
    "supervisor": ("giám sát", "supervisor"),
    "admin": ("quản trị", "admin"),
    "held": ("đang giữ chỗ", "held"),
    "confirmed": ("đã xác nhận", "confirmed"),
    "checked_in": ("đã nhận số", "checked in"),
    "no_show": ("không đến", "did not come"),
    "cancelled": ("đã huỷ", "cancelled"),
    "citizen": ("người dân", "the citizen"),
    "day_closed": ("ngày nghỉ", "day closed"),
}

ACTOR_KINDS: dict[str, tuple[str, str]] = {
    "system": ("Hệ thống", "System"),
    "kiosk": ("Ki-ốt", "Kiosk"),
    "display": ("Màn hình", "Display"),
    "citizen": ("Người dân (đặt lịch)", "Citizen (booking)"),
}


def entries(
    session: Session,
    site_ids: Collection[int] | None,
    limit: int,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """At most ``limit`` audit entries of the sites ``site_ids`` (every site when None), newest
    first; ``before``: only entries older than the entry of that id (the next page). Each
    entry: id, site_id, at (ISO 8601 UTC, as the API writes every time), actor, action,
    entity, entity_id, before, after, and in words: who, what, target, changes (see the
    module's docstring). Permissions are the caller's."""
    q = select(AuditLog)
    if site_ids is not None:
        q = q.where(AuditLog.site_id.in_(list(site_ids)))
    if before is not None:
        q = q.where(AuditLog.id < before)
    rows = list(session.scalars(q.order_by(AuditLog.id.desc()).limit(limit)))
    who = _who(session, {r.actor for r in rows})
    targets = _targets(session, rows)
    return [
        {
            "id": r.id,
            "site_id": r.site_id,
            "at": formats.iso(r.at),
            "actor": r.actor,
            "action": r.action,
            "entity": r.entity,
            "entity_id": r.entity_id,
            "before": r.before,
            "after": r.after,
            "who": who.get(r.actor) or _names(r.actor, r.actor),
            "what": _names(*ACTIONS.get(r.action, (r.action, r.action))),
            "target": targets.get((r.entity, r.entity_id)),
            "changes": changes(r.before, r.after),
        }
        for r in rows
    ]


def _names(vi: str, en: str) -> dict[str, str]:
    return {"vi": vi, "en": en}


def _who(session: Session, actors: set[str]) -> dict[str, dict[str, Any]]:
    """``user:3`` / ``token:5`` / ``device:2`` -> ``{"username", "name", "vi", "en"}``: a
    user-bound token names its user, a device its name, the system itself."""
    out: dict[str, dict[str, Any]] = {}
    ids: dict[str, dict[str, int]] = {"user": {}, "token": {}, "device": {}}
    for a in actors:
        kind, _, ident = a.partition(":")
        if kind in ACTOR_KINDS and not ident:
            out[a] = {"username": None, "name": ACTOR_KINDS[kind][0],
                      **_names(*ACTOR_KINDS[kind])}
        elif kind in ids and ident.isdigit():
            ids[kind][a] = int(ident)
    if ids["token"]:
        for tok in session.scalars(
            select(ApiToken).where(ApiToken.id.in_(ids["token"].values()))
        ):
            for a in [a for a, tid in ids["token"].items() if tid == tok.id]:
                if tok.user_id is not None:
                    ids["user"][a] = tok.user_id
                else:
                    role = VALUES.get(tok.role, (tok.role, tok.role))
                    label = tok.name or f"#{tok.id}"
                    out[a] = {"username": None, "name": label,
                              **_names(f"Mã truy cập {role[0]} {label}",
                                       f"{role[1].capitalize()} token {label}")}
    if ids["user"]:
        users = {u.id: u for u in session.scalars(
            select(User).where(User.id.in_(set(ids["user"].values()))))}
        for a, uid in ids["user"].items():
            u = users.get(uid)
            if u is not None:
                name = u.full_name or u.username
                out[a] = {"username": u.username, "name": name, **_names(name, name)}
    if ids["device"]:
        devices = {d.id: d for d in session.scalars(
            select(Device).where(Device.id.in_(ids["device"].values())))}
        for a, did in ids["device"].items():
            d = devices.get(did)
            if d is not None:
                kind = ACTOR_KINDS.get(d.kind, (d.kind, d.kind))
                out[a] = {"username": None, "name": d.name,
                          **_names(f"{kind[0]} {d.name}", f"{kind[1]} {d.name}")}
    return out


def _targets(session: Session, rows: list[AuditLog]) -> dict[tuple[str, str], dict[str, str]]:
    """What each entry changed, by name: "Quầy 3", a service's name, a user's name."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    wanted: dict[str, set[int]] = {"counter": set(), "service": set(), "user": set()}
    for r in rows:
        if r.entity in wanted and r.entity_id and r.entity_id.isdigit():
            wanted[r.entity].add(int(r.entity_id))
        elif r.entity == "service" and r.entity_id:  # a move names its service by code
            out[(r.entity, r.entity_id)] = _names(r.entity_id, r.entity_id)
    if wanted["counter"]:
        for cid, number in session.execute(
            select(Counter.id, Counter.number).where(Counter.id.in_(wanted["counter"]))
        ):
            out[("counter", str(cid))] = _names(f"Quầy {number}", f"Counter {number}")
    if wanted["service"]:
        for sid, vi, en in session.execute(
            select(Service.id, Service.name_vi, Service.name_en)
            .where(Service.id.in_(wanted["service"]))
        ):
            out[("service", str(sid))] = _names(vi, en)
    if wanted["user"]:
        for uid, username, full in session.execute(
            select(User.id, User.username, User.full_name).where(User.id.in_(wanted["user"]))
        ):
            out[("user", str(uid))] = _names(full or username, full or username)
    return out


def _text(value: Any, lang: str) -> str:
    """A stored value in words: lists joined, a counter's service lines as "land ×1", yes/no,
    the known codes (statuses, roles) translated, nothing as "–"."""
    vi = lang == "vi"
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return ("có" if value else "không") if vi else ("yes" if value else "no")
    if isinstance(value, str):
        known = VALUES.get(value)
        return (known[0] if vi else known[1]) if known else value
    if isinstance(value, int | float):
        return f"{value:g}".replace(".", ",") if vi else f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_text(v, lang) for v in value)
    if isinstance(value, dict):
        if "code" in value and "weight" in value:
            where = f"@{value['site']}" if value.get("site") else ""
            return f"{value['code']}{where} ×{_text(value['weight'], lang)}"
        if set(value) <= {"vi", "en"}:
            return str(value.get(lang) or value.get("vi") or "–")
        return "; ".join(f"{_label(k, lang)}: {_text(v, lang)}" for k, v in value.items())
    return str(value)


def _label(key: str, lang: str) -> str:
    names = FIELDS.get(key)
    return (names[0] if lang == "vi" else names[1]) if names else key


def changes(before: Any, after: Any) -> list[dict[str, Any]]:
    """One line per field that differs between ``before`` and ``after``, in words:
    ``{"field", "label": {vi, en}, "before": {vi, en}, "after": {vi, en}}``."""
    b = before if isinstance(before, dict) else ({} if before is None else {"value": before})
    a = after if isinstance(after, dict) else ({} if after is None else {"value": after})
    out = []
    for key in list(dict.fromkeys([*b, *a])):
        if b.get(key) == a.get(key) and key != "tickets":
            continue
        out.append({
            "field": key,
            "label": {"vi": _label(key, "vi"), "en": _label(key, "en")},
            "before": {"vi": _text(b.get(key), "vi"), "en": _text(b.get(key), "en")},
            "after": {"vi": _text(a.get(key), "vi"), "en": _text(a.get(key), "en")},
        })
    return out
