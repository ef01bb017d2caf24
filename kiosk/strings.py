"""Kiosk texts, Vietnamese first. The page switches language without a reload."""

from __future__ import annotations

# Read by scripts/i18n_import.py into the gettext catalogs (area "kiosk"), which the pages
# show; kept in this shape only until the last branches that add keys to it are merged.
STRINGS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Lấy số thứ tự",
        "choose_service": "Mời Quý khách chạm vào lĩnh vực của thủ tục cần làm",
        "waiting": "Đang chờ",
        "people": "người",
        "eta": "Chờ khoảng",
        "minutes": "phút",
        "no_eta": "Chưa có quầy mở",
        "soon": "Sắp đến lượt",
        "switch_lang": "English",
        "switch_lang_name": "Switch to English",
        "priority_question": "Quý khách có thuộc đối tượng ưu tiên không?",
        "priority_yes": "Có, Quý khách thuộc đối tượng ưu tiên: chạm vào một ô",
        "priority_none": "Không, lấy số thường",
        "back": "Quay lại",
        "issuing": "Đang lấy số…",
        "your_number": "Số thứ tự của Quý khách",
        "ahead": "Số người chờ trước Quý khách",
        "scan_to_follow": "Quét mã QR để theo dõi lượt của Quý khách trên điện thoại",
        "take_ticket": "Mời Quý khách nhận phiếu in bên dưới",
        "print_failed": (
            "Máy in đang gặp sự cố. Quý khách vui lòng chụp ảnh mã QR và số thứ tự này."
        ),
        "print_unknown": (
            "Phiếu có thể chưa được in. Nếu khay giấy không có phiếu, Quý khách bấm \u201cIn "
            "lại\u201d hoặc hỏi cán bộ; mã QR và số thứ tự vẫn ở trên màn hình."
        ),
        "reprint": "In lại",
        "reprinting": "Đang in lại phiếu…",
        "reprint_failed": "Chưa in lại được. Quý khách vui lòng hỏi cán bộ hướng dẫn.",
        "done": "Xong",
        "error_retry": (
            "Chưa lấy được số. Quý khách vui lòng chạm \u201cThử lại\u201d hoặc hỏi cán bộ "
            "hướng dẫn."
        ),
        "connecting": "Đang kết nối, xin Quý khách chờ…",
        "connecting_note": (
            "Số của Quý khách sẽ hiện ra ngay khi kết nối lại. Quý khách không cần chạm lại."
        ),
        "retry": "Thử lại",
        "not_registered": "Máy này chưa được đăng ký. Quý khách vui lòng liên hệ cán bộ.",
        "offline": "Đang kết nối lại…",
        "scanned": "Đã đọc CCCD",
        "scan_invalid": "Chưa đọc được mã trên CCCD, Quý khách vui lòng thử lại.",
        "announce": "Số của Quý khách là {number}",
        "priority_mark": "Ưu tiên",
        "why_service_paused": "Lĩnh vực này đang tạm dừng lấy số",
        "why_service_paused_long": (
            "Lĩnh vực này đang tạm dừng lấy số. Quý khách vui lòng hỏi cán bộ hướng dẫn "
            "hoặc quay lại sau."
        ),
        # why a service takes no ticket now (the full advice shows on touch)
        "why_service_cap_reached": "Đã hết số hôm nay",
        "why_service_after_last_ticket": "Đã hết giờ lấy số hôm nay",
        "why_site_closed_now": "Ngoài giờ làm việc",
        "why_site_holiday": "Ngày nghỉ lễ",
        "help_title": "Hướng dẫn",
        "idle_title": "Quý khách có cần thêm thời gian không?",
        "idle_before": "Màn hình sẽ trở về trang đầu sau",
        "idle_after": "giây.",
        "idle_continue": "Tiếp tục",
        "large_text": "Chữ lớn",
        "listen": "Nghe lại",
        "listen_ahead": "{ahead} người chờ trước Quý khách",
        "examples": "Ví dụ thủ tục",
        "phone_title": "Nhận tin nhắn khi sắp đến lượt",
        "phone_lead": (
            "Nhập số điện thoại di động nếu Quý khách muốn nhận tin nhắn. Không bắt buộc."
        ),
        "phone_skip": "Bỏ qua, lấy số",
        "phone_agree": "Đồng ý và lấy số",
        "phone_del": "Xóa",
        "phone_clear": "Xóa hết",
        "phone_invalid": (
            "Số điện thoại chưa đúng: số di động có 10 chữ số, bắt đầu bằng 03, 05, 07, 08 "
            "hoặc 09."
        ),
        "phone_placeholder": "0__ ___ ____",
        "appt_button": "Tôi đã đặt lịch",
        "appt_button_sub": "Quét mã QR của lịch hẹn, quét thẻ căn cước hoặc nhập mã",
        "appt_title": "Quý khách đã đặt lịch hẹn",
        "appt_lead": (
            "Mời Quý khách đưa mã QR trên điện thoại (hoặc thẻ căn cước) vào máy quét, hoặc"
            " chạm vào các ô dưới đây để nhập mã lịch hẹn 6 ký tự."
        ),
        "appt_code": "Mã lịch hẹn",
        "appt_submit": "Nhận số",
        "appt_del": "Xoá",
        "appt_clear": "Xoá hết",
        "appt_checking": "Đang kiểm tra lịch hẹn…",
        "appt_code_short": "Mã lịch hẹn gồm 6 ký tự, Quý khách vui lòng kiểm tra lại.",
        "appt_mark": "Đặt lịch",
        "appt_placed": "Lịch hẹn lúc {slot}: số của Quý khách được xếp theo giờ hẹn.",
        "appt_called_about": "Quý khách sẽ được gọi khoảng {time}.",
        "appt_late": (
            "Quý khách đến muộn hơn khung giờ hẹn nên lịch hẹn không còn giữ chỗ. Quý khách"
            " được cấp số như khách đến trực tiếp, cùng lĩnh vực đã đặt."
        ),
        "appt_early": "Quý khách đến sớm hơn giờ hẹn. Mời Quý khách quay lại từ {time}.",
    },
    "en": {
        "title": "Take a number",
        "choose_service": "Touch the field of the procedure you need",
        "waiting": "Waiting",
        "people": "people",
        "eta": "About",
        "minutes": "min",
        "no_eta": "No counter open yet",
        "soon": "Next in line",
        "switch_lang": "Tiếng Việt",
        "switch_lang_name": "Chuyển sang tiếng Việt",
        "priority_question": "Are you in a priority group?",
        "priority_yes": "Yes, I am in a priority group: touch one",
        "priority_none": "No, a regular ticket",
        "back": "Back",
        "issuing": "Getting your number…",
        "your_number": "Your number",
        "ahead": "People before you",
        "scan_to_follow": "Scan the QR code to follow your turn on your phone",
        "take_ticket": "Please take your printed slip below",
        "print_failed": (
            "The printer has a problem. Please take a photo of this QR code and number."
        ),
        "print_unknown": (
            "Your ticket may not have printed. If there is no slip in the tray, press "
            "\u201cReprint\u201d or ask staff; the QR code and number stay on screen."
        ),
        "reprint": "Reprint",
        "reprinting": "Printing your ticket again…",
        "reprint_failed": "It could not be printed again. Please ask staff.",
        "done": "Done",
        "error_retry": (
            "No number yet. Please touch \u201cTry again\u201d or ask staff for help."
        ),
        "connecting": "Connecting, please wait…",
        "connecting_note": (
            "Your number will appear as soon as the connection is back. No need to touch again."
        ),
        "retry": "Try again",
        "not_registered": "This kiosk is not registered. Please contact staff.",
        "offline": "Reconnecting…",
        "scanned": "ID card read",
        "scan_invalid": "The ID card code was not read yet, please try again.",
        "announce": "Your number is {number}",
        "priority_mark": "Priority",
        "why_service_paused": "This field is not taking numbers now",
        "why_service_paused_long": (
            "This field is not taking numbers at the moment. Please ask staff for help or "
            "come back later."
        ),
        "why_service_cap_reached": "No more tickets today",
        "why_service_after_last_ticket": "Tickets have ended for today",
        "why_site_closed_now": "Closed now",
        "why_site_holiday": "Public holiday",
        "help_title": "What to do",
        "idle_title": "Do you need more time?",
        "idle_before": "The screen goes back to the start in",
        "idle_after": "seconds.",
        "idle_continue": "Continue",
        "large_text": "Large text",
        "listen": "Listen again",
        "listen_ahead": "{ahead} people before you",
        "examples": "Example procedures",
        "phone_title": "Get a message when your turn is near",
        "phone_lead": "Type a mobile number if you would like a message. This is optional.",
        "phone_skip": "Skip, take a ticket",
        "phone_agree": "Agree and take a ticket",
        "phone_del": "Delete",
        "phone_clear": "Clear",
        "phone_invalid": (
            "This number is not right: a mobile number has 10 digits and starts with 03, 05, "
            "07, 08 or 09."
        ),
        "phone_placeholder": "0__ ___ ____",
        "appt_button": "I have an appointment",
        "appt_button_sub": "Scan the booking's QR code or your ID card, or type the code",
        "appt_title": "You have an appointment",
        "appt_lead": (
            "Hold the QR code on your phone (or your ID card) under the scanner, or touch the"
            " keys below to type the 6-character booking code."
        ),
        "appt_code": "Booking code",
        "appt_submit": "Get my number",
        "appt_del": "Delete",
        "appt_clear": "Clear",
        "appt_checking": "Checking your booking…",
        "appt_code_short": "A booking code has 6 characters; please check it.",
        "appt_mark": "Appointment",
        "appt_placed": "Booked for {slot}: your number is placed by your booked time.",
        "appt_called_about": "You will be called at about {time}.",
        "appt_late": (
            "You came after your booked time, so the booking no longer holds a place. You get"
            " a number like anyone who comes in person, for the same field."
        ),
        "appt_early": "You are early for your appointment. Please come back from {time}.",
    },
}
