"""The citizen's tracking page ``/t/<token>``: the page the ticket's QR opens on a phone.

Small (no framework; the realtime client is the only script library), Vietnamese first
(``?lang=en``), live through the ``/track`` namespace, no personal data."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template

from server.core.errors import AppError
from server.features import fences, tickets
from server.web.i18n import request_lang, texts

bp = Blueprint("track", __name__, template_folder="../templates")

# Read by scripts/i18n_import.py into the gettext catalogs (area "track"), which the page
# shows; kept here only until the last branches that add keys to it are merged, then deleted.
STRINGS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Theo dõi số thứ tự",
        "your_number": "Số của Quý khách",
        "ahead": "Số người chờ trước Quý khách",
        "eta": "Thời gian chờ dự kiến",
        "minutes": "phút",
        "no_eta": "Chưa có quầy mở",
        "waiting": "Đang chờ đến lượt",
        "called": "Đã đến lượt Quý khách",
        "serving": "Đang được phục vụ",
        "parked": "Lượt của Quý khách vẫn được giữ – cán bộ sẽ mời Quý khách trở lại quầy",
        "done": "Đã phục vụ xong. Cảm ơn Quý khách!",
        "no_show": (
            "Số này đã được gọi khi Quý khách chưa có mặt. Mời Quý khách liên hệ quầy hướng dẫn."
        ),
        "cancelled": "Số thứ tự này đã được huỷ.",
        "transferred": "Số của Quý khách đã được chuyển sang lĩnh vực khác.",
        "unserved_at_close": (
            "Trung tâm đã hết giờ làm việc trước khi đến lượt Quý khách. Xin lỗi Quý khách; mời"
            " Quý khách quay lại vào ngày làm việc tiếp theo."
        ),
        "go_now": "Mời Quý khách đến quầy {counter} ngay",
        "go_now_at": "Mời Quý khách đến quầy {counter} tại {site} ngay",
        "now_serving": "Đang phục vụ",
        "at_counter": "quầy {counter}",
        "nobody_serving": "Chưa có số nào đang được phục vụ",
        "soon": "Sắp đến lượt Quý khách",
        "live": "Cập nhật trực tiếp",
        "offline": "Mất kết nối, đang thử lại…",
        "switch_lang": "English",
        "not_found_title": "Không tìm thấy số thứ tự",
        "not_found": "Mã này không đúng hoặc đã hết hạn. Quý khách vui lòng kiểm tra lại vé.",
        "not_known_title": "Hệ thống không có số thứ tự này",
        # satisfaction rating after Finish
        "rate_question": "Quý khách có hài lòng với lượt phục vụ này?",
        "very_satisfied": "Rất hài lòng",
        "satisfied": "Hài lòng",
        "not_satisfied": "Không hài lòng",
        "rate_thanks": "Cảm ơn Quý khách đã đánh giá!",
        "rate_failed": "Chưa gửi được đánh giá, vui lòng thử lại.",
    },
    "en": {
        "title": "Follow your number",
        "your_number": "Your number",
        "ahead": "People before you",
        "eta": "Estimated wait",
        "minutes": "min",
        "no_eta": "No counter open yet",
        "waiting": "Waiting for your turn",
        "called": "It is your turn",
        "serving": "Being served",
        "parked": "Your turn is kept – staff will call you back to the counter",
        "done": "Served. Thank you!",
        "no_show": "You were called but not present. Please ask at the help desk.",
        "cancelled": "This number was cancelled.",
        "transferred": "Your number was moved to another service.",
        "unserved_at_close": (
            "The centre closed before your turn. We are sorry; please come back on the next"
            " working day."
        ),
        "go_now": "Go to counter {counter} now",
        "go_now_at": "Go to counter {counter} at {site} now",
        "now_serving": "Now serving",
        "at_counter": "counter {counter}",
        "nobody_serving": "No number is being served yet",
        "soon": "You are next",
        "live": "Live",
        "offline": "Connection lost, retrying…",
        "switch_lang": "Tiếng Việt",
        "not_found_title": "Number not found",
        "not_found": "This code is wrong or has expired. Please check your ticket.",
        "not_known_title": "This number is not known to the system",
        "rate_question": "Were you satisfied with this visit?",
        "very_satisfied": "Very satisfied",
        "satisfied": "Satisfied",
        "not_satisfied": "Not satisfied",
        "rate_thanks": "Thank you for your rating!",
        "rate_failed": "The rating was not sent, please try again.",
    },
}


@bp.get("/t/<token>")
def page(token: str) -> Any:
    lang = request_lang(texts("track"), accept_language=False, use_session=False)
    ctx = current_app.extensions["motcua"]
    try:
        if len(token) > 64:
            raise AppError("not_found", what="ticket")
        with ctx.db.read() as s:
            state = tickets.track(s, token, ctx.clock(), ctx.settings.public_base_url)
    except AppError:
        # A ticket taken after the point a restore brought the data back to is unknown here:
        # the page says so plainly, in both languages (the ticket's language is lost with it).
        notice = None
        if len(token) <= 64:
            with ctx.db.read() as s:
                notice = fences.tracking_notice(s, ctx.clock())
        html = render_template("track/not_found.html", lang=lang, t=texts("track")[lang],
                               strings=texts("track"), notice=notice)
        return Response(html, status=404, mimetype="text/html")
    # The ticket's page speaks the language the ticket was taken in, unless asked otherwise.
    strings = texts("track")
    lang = request_lang(strings, accept_language=False, use_session=False,
                        default=state.get("lang"))
    html = render_template(
        "track/page.html", lang=lang, t=strings[lang], strings=strings, state=state, token=token
    )
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
