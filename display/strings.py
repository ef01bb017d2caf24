"""Wall display texts, Vietnamese first. The board shows the other language in small type
under each heading, so both groups of citizens can read it."""

from __future__ import annotations

# Read by scripts/i18n_import.py into the gettext catalogs (area "display"), which the pages
# show; kept in this shape only until the last branches that add keys to it are merged.
STRINGS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Bảng gọi số",
        "now_calling": "Mời số",
        "counter": "Quầy",
        "to_counter": "đến quầy số",
        "at_site": "tại",
        "recent": "Vừa gọi",
        "waiting": "Đang chờ",
        "people": "người",
        "recall": "Gọi lại",
        "serving": "Đang phục vụ",
        "none_called": "Kính mời Quý khách chờ đến lượt",
        "offline": "Mất kết nối với máy chủ — đang kết nối lại…",
        "missed": "Các số sau đã được mời trong lúc mất kết nối:",
        "saved": "Đang hiển thị thông tin đã lưu",
        "stale": "Mất kết nối — thông tin có thể chưa cập nhật",
        "connecting": "Đang kết nối…",
        "not_registered": "Màn hình này chưa được đăng ký. Vui lòng liên hệ cán bộ.",
        "sound_blocked": "Chạm vào màn hình để bật âm thanh",
        "paused": "Tạm ngừng",
    },
    "en": {
        "title": "Call board",
        "now_calling": "Now calling",
        "counter": "Counter",
        "to_counter": "to counter",
        "at_site": "at",
        "recent": "Recent calls",
        "waiting": "Waiting",
        "people": "people",
        "recall": "Called again",
        "serving": "Being served",
        "none_called": "Please wait for your number",
        "offline": "Connection to the server lost — reconnecting…",
        "missed": "These numbers were called while the connection was lost:",
        "saved": "Showing saved information",
        "stale": "Connection lost — this may be out of date",
        "connecting": "Connecting…",
        "not_registered": "This display is not registered. Please contact staff.",
        "sound_blocked": "Touch the screen to turn the sound on",
        "paused": "Paused",
    },
}
