"""Seed data: the priority categories every install needs, and the demo province.

Everything here is idempotent: running it again updates in place and never duplicates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core import auth
from server.features import devices, procedures
from server.features.counters import replace_profile
from server.models import (
    ApiToken,
    Counter,
    Device,
    PriorityCategory,
    Service,
    Site,
    User,
)

PRIORITIES = [
    ("elderly", "Người cao tuổi (từ 60 tuổi)", "Elderly (60+)"),
    ("disabled", "Người khuyết tật", "Person with a disability"),
    ("pregnant_infant", "Phụ nữ mang thai / có con nhỏ", "Pregnant or with an infant"),
]


def ensure_priorities(s: Session) -> None:
    for i, (code, vi, en) in enumerate(PRIORITIES):
        row = s.scalar(select(PriorityCategory).where(PriorityCategory.code == code))
        if row is None:
            s.add(PriorityCategory(code=code, name_vi=vi, name_en=en, sort_order=i, active=True))


def upsert_site(s: Session, code: str, **fields: object) -> Site:
    site = s.scalar(select(Site).where(Site.code == code))
    if site is None:
        # The product's flow: the call starts the service (F2 calls, F8 finishes).
        site = Site(code=code, call_starts_service=True)
        s.add(site)
    for k, v in fields.items():
        setattr(site, k, v)
    s.flush()
    return site


def upsert_service(s: Session, site: Site, code: str, **fields: object) -> Service:
    svc = s.scalar(select(Service).where(Service.site_id == site.id, Service.code == code))
    if svc is None:
        svc = Service(site_id=site.id, code=code)
        s.add(svc)
    for k, v in fields.items():
        setattr(svc, k, v)
    s.flush()
    return svc


def upsert_counter(
    s: Session, site: Site, number: int, profile: list[tuple[Service, float]], status: str
) -> Counter:
    counter = s.scalar(select(Counter).where(Counter.site_id == site.id, Counter.number == number))
    if counter is None:
        counter = Counter(site_id=site.id, number=number, status=status)
        s.add(counter)
        s.flush()
    counter.name = f"Quầy {number}"
    if [(line.service_id, line.weight) for line in counter.profile] != [
        (svc.id, w) for svc, w in sorted(profile, key=lambda line: line[0].id)
    ]:
        replace_profile(s, counter, profile)
    return counter


def add_device(
    s: Session, site: Site, kind: str, name: str, printer_uri: str | None, now: dt.datetime,
    counter: Counter | None = None,
) -> str:
    """Create a device, or give an existing one of that name a new token. Returns the token.
    A kiosk with a ``counter`` is that counter's rating tablet."""
    token = auth.new_token("dev")
    device = s.scalar(select(Device).where(Device.site_id == site.id, Device.name == name))
    if device is None:
        device = devices.new_device(site.id, kind, name, now)
        s.add(device)
    device.kind = kind
    device.token_hash = auth.hash_token(token)
    device.revoked_at = None
    if printer_uri is not None:
        device.printer_uri = printer_uri
    if counter is not None:
        device.counter_id = counter.id
    s.flush()
    return token


def create_token(
    s: Session,
    role: str,
    site: Site,
    now: dt.datetime,
    counter: Counter | None = None,
    user: User | None = None,
    name: str | None = None,
    expires_at: dt.datetime | None = None,
) -> str:
    """A new API token. With a name, older tokens of that name are revoked (rotation)."""
    if name:
        for old in s.scalars(
            select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        ):
            old.revoked_at = now
    token = auth.new_token(role[:3])
    s.add(
        ApiToken(
            role=role,
            site_id=site.id,
            counter_id=counter.id if counter else None,
            user_id=user.id if user else None,
            name=name,
            token_hash=auth.hash_token(token),
            created_at=now,
            expires_at=expires_at,
        )
    )
    s.flush()
    return token


def upsert_user(
    s: Session,
    username: str,
    password: str,
    role: str,
    sites: list[Site],
    now: dt.datetime,
    full_name: str | None = None,
) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, role=role, created_at=now, password_hash="")
        s.add(user)
    user.role = role
    user.full_name = full_name or user.full_name
    user.password_hash = auth.hash_password(password)
    user.active = True
    user.sites = list(sites)
    s.flush()
    return user


# --- the demo province ----------------------------------------------------------------------

HAC_THANH_SERVICES = [
    # code, prefix, vi, en, SLA minutes, typical service minutes
    ("land", "A", "Đất đai", "Land", 20, 12.0),
    ("civil", "B", "Hộ tịch – Chứng thực", "Civil status – Certification", 15, 6.0),
    ("business", "C", "Đăng ký kinh doanh", "Business registration", 20, 10.0),
    ("construction", "D", "Xây dựng", "Construction", 25, 12.0),
    ("other", "E", "Khác", "Other", 20, 8.0),
]

# counter number -> [(service code, weight)]
HAC_THANH_COUNTERS: dict[int, list[tuple[str, float]]] = {
    1: [("land", 1.0), ("other", 0.5)],
    2: [("land", 1.0)],
    3: [("civil", 1.0)],
    4: [("civil", 1.0), ("other", 0.5)],
    5: [("business", 1.0), ("other", 0.5)],
    6: [("construction", 1.0), ("land", 0.5)],
    7: [("civil", 1.0), ("business", 0.5)],
    8: [(code, 1.0) for code, *_ in HAC_THANH_SERVICES],
}

PROVINCIAL_SERVICES = [
    ("land", "A", "Đất đai", "Land", 20, 12.0),
    ("justice", "B", "Tư pháp", "Justice", 20, 8.0),
    ("investment", "C", "Kế hoạch – Đầu tư", "Planning – Investment", 25, 15.0),
    ("transport", "D", "Giao thông vận tải", "Transport", 20, 8.0),
]

DEMO_PASSWORD = "motcua-demo"


def _upsert_services(
    s: Session, site: Site, rows: list[tuple[str, str, str, str, int, float]]
) -> dict[str, Service]:
    """Services from (code, prefix, name vi, name en, SLA minutes, typical minutes) rows."""
    return {
        code: upsert_service(
            s, site, code, prefix=prefix, name_vi=vi, name_en=en, sla_target_minutes=sla,
            default_service_minutes=minutes, active=True, sort_order=i,
        )
        for i, (code, prefix, vi, en, sla, minutes) in enumerate(rows)
    }


@dataclass
class DemoResult:
    sites: list[str] = field(default_factory=list)
    kiosk_tokens: dict[str, str] = field(default_factory=dict)
    display_tokens: dict[str, str] = field(default_factory=dict)
    supervisor_token: str = ""
    clerk_tokens: dict[int, str] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)  # number -> id
    users: list[tuple[str, str, str]] = field(default_factory=list)  # username, role, password


def seed_demo(s: Session, now: dt.datetime) -> DemoResult:
    ensure_priorities(s)
    out = DemoResult()
    province = upsert_site(
        s,
        "TH",
        name_vi="Tỉnh Thanh Hóa",
        name_en="Thanh Hoa Province",
        kind="province",
        parent_id=None,
        timezone="Asia/Ho_Chi_Minh",
        agency_code="H56",
    )
    procedures.seed_catalog(s, province)  # procedure catalog and holidays
    centre = upsert_site(
        s,
        "TTHCC-TH",
        name_vi="Trung tâm Phục vụ hành chính công tỉnh Thanh Hóa",
        name_en="Thanh Hoa Provincial Public Administration Service Centre",
        kind="centre",
        parent_id=province.id,
        timezone="Asia/Ho_Chi_Minh",
        agency_code="H56.01",
        address="Thanh Hóa",
    )
    ward = upsert_site(
        s,
        "HACTHANH",
        name_vi="Trung tâm Phục vụ hành chính công phường Hạc Thành",
        name_en="Hac Thanh Ward Public Administration Service Centre",
        kind="centre",
        parent_id=province.id,
        timezone="Asia/Ho_Chi_Minh",
        agency_code="H56.27",
        address="Phường Hạc Thành, tỉnh Thanh Hóa",
    )
    point = upsert_site(
        s,
        "HACTHANH-P1",
        name_vi="Điểm tiếp nhận bổ sung của phường Hạc Thành tại Trung tâm tỉnh",
        name_en="Hac Thanh extra reception point at the provincial centre",
        kind="point",
        parent_id=ward.id,
        timezone="Asia/Ho_Chi_Minh",
        agency_code="H56.27",
    )
    out.sites = [province.code, centre.code, ward.code, point.code]

    ward_services = _upsert_services(s, ward, HAC_THANH_SERVICES)
    for number, lines in HAC_THANH_COUNTERS.items():
        c = upsert_counter(s, ward, number, [(ward_services[c], w) for c, w in lines], "open")
        if c.status == "open" and c.status_changed_at is None:
            # Opened now, by the demo: like a counter a clerk opened and then left, it counts
            # in the wait estimate only until it has shown no clerk for a while
            # (features/queues.py UNATTENDED_AFTER), then the supervisor is alerted.
            c.status_changed_at = now
        out.counters[number] = c.id

    prov_services = _upsert_services(s, centre, PROVINCIAL_SERVICES)
    for number, code in enumerate(["land", "justice", "investment", "transport"], start=1):
        upsert_counter(s, centre, number, [(prov_services[code], 1.0)], "closed")

    # The extra reception point takes Hạc Thành's busiest fields.
    point_services = _upsert_services(s, point, HAC_THANH_SERVICES[:2])
    upsert_counter(
        s, point, 1, [(point_services["land"], 1.0), (point_services["civil"], 1.0)], "closed"
    )

    for n in (1, 2):
        out.kiosk_tokens[f"kiosk-{n}"] = add_device(
            s, ward, "kiosk", f"kiosk-{n}", f"file://./printed/hacthanh-kiosk-{n}.bin", now
        )
    out.display_tokens["display-lobby"] = add_device(s, ward, "display", "display-lobby", None, now)

    supervisor = upsert_user(
        s,
        "giamsat.hacthanh",
        DEMO_PASSWORD,
        "supervisor",
        [ward, point],
        now,
        "Nguyễn Thị Giám Sát",
    )
    out.users.append((supervisor.username, "supervisor", DEMO_PASSWORD))
    admin = upsert_user(s, "quantri", DEMO_PASSWORD, "admin", [province], now, "Quản trị tỉnh")
    out.users.append((admin.username, "admin", DEMO_PASSWORD))
    out.supervisor_token = create_token(
        s, "supervisor", ward, now, user=supervisor, name="demo-supervisor"
    )
    for number in range(1, 9):
        clerk = upsert_user(
            s, f"canbo{number}", DEMO_PASSWORD, "clerk", [ward], now, f"Cán bộ quầy {number}"
        )
        out.users.append((clerk.username, "clerk", DEMO_PASSWORD))
        counter = s.get(Counter, out.counters[number])
        out.clerk_tokens[number] = create_token(
            s, "clerk", ward, now, counter=counter, user=clerk, name=f"demo-clerk-{number}"
        )
    return out
