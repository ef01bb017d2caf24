"""Domain errors with a stable code, an HTTP status and a message in Vietnamese and English."""

from __future__ import annotations

from typing import Any

from server.core.catalogs import DEFAULT, LANGS, catalogs

# code -> (http status, vi template, en template)
MESSAGES: dict[str, tuple[int, str, str]] = {
    "bad_json": (
        400,
        "Nội dung yêu cầu không phải JSON hợp lệ.",
        "The request body is not valid JSON.",
    ),
    "database_unavailable": (
        503,
        "Hệ thống đang tạm thời không truy cập được dữ liệu. Vui lòng thử lại sau ít giây.",
        "The system cannot reach its data just now. Please try again in a few seconds.",
    ),
    "schema_behind": (
        503,
        "Hệ thống đang chờ nâng cấp cơ sở dữ liệu nên chưa phục vụ được. Vui lòng thử lại sau "
        "ít phút.",
        "The system is waiting for its database upgrade and cannot serve yet. Please try again "
        "in a few minutes.",
    ),
    "bad_header": (400, "Tiêu đề {header} không hợp lệ.", "The {header} header is invalid."),
    "body_too_large": (
        413,
        "Nội dung yêu cầu quá lớn (tối đa {limit} byte).",
        "The request body is too large (at most {limit} bytes).",
    ),
    "nul_character": (
        400,
        "Dữ liệu gửi lên chứa ký tự NUL không hợp lệ ({where}).",
        "The request contains a NUL character, which is not allowed ({where}).",
    ),
    "json_too_deep": (
        400,
        "Nội dung JSON lồng nhau quá sâu (tối đa {depth} cấp).",
        "The JSON body is nested too deeply (at most {depth} levels).",
    ),
    "number_out_of_range": (
        422,
        "Số quá lớn hoặc quá nhỏ ({where}).",
        "A number is too large or too small ({where}).",
    ),
    "validation_error": (422, "Dữ liệu không hợp lệ: {detail}", "Invalid data: {detail}"),
    "unauthorized": (401, "Thiếu hoặc sai mã truy cập.", "Missing or invalid access token."),
    "forbidden": (
        403,
        "Tài khoản này không có quyền thực hiện thao tác này.",
        "You are not allowed to do this.",
    ),
    "csrf_failed": (
        403,
        "Phiên làm việc đã hết hạn. Vui lòng tải lại trang.",
        "Your session has expired. Please reload the page.",
    ),
    "not_found": (404, "Không tìm thấy {what}.", "{what} not found."),
    "route_not_found": (404, "Không có địa chỉ này.", "No such address."),
    "method_not_allowed": (405, "Phương thức không được hỗ trợ.", "Method not allowed."),
    "unknown_service": (
        422,
        'Không có lĩnh vực "{code}" tại điểm này.',
        'There is no service "{code}" at this site.',
    ),
    "unknown_priority": (
        422,
        'Không có đối tượng ưu tiên "{code}".',
        'There is no priority category "{code}".',
    ),
    "service_inactive": (
        409,
        'Lĩnh vực "{code}" đang tạm ngừng nhận số.',
        'Service "{code}" is not taking tickets now.',
    ),
    "illegal_transition": (
        409,
        'Không thể {action} vé đang ở trạng thái "{status}".',
        "Cannot {action} a ticket that is {status}.",
    ),
    "counter_not_open": (409, "Quầy {number} chưa mở.", "Counter {number} is not open."),
    "counter_busy": (
        409,
        "Quầy {number} đang phục vụ vé {label}; hãy kết thúc hoặc chuyển vé đó trước.",
        "Counter {number} is serving {label}; finish or transfer it first.",
    ),
    "idempotency_conflict": (
        409,
        "Mã chống trùng đã được dùng cho một yêu cầu khác.",
        "This Idempotency-Key was used for a different request.",
    ),
    "wrong_counter": (
        409,
        "Quầy {number} không phục vụ vé này.",
        "Counter {number} does not serve this ticket.",
    ),
    "no_printer": (409, "Vé này không được in từ máy có máy in.",
                   "This ticket was not issued at a kiosk with a printer."),
    "reprint_not_needed": (409, "Phiếu của số thứ tự này đã được in. Nếu cần in lại, Quý "
                           "khách vui lòng hỏi cán bộ.",
                           "This ticket's slip was printed. To print it again, please ask "
                           "staff."),
    "same_service": (409, "Vé đã ở lĩnh vực này.", "The ticket is already in this service."),
    "rate_limited": (
        429,
        "Quá nhiều yêu cầu trong thời gian ngắn. Quý khách vui lòng thử lại sau ít giây.",
        "Too many requests in a short time. Please try again in a few seconds.",
    ),
    # --- admin console, device pairing ---
    "pairing_unknown": (
        404,
        "Không có mã ghép nối này. Kiểm tra lại mã trên màn hình thiết bị.",
        "No such pairing code. Check the code shown on the device.",
    ),
    "pairing_used": (409, "Mã ghép nối này đã được dùng.", "This pairing code was already used."),
    "pairing_busy": (
        429,
        "Quá nhiều thiết bị đang chờ ghép nối. Vui lòng thử lại sau ít phút.",
        "Too many devices are waiting to be paired. Please try again in a few minutes.",
    ),
    "pairing_expired": (
        410,
        "Mã ghép nối đã hết hạn. Thiết bị sẽ hiện mã mới.",
        "The pairing code has expired. The device will show a new one.",
    ),
    # --- dossiers, procedures, ratings ---
    "illegal_dossier_step": (
        409,
        'Không thể chuyển hồ sơ đang ở bước "{status}" sang "{step}".',
        'Cannot move a dossier that is "{status}" to "{step}".',
    ),
    "reason_required": (
        422,
        "Cần ghi rõ lý do từ chối.",
        "A reason is required to refuse a dossier.",
    ),
    "bad_id_number": (
        422,
        "Số định danh cá nhân (CCCD) phải gồm đúng 12 chữ số.",
        "The citizen ID number must be exactly 12 digits.",
    ),
    "applicant_required": (
        422,
        "Thiếu {field} của người nộp hồ sơ.",
        "The applicant's {field} is missing.",
    ),
    "unknown_procedure": (
        422,
        'Không có thủ tục "{code}" trong danh mục của tỉnh.',
        'There is no procedure "{code}" in the province\'s catalog.',
    ),
    "ticket_not_served": (
        409,
        "Vé {label} chưa được gọi đến quầy; chỉ nhận hồ sơ của công dân đang được phục vụ.",
        "Ticket {label} is not at a counter; dossiers are received from a citizen being served.",
    ),
    "already_rated": (
        409,
        "Lượt phục vụ này đã được đánh giá. Cảm ơn Quý khách!",
        "This visit has already been rated. Thank you!",
    ),
    "rating_closed": (
        409,
        "Quý khách có thể đánh giá sau khi được phục vụ xong, trong vòng 2 giờ.",
        "A visit can be rated once it is finished, within 2 hours.",
    ),
    "nothing_to_rate": (
        409,
        "Quầy này chưa phục vụ xong ai trong 10 phút qua.",
        "Nobody was served at this counter in the last 10 minutes.",
    ),
    # --- daily operations and site configuration files ---------------------------------
    "site_holiday": (
        409,
        "Hôm nay là ngày nghỉ lễ ({holiday}), trung tâm không cấp số. {advice}",
        "Today is a public holiday ({holiday}); no tickets are issued. {advice}",
    ),
    "site_closed_now": (
        409,
        "Trung tâm đang ngoài giờ làm việc. {advice}",
        "The centre is closed now. {advice}",
    ),
    "service_after_last_ticket": (
        409,
        'Lĩnh vực "{name}" đã ngừng cấp số lúc {time} hôm nay. {advice}',
        'Service "{name}" stopped issuing tickets at {time} today. {advice}',
    ),
    "service_cap_reached": (
        409,
        'Lĩnh vực "{name}" đã cấp hết {cap} số của hôm nay. {advice}',
        'Service "{name}" has issued all {cap} tickets for today. {advice}',
    ),
    "config_invalid": (
        422,
        "Tệp cấu hình không hợp lệ, không có thay đổi nào được lưu: {detail}",
        "The configuration file is invalid; nothing was changed: {detail}",
    ),
    "internal_error": (
        500,
        "Lỗi hệ thống, vui lòng thử lại.",
        "Something went wrong; please try again.",
    ),
    # --- supervisor rebalancing (server/supervision.py) ---
    "site_not_nearby": (
        422,
        'Quầy {number} không thể phục vụ hàng chờ của "{site}" (chỉ điểm cha, con hoặc cùng cấp).',
        'Counter {number} cannot serve the queues of "{site}" (only a parent, child or sibling).',
    ),
    "tickets_not_waiting": (
        409,
        "Có vé không còn đang chờ ở lĩnh vực này; hãy tải lại danh sách.",
        "Some tickets are no longer waiting in this service; reload the list.",
    ),
    # --- messages to citizens (server/features/notifications.py) ---
    "invalid_phone": (
        422,
        "Số điện thoại di động chưa đúng. Quý khách vui lòng kiểm tra lại (ví dụ 0912 345 678).",
        "This is not a valid Vietnamese mobile number. Please check it (e.g. 0912 345 678).",
    ),
    "phone_consent_required": (
        422,
        "Cần Quý khách đồng ý nhận tin nhắn trước khi để lại số điện thoại.",
        "Please agree to receive messages before leaving a phone number.",
    ),
    "messages_unavailable": (
        409,
        "Điểm này chưa gửi được tin nhắn; Quý khách vẫn nhận số thứ tự bình thường.",
        "This site cannot send messages yet; the ticket is issued as usual without one.",
    ),
    "unknown_channel": (
        422,
        'Không có kênh gửi tin "{name}" (các kênh: {names}).',
        'There is no message channel "{name}" (channels: {names}).',
    ),
    "channel_config_invalid": (
        422,
        "Cấu hình kênh {name} chưa đúng: {detail}",
        "The settings of channel {name} are invalid: {detail}",
    ),
    "template_too_long": (
        422,
        "Mẫu tin {kind} ({lang}) dài {length} ký tự, quá giới hạn {limit} của kênh {name}.",
        "The {kind} text ({lang}) is {length} characters, over channel {name}'s limit of {limit}.",
    ),
    # --- appointments (booking ahead, check-in) ---
    "booking_not_offered": (
        409,
        "Lĩnh vực {name} chưa nhận đặt lịch trực tuyến tại đây. Mời Quý khách lấy số tại quầy.",
        "{name} cannot be booked online here. Please take a number at the centre.",
    ),
    "booking_day_out_of_range": (
        422,
        "Chỉ đặt lịch được cho các ngày từ {first} đến {last}.",
        "Appointments can only be booked for days from {first} to {last}.",
    ),
    "booking_day_closed": (
        409,
        "Ngày {day} trung tâm không làm việc. Mời Quý khách chọn ngày khác.",
        "The centre is closed on {day}. Please choose another day.",
    ),
    "booking_no_such_slot": (
        422,
        "Không có khung giờ này. Mời Quý khách chọn một khung giờ trong danh sách.",
        "There is no such time slot. Please choose a slot from the list.",
    ),
    "booking_slot_past": (
        409,
        "Khung giờ này đã qua. Mời Quý khách chọn khung giờ khác.",
        "This time slot has passed. Please choose another slot.",
    ),
    "booking_slot_full": (
        409,
        "Khung giờ này đã hết chỗ. Mời Quý khách chọn khung giờ khác.",
        "This time slot is full. Please choose another slot.",
    ),
    "booking_limit_day": (
        409,
        "Mỗi số định danh chỉ đặt được {per_day} lịch hẹn mỗi ngày.",
        "Each ID number can book at most {per_day} appointments a day.",
    ),
    "booking_limit_service": (
        409,
        "Mỗi số định danh chỉ đặt được {per_service} lịch hẹn cho một lĩnh vực mỗi ngày.",
        "Each ID number can book at most {per_service} appointment(s) for one service a day.",
    ),
    "booking_blocked": (
        409,
        "Số định danh này đã nhiều lần đặt lịch mà không đến, nên tạm thời chưa đặt được lịch "
        "mới (đến hết ngày {until}). Quý khách vẫn lấy số tại trung tâm như bình thường.",
        "This ID number missed several appointments, so it cannot book again until {until}. "
        "You can still take a number at the centre.",
    ),
    "booking_bad_id": (
        422,
        "Số định danh cá nhân (CCCD) phải gồm đúng 12 chữ số.",
        "The citizen ID number must be exactly 12 digits.",
    ),
    "booking_not_found": (
        404,
        "Không tìm thấy lịch hẹn. Quý khách vui lòng kiểm tra lại mã.",
        "No appointment was found. Please check the code.",
    ),
    "booking_hold_expired": (
        409,
        "Thời gian giữ chỗ đã hết. Mời Quý khách đặt lại.",
        "The place was held for a limited time, which has run out. Please book again.",
    ),
    "booking_code_expired": (
        409,
        "Mã xác nhận đã hết hạn. Mời Quý khách đặt lại để nhận mã mới.",
        "The confirmation code has expired. Please book again to receive a new code.",
    ),
    "booking_code_wrong": (
        422,
        "Mã xác nhận chưa đúng. Quý khách vui lòng kiểm tra tin nhắn và nhập lại.",
        "The confirmation code is not right. Please check the message and type it again.",
    ),
    "booking_code_attempts": (
        409,
        "Mã xác nhận đã được nhập sai quá số lần cho phép. Mời Quý khách đặt lại.",
        "The confirmation code was mistyped too many times. Please book again.",
    ),
    "booking_already_confirmed": (
        409,
        "Lịch hẹn này đã được xác nhận. Thông tin lịch hẹn đã gửi qua tin nhắn.",
        "This appointment is already confirmed. Its details were sent by message.",
    ),
    "booking_not_active": (
        409,
        "Lịch hẹn này đã được huỷ.",
        "This appointment was cancelled.",
    ),
    "booking_not_cancellable": (
        409,
        "Lịch hẹn này không còn huỷ được (đã qua hoặc đã huỷ).",
        "This appointment can no longer be cancelled (it has passed or was cancelled).",
    ),
    "booking_already_checked_in": (
        409,
        "Lịch hẹn này đã được dùng để lấy số {label}.",
        "This appointment was already used for number {label}.",
    ),
    "booking_other_site": (
        409,
        "Lịch hẹn này là tại {name}, không phải tại đây.",
        "This appointment is at {name}, not here.",
    ),
    "booking_not_today": (
        409,
        "Lịch hẹn của Quý khách là ngày {day}. Mời Quý khách quay lại vào ngày đó.",
        "Your appointment is on {day}. Please come back that day.",
    ),
    "too_early": (
        409,
        "Lịch hẹn của Quý khách lúc {slot}. Mời Quý khách quay lại từ {time} để lấy số.",
        "Your appointment is at {slot}. Please come back from {time} to check in.",
    ),
    "challenge_required": (
        422,
        "Thiếu lời giải kiểm tra chống máy tự động. Quý khách vui lòng tải lại trang.",
        "The anti-robot check is missing. Please reload the page.",
    ),
    "challenge_invalid": (
        422,
        "Kiểm tra chống máy tự động không đạt hoặc đã hết hạn. Quý khách vui lòng thử lại.",
        "The anti-robot check failed or expired. Please try again.",
    ),
    "challenge_replayed": (
        409,
        "Lời giải kiểm tra chống máy tự động đã được dùng. Quý khách vui lòng thử lại.",
        "This anti-robot check was already used. Please try again.",
    ),
}

# The texts below (and those of MESSAGES) are read by scripts/i18n_import.py into the gettext
# catalogs (areas "errors", "errors.action", "errors.status", "errors.what"); the messages
# shown come from the catalogs, so a province can reword them. MESSAGES keeps the HTTP status.
ACTION: dict[str, tuple[str, str]] = {
    "call": ("gọi", "call"),
    "recall": ("gọi lại", "recall"),
    "start": ("bắt đầu phục vụ", "start"),
    "finish": ("kết thúc", "finish"),
    "no_show": ("đánh dấu vắng mặt", "no-show"),
    "park": ("tạm hoãn", "park"),
    "resume": ("tiếp tục", "resume"),
    "cancel": ("huỷ", "cancel"),
    "transfer": ("chuyển", "transfer"),
    "close_day": ("đóng ngày", "close-day"),
}
STATUS: dict[str, tuple[str, str]] = {
    "waiting": ("đang chờ", "waiting"),
    "called": ("đã gọi", "called"),
    "serving": ("đang phục vụ", "serving"),
    "parked": ("tạm hoãn", "parked"),
    "done": ("đã xong", "done"),
    "no_show": ("vắng mặt", "no_show"),
    "cancelled": ("đã huỷ", "cancelled"),
    "transferred": ("đã chuyển", "transferred"),
    "unserved_at_close": ("chưa phục vụ khi đóng cửa", "unserved_at_close"),
}
WHAT: dict[str, tuple[str, str]] = {
    "site": ("điểm phục vụ", "Site"),
    "counter": ("quầy", "Counter"),
    "ticket": ("vé", "Ticket"),
    "service": ("lĩnh vực", "Service"),
    "user": ("tài khoản", "User"),
    "device": ("thiết bị", "Device"),
    "token": ("mã truy cập", "Token"),
    "holiday": ("ngày nghỉ", "Holiday"),
    "dossier": ("hồ sơ", "Dossier"),
    "procedure": ("thủ tục", "Procedure"),
}
# A parameter named like one of these areas is a key shown in the language of the message.
_NAMED = {"action": "errors.action", "status": "errors.status", "what": "errors.what"}


class AppError(Exception):
    def __init__(self, error_code: str, /, **params: Any) -> None:
        if error_code not in MESSAGES:
            raise KeyError(error_code)
        self.code = error_code
        self.status = MESSAGES[error_code][0]
        self.params = params
        # Fields the error body carries next to code and message (e.g. ``come_back_at``).
        self.data: dict[str, Any] = {}
        super().__init__(self.message("en"))

    def message(self, lang: str = "vi") -> str:
        """The message in ``lang`` from the catalogs. A placeholder ``{x}`` takes the parameter
        ``x_vi``/``x_en`` of that language when the caller gave one, else ``x`` (an action,
        status or kind of record named by its key is shown in that language)."""
        lang = lang if lang in LANGS else DEFAULT
        template = catalogs.text("errors", self.code, lang)
        values: dict[str, Any] = {}
        for name, value in self.params.items():
            area = _NAMED.get(name)
            if area and isinstance(value, str):
                shown = catalogs.text(area, value, lang)
                if shown == value and name == "action":
                    shown = value.replace("_", "-")
                value = shown
            values[name] = value
        for name, value in self.params.items():
            if name.endswith(f"_{lang}"):
                values[name[: -len(lang) - 1]] = value
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return template


def not_found(what: str) -> AppError:
    return AppError("not_found", what=what)
