"""The citizen's booking pages: ``/book`` (book a time at a centre) and ``/b/<token>`` (the
booking's own page, which the confirmation's QR opens).

Phone-first and small like the tracking page: no account, no app, Vietnamese first
(``?lang=en``). The pages talk to the booking API (ARCHITECTURE.md, "The booking API": slots,
the ALTCHA challenge, hold, confirm, read, cancel); this module only renders their shells and
serves what the API does not: the list of centres and fields a citizen can choose from (public,
names only), the procedures of a field with their documents (read lazily, one field at a time:
a province's catalog is large), and the booking link's QR as SVG.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.features.dossiers import procedure_view, province_of
from server.models import Procedure, Service, Site
from server.web.i18n import request_lang, texts
from server.web.qr import svg

bp = Blueprint("book", __name__, template_folder="../templates")

# The booking link's secret: what the API hands out (URL-safe), never longer than this.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CODE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Read by scripts/i18n_import.py into the gettext catalogs (area "book"), which the pages show.
STRINGS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Đặt lịch hẹn làm thủ tục",
        "lead": "Quý khách chọn nơi, lĩnh vực, ngày và giờ đến. Không cần tài khoản.",
        "switch_lang": "English",
        "step": "Bước {n}/6",
        "centre": "Nơi làm thủ tục",
        "choose_centre": "Chọn trung tâm / điểm tiếp nhận",
        "service": "Lĩnh vực",
        "choose_service": "Chọn lĩnh vực",
        "procedure": "Thủ tục (không bắt buộc)",
        "procedure_none": "— Chưa chọn thủ tục —",
        "documents": "Giấy tờ cần mang theo",
        "no_documents": "Thủ tục này không có danh sách giấy tờ.",
        "day": "Ngày đến",
        "choose_day": "Chọn ngày",
        "today": "Hôm nay",
        "tomorrow": "Ngày mai",
        "day_full": "Hết chỗ",
        "places": "{n} chỗ",
        "no_days": "Trong 7 ngày tới lĩnh vực này không còn chỗ đặt trước. Quý khách có thể đến"
                    " trực tiếp và lấy số tại quầy.",
        "slot": "Giờ đến",
        "choose_slot": "Chọn giờ",
        "slot_free": "còn {n} chỗ",
        "no_slots": "Ngày này không còn giờ trống. Mời Quý khách chọn ngày khác.",
        "who": "Thông tin liên hệ",
        "id_number": "Số căn cước (12 chữ số)",
        "id_hint": "Dùng để xác nhận khi Quý khách đến và quét thẻ tại ki-ốt.",
        "id_invalid": "Số căn cước gồm đúng 12 chữ số.",
        "phone": "Số điện thoại di động",
        "phone_hint": "Mã xác nhận và lời nhắc được gửi qua tin nhắn đến số này.",
        "phone_invalid": "Số điện thoại di động gồm 10 chữ số, bắt đầu bằng 03, 05, 07, 08"
                         " hoặc 09.",
        "privacy": "Số căn cước và số điện thoại chỉ dùng cho lịch hẹn này và được xoá theo"
                   " quy định lưu trữ.",
        "send_code": "Gửi mã xác nhận",
        "checking": "Đang kiểm tra an toàn (vài giây)…",
        "sending": "Đang giữ chỗ…",
        "code_title": "Nhập mã xác nhận",
        "code_lead": "Mã gồm 6 chữ số đã được gửi qua tin nhắn đến số {phone}. Chỗ được giữ"
                     " đến {time}.",
        "otp": "Mã xác nhận",
        "otp_invalid": "Mã xác nhận gồm 6 chữ số.",
        "confirm": "Xác nhận đặt lịch",
        "confirming": "Đang xác nhận…",
        "start_over": "Đặt lại từ đầu",
        "back": "Quay lại",
        "done_title": "Đã đặt lịch",
        "your_code": "Mã lịch hẹn",
        "code_note": "Tại ki-ốt, Quý khách chọn «Tôi đã đặt lịch» rồi quét mã QR này, nhập mã"
                     " lịch hẹn hoặc quét thẻ căn cước.",
        "when": "Thời gian",
        "where": "Địa điểm",
        "what": "Lĩnh vực",
        "open_link": "Xem, huỷ lịch hẹn",
        "calendar": "Thêm vào lịch (.ics)",
        "window": "Quý khách vui lòng đến trong khung giờ đã hẹn; đến quá muộn, Quý khách vẫn"
                  " được lấy số như khách đến trực tiếp.",
        "error_generic": "Chưa thực hiện được. Mời Quý khách thử lại.",
        "error_network": "Mất kết nối mạng. Mời Quý khách thử lại khi có mạng.",
        "error_pow": "Trình duyệt chưa hoàn tất bước kiểm tra an toàn. Mời Quý khách thử lại.",
        "loading": "Đang tải…",
        "qr_alt": "Mã QR của lịch hẹn",
        # the booking's own page /b/<token>
        "b_title": "Lịch hẹn của Quý khách",
        "b_status": "Trạng thái",
        "status_held": "Đang chờ xác nhận",
        "status_confirmed": "Đã xác nhận",
        "status_checked_in": "Đã đến và nhận số",
        "status_no_show": "Quý khách đã không đến trong khung giờ hẹn",
        "status_cancelled": "Đã huỷ",
        "status_expired": "Chưa được xác nhận kịp, chỗ đã được trả lại",
        "cancel": "Huỷ lịch hẹn",
        "cancel_ask": "Quý khách chắc chắn muốn huỷ lịch hẹn này? Chỗ sẽ được trả lại cho"
                      " người khác.",
        "cancel_yes": "Có, huỷ lịch hẹn",
        "cancel_no": "Không, giữ lịch hẹn",
        "cancelled_ok": "Lịch hẹn đã được huỷ. Cảm ơn Quý khách đã báo trước.",
        "not_found_title": "Không tìm thấy lịch hẹn",
        "not_found": "Đường dẫn này không đúng hoặc lịch hẹn đã hết hạn lưu. Quý khách vui lòng"
                     " kiểm tra lại tin nhắn.",
        "book_again": "Đặt lịch mới",
    },
    "en": {
        "title": "Book a time for your procedure",
        "lead": "Choose the place, the field, the day and the time. No account needed.",
        "switch_lang": "Tiếng Việt",
        "step": "Step {n} of 6",
        "centre": "Where",
        "choose_centre": "Choose a centre or reception point",
        "service": "Field",
        "choose_service": "Choose a field",
        "procedure": "Procedure (optional)",
        "procedure_none": "— No procedure chosen —",
        "documents": "Documents to bring",
        "no_documents": "This procedure has no list of documents.",
        "day": "Day",
        "choose_day": "Choose a day",
        "today": "Today",
        "tomorrow": "Tomorrow",
        "day_full": "Full",
        "places": "{n} places",
        "no_days": "No places can be booked for this field in the next 7 days. You can come in"
                   " person and take a number at the centre.",
        "slot": "Time",
        "choose_slot": "Choose a time",
        "slot_free": "{n} free",
        "no_slots": "No free time is left on this day. Please choose another day.",
        "who": "Contact details",
        "id_number": "Citizen ID number (12 digits)",
        "id_hint": "Used to check you in when you come and scan your card at the kiosk.",
        "id_invalid": "A citizen ID number has exactly 12 digits.",
        "phone": "Mobile number",
        "phone_hint": "The confirmation code and a reminder are sent to this number by text"
                      " message.",
        "phone_invalid": "A mobile number has 10 digits and starts with 03, 05, 07, 08 or 09.",
        "privacy": "Your ID number and phone number are used for this booking only and deleted"
                   " as the retention rules say.",
        "send_code": "Send the confirmation code",
        "checking": "Running a security check (a few seconds)…",
        "sending": "Holding your place…",
        "code_title": "Enter the confirmation code",
        "code_lead": "A 6-digit code was sent by text message to {phone}. Your place is held"
                     " until {time}.",
        "otp": "Confirmation code",
        "otp_invalid": "The confirmation code has 6 digits.",
        "confirm": "Confirm the booking",
        "confirming": "Confirming…",
        "start_over": "Start again",
        "back": "Back",
        "done_title": "Booked",
        "your_code": "Booking code",
        "code_note": "At the kiosk, choose “I have an appointment”, then scan this QR code, type"
                     " the booking code or scan your ID card.",
        "when": "When",
        "where": "Where",
        "what": "Field",
        "open_link": "View or cancel the booking",
        "calendar": "Add to calendar (.ics)",
        "window": "Please come within your booked time; if you come much later you still get"
                  " a number like anyone who comes in person.",
        "error_generic": "That did not work. Please try again.",
        "error_network": "No network connection. Please try again when you are online.",
        "error_pow": "The browser did not finish the security check. Please try again.",
        "loading": "Loading…",
        "qr_alt": "QR code of the booking",
        "b_title": "Your booking",
        "b_status": "Status",
        "status_held": "Waiting for confirmation",
        "status_confirmed": "Confirmed",
        "status_checked_in": "Checked in, number taken",
        "status_no_show": "You did not come within the booked time",
        "status_cancelled": "Cancelled",
        "status_expired": "Not confirmed in time; the place was given back",
        "cancel": "Cancel the booking",
        "cancel_ask": "Do you really want to cancel this booking? The place goes back to"
                      " others.",
        "cancel_yes": "Yes, cancel it",
        "cancel_no": "No, keep it",
        "cancelled_ok": "The booking is cancelled. Thank you for letting us know.",
        "not_found_title": "Booking not found",
        "not_found": "This link is wrong or the booking is no longer kept. Please check your"
                     " text message.",
        "book_again": "Make a new booking",
    },
}


def bookable_sites(session: Session) -> list[dict[str, Any]]:
    """Centres and reception points with their active fields: names only, public (what a
    citizen reads on a centre's door). Whether a field takes bookings on a day, and how many,
    is the slots endpoint's answer."""
    sites = session.scalars(
        select(Site).where(Site.kind != "province").order_by(Site.id)
    ).all()
    services = session.scalars(
        select(Service).where(Service.active.is_(True)).order_by(Service.sort_order, Service.id)
    ).all()
    by_site: dict[int, list[dict[str, Any]]] = {}
    for s in services:
        by_site.setdefault(s.site_id, []).append(
            {"code": s.code, "name": {"vi": s.name_vi, "en": s.name_en}}
        )
    return [
        {
            "code": site.code,
            "name": {"vi": site.name_vi, "en": site.name_en},
            "address": site.address,
            "timezone": site.timezone,
            "services": by_site[site.id],
        }
        for site in sites
        if by_site.get(site.id)
    ]


def _page(template: str, status: int = 200, **ctx: Any) -> Response:
    strings = texts("book")
    lang = request_lang(strings, accept_language=False, use_session=False)
    html = render_template(template, lang=lang, t=strings[lang], strings=strings, **ctx)
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/book")
def book() -> Response:
    ctx = current_app.extensions["motcua"]
    with ctx.db.read() as s:
        sites = bookable_sites(s)
    return _page("book/book.html", sites=sites)


@bp.get("/book/<site>/<service>/procedures.json")
def procedures(site: str, service: str) -> Response:
    """The active procedures of one field at a site's province, with their documents."""
    if not CODE.match(site) or not CODE.match(service):
        abort(404)
    ctx = current_app.extensions["motcua"]
    with ctx.db.read() as s:
        row = s.scalar(select(Site).where(Site.code == site))
        if row is None:
            abort(404)
        province = province_of(s, row)
        procs = s.scalars(
            select(Procedure)
            .where(Procedure.site_id == province.id, Procedure.service_code == service,
                   Procedure.active.is_(True))
            .order_by(Procedure.code)
        ).all()
        out = [
            {k: v for k, v in procedure_view(p).items() if k in ("code", "name", "documents")}
            for p in procs
        ]
    resp = jsonify(out)
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/b/<token>")
def booking(token: str) -> Response:
    """The booking's page; its details are read by the page from the API with the token."""
    if not TOKEN.match(token):
        return _page("book/not_found.html", status=404)
    return _page("book/booking.html", token=token)


@bp.get("/b/<token>/qr.svg")
def qr(token: str) -> Response:
    """The booking link as a QR code: the kiosk's scanner reads it at check-in."""
    if not TOKEN.match(token):
        abort(404)
    base = current_app.extensions["motcua"].settings.public_base_url.rstrip("/")
    resp = Response(svg(f"{base}/b/{token}"), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "private, max-age=86400"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
