"""The citizen's dossier page ``/d/<token>``: the page the receipt's QR opens on a phone.

Server-rendered, no script, Vietnamese first (``?lang=en``). It shows the procedure, the code,
the dates and the steps; never the applicant's name, ID number, phone or address."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template

from server.core.errors import AppError
from server.features import dossiers, fences
from server.web.i18n import request_lang, texts

bp = Blueprint("dossier_page", __name__, template_folder="../templates")

# Read by scripts/i18n_import.py into the gettext catalogs (area "dossier"), which the page
# shows; kept here only until the last branches that add keys to it are merged, then deleted.
STRINGS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Tra cứu hồ sơ",
        "code": "Mã hồ sơ",
        "procedure": "Thủ tục",
        "received": "Ngày tiếp nhận",
        "due": "Ngày hẹn trả kết quả",
        "status": "Tình trạng",
        "steps": "Quá trình giải quyết",
        "paused": "Thời hạn giải quyết tạm dừng cho đến khi Quý khách bổ sung giấy tờ còn thiếu "
        "(theo phiếu yêu cầu bổ sung đã nhận).",
        "overdue": "Hồ sơ đã quá hạn hẹn trả. Trung tâm xin lỗi vì sự chậm trễ.",
        "collect_counter": "Nhận kết quả tại Bộ phận trả kết quả của",
        "collect_post": "Kết quả được gửi qua bưu điện đến địa chỉ của Quý khách.",
        "refresh": "Cập nhật",
        "switch_lang": "English",
        "not_found_title": "Không tìm thấy hồ sơ",
        "not_known_title": "Hệ thống không có hồ sơ này",
        "not_found": "Mã tra cứu này không đúng. Vui lòng quét lại mã QR trên giấy tiếp nhận "
        "hồ sơ hoặc hỏi tại quầy hướng dẫn.",
    },
    "en": {
        "title": "Track your dossier",
        "code": "Dossier code",
        "procedure": "Procedure",
        "received": "Received on",
        "due": "Result due",
        "status": "Status",
        "steps": "Progress",
        "paused": "The processing time is paused until you bring the missing documents "
        "(see the written request you received).",
        "overdue": "This dossier is past its due date. The centre apologises for the delay.",
        "collect_counter": "Collect the result at the result desk of",
        "collect_post": "The result will be sent by post to your address.",
        "refresh": "Refresh",
        "switch_lang": "Tiếng Việt",
        "not_found_title": "Dossier not found",
        "not_known_title": "This dossier is not known to the system",
        "not_found": "This tracking code is wrong. Please scan the QR code on your dossier "
        "receipt again or ask at the help desk.",
    },
}


@bp.get("/d/<token>")
def page(token: str) -> Any:
    lang = request_lang(texts("dossier"), accept_language=False, use_session=False)
    ctx = current_app.extensions["motcua"]
    try:
        with ctx.db.read() as s:
            state = dossiers.public_view(s, token, ctx.clock())
    except AppError:
        # A dossier received after the point a restore brought the data back to is unknown
        # here: the page says so plainly, in both languages.
        with ctx.db.read() as s:
            notice = fences.tracking_notice(s, ctx.clock(), "dossier")
        html = render_template("dossier/not_found.html", lang=lang, t=texts("dossier")[lang],
                               strings=texts("dossier"), notice=notice)
        return Response(html, status=404, mimetype="text/html")
    html = render_template("dossier/page.html", lang=lang, t=texts("dossier")[lang], d=state)
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
