"""Ticket and receipt layouts: the bytes, read back with the fake printer's ESC/POS reader."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import qrcode
from escpos.image import EscposImage

from printers import layouts
from printers import vietnamese as vn
from printers.layouts import ReceiptPrint, TicketPrint, eta_text, receipt_bytes, ticket_bytes
from tests.fakeprinter import Printout, parse_escpos

TRACK = "https://motcua.example.vn/t/k3J9xQ2mZ7pL"
TICKET = TicketPrint(
    site_name="Trung tâm Phục vụ hành chính công phường Hạc Thành",
    service_name_vi="Hộ tịch",
    service_name_en="Civil status",
    number="A042",
    priority_label="ƯU TIÊN / PRIORITY",
    issued_at_local="08:15 25/11/2025",
    ahead=5,
    eta_minutes=17,
    track_url=TRACK,
    lang="vi",
)
RECEIPT = ReceiptPrint(
    site_name="Trung tâm PVHCC phường Hạc Thành",
    code="HS.2025.000123",
    applicant_name="Nguyễn Thị Ánh Tuyết",
    procedure_name=(
        "Liên thông các thủ tục hành chính về đăng ký khai sinh, đăng ký thường trú, "
        "cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi"
    ),
    documents=[
        "Tờ khai đăng ký khai sinh",
        "Giấy chứng sinh (bản chính)",
        "Căn cước của cha hoặc mẹ (xuất trình) kèm giấy tờ chứng minh nơi cư trú",
    ],
    received_at_local="25/11/2025 08:30",
    due_at_local="02/12/2025 16:00",
    collect_at="Quầy 3 — Trung tâm PVHCC phường Hạc Thành",
    track_url="https://motcua.example.vn/d/Qw8r5TzX",
)


def native_qr_data(data: bytes) -> list[bytes]:
    """The data of every ``GS ( k`` store command (``1D 28 6B pL pH 31 50 30 <data>``)."""
    found = []
    for m in re.finditer(rb"\x1d\(k(..)1P0", data, re.DOTALL):
        length = m.group(1)[0] + m.group(1)[1] * 256 - 3
        found.append(data[m.end() : m.end() + length])
    return found


def fits(p: Printout, columns: int, small_columns: int) -> list[str]:
    """Lines wider than the paper."""
    return [
        ln.text
        for ln in p.lines
        if len(ln.text) * ln.width > (small_columns if ln.font else columns)
    ]


# --- ticket ---------------------------------------------------------------------------------


def test_ticket_in_cp1258() -> None:
    data = ticket_bytes(TICKET)  # "default" profile: CP1258 is code page 52
    assert data.startswith(b"\x1b@")
    assert b"A042" in data
    assert b"\x1bt\x34" in data  # ESC t 52
    assert vn.encode_cp1258("Phục vụ hành chính công") in data
    assert b"H\xf4\xf2 ti\xf2ch" in data
    assert "Hộ".encode() not in data and "Thành".encode() not in data  # no UTF-8
    assert native_qr_data(data) == [TRACK.encode()]

    p = parse_escpos(data)
    assert p.code_pages == [52]
    number = p.find("A042")
    assert number is not None and number.width >= 4 and number.height >= 4
    assert number.align == "center" and number.bold
    service = p.find("Hộ tịch")
    assert service is not None and service.height == 2 and service.align == "center"
    english = p.find("Civil status")
    assert english is not None and english.font == 1
    mark = p.find("ƯU TIÊN / PRIORITY")
    assert mark is not None and mark.invert
    text = p.text
    assert "Trung tâm Phục vụ hành chính công" in text
    assert "08:15 25/11/2025" in text
    assert re.search(r"People ahead: +5", text)
    assert "khoảng 17 phút / about 17 min" in text
    assert "Quét mã để theo dõi lượt của Quý khách" in text and "Scan to follow your turn" in text
    assert text.index("A042") < text.index("08:15") < text.index("Quét mã")
    assert p.cuts == 1 and data.endswith(b"\x1dV\x00")
    assert fits(p, 42, 56) == []
    assert p.unknown == []


def test_ticket_width_follows_the_profile() -> None:
    p48 = parse_escpos(ticket_bytes(TICKET, "TM-T20II"))
    p42 = parse_escpos(ticket_bytes(TICKET, "TM-T20II-42col"))
    assert "-" * 48 in p48.text and "-" * 49 not in p48.text
    assert "-" * 42 in p42.text and "-" * 43 not in p42.text
    assert fits(p48, 48, 64) == [] and fits(p42, 42, 60) == []
    narrow = parse_escpos(ticket_bytes(TICKET, "TM-T20II", columns=32))
    assert fits(narrow, 32, 42) == []


def test_ticket_without_priority_ahead_or_eta() -> None:
    t = TicketPrint(
        **{**TICKET.__dict__, "priority_label": None, "ahead": None, "eta_minutes": None}
    )
    p = parse_escpos(ticket_bytes(t))
    assert "ƯU TIÊN" not in p.text
    assert re.search(r"People ahead: +—", p.text)
    assert re.search(r"Estimated wait: +—", p.text)


def test_ticket_in_english_order() -> None:
    t = TicketPrint(**{**TICKET.__dict__, "lang": "en"})
    p = parse_escpos(ticket_bytes(t))
    english, vietnamese = p.find("Civil status"), p.find("Hộ tịch")
    assert english is not None and vietnamese is not None
    assert english.height == 2 and vietnamese.font == 1
    assert p.lines.index(english) < p.lines.index(vietnamese)
    assert p.text.index("Scan to follow") < p.text.index("Quét mã")
    assert "Issued / Giờ lấy số:" in p.text


def test_eta_wording() -> None:
    assert eta_text(None) == ("—", "—")
    assert eta_text(0) == ("dưới 1 phút", "under 1 min")
    assert eta_text(25) == ("khoảng 25 phút", "about 25 min")
    assert eta_text(60) == ("khoảng 1 giờ", "about 1 h")
    assert eta_text(95) == ("khoảng 1 giờ 35 phút", "about 1 h 35 min")


def test_ticket_in_tcvn3() -> None:
    data = ticket_bytes(TICKET, "CT-S651")
    p = parse_escpos(data)
    assert set(p.code_pages) == {30, 31}
    assert "Hộ tịch" in p.text and "ƯU TIÊN / PRIORITY" in p.text
    assert "Trung tâm Phục vụ hành chính công" in p.text
    assert native_qr_data(data) == [TRACK.encode()]


@pytest.mark.usefixtures("vietnamese_font")
def test_ticket_image_fallback_has_raster_images_and_no_utf8() -> None:
    data = ticket_bytes(TICKET, "TM-T88IV")  # no Vietnamese code page, 512 dots wide
    assert vn.choose_mode("TM-T88IV") is vn.TextMode.IMAGE
    assert b"\x1dv0" in data  # GS v 0 raster image
    for phrase in ("Hộ tịch", "Phục vụ", "ƯU TIÊN", "khoảng 17 phút", "Quét mã", "—"):
        assert phrase.encode() not in data
        assert vn.encode_cp1258(phrase) not in data
    assert not any(b >= 0x80 for b in _text_bytes(data))
    p = parse_escpos(data)
    assert all(width == 512 for width, _ in p.images)
    assert sum(h for _, h in p.images) > 24 * 8  # site, service, mark, rows, hint
    # ASCII lines stay text: fast, and the number is as big as ever
    number = p.find("A042")
    assert number is not None and number.width >= 4
    assert p.find("Civil status") is not None and p.find("Scan to follow your turn") is not None
    assert native_qr_data(data) == [TRACK.encode()]  # the TM-T88IV has native QR


def _text_bytes(data: bytes) -> bytes:
    """Bytes outside images and QR/graphics commands (what would be read as characters)."""
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i : i + 3] == b"\x1dv0":
            w = data[i + 4] + data[i + 5] * 256
            h = data[i + 6] + data[i + 7] * 256
            i += 8 + w * h
        elif data[i : i + 2] == b"\x1d(":
            i += 5 + data[i + 3] + data[i + 4] * 256
        elif data[i] in (0x1B, 0x1D):
            i += 3
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


@pytest.fixture
def no_fonts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(vn, "FONT_CANDIDATES", {False: (), True: ()})
    monkeypatch.setattr(vn, "FONT_OVERRIDES", {False: None, True: None})
    vn.load_font.cache_clear()
    yield
    vn.load_font.cache_clear()


@pytest.mark.usefixtures("no_fonts")
def test_ticket_without_code_page_or_font_prints_plain_ascii() -> None:
    data = ticket_bytes(TICKET, "TM-T88IV")
    assert b"\x1dv0" not in data  # no images: nothing to draw them with
    assert not any(b >= 0x80 for b in _text_bytes(data))
    p = parse_escpos(data)
    assert "Ho tich" in p.text and "UU TIEN / PRIORITY" in p.text
    assert "Trung tam Phuc vu hanh chinh cong" in p.text
    assert "khoang 17 phut / about 17 min" in p.text


def test_qr_as_image_where_the_profile_has_no_qr_command() -> None:
    data = ticket_bytes(TICKET, "simple", text="ascii")  # "simple": no native QR
    assert native_qr_data(data) == []
    assert b"\x1d(k" not in data
    # the raster image is exactly the QR code of the tracking URL
    qr = qrcode.QRCode(
        box_size=layouts.QR_MODULE, border=1, error_correction=qrcode.constants.ERROR_CORRECT_M
    )
    qr.add_data(TRACK)
    qr.make(fit=True)
    raster = EscposImage(qr.make_image()._img.convert("RGB")).to_raster_format()
    assert raster in data


def test_layouts_are_pure() -> None:
    assert ticket_bytes(TICKET) == ticket_bytes(TICKET)
    assert receipt_bytes(RECEIPT, "TM-T20II") == receipt_bytes(RECEIPT, "TM-T20II")


# --- receipt --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["default", "TM-T20II", "TM-T88V"])
def test_receipt(profile: str) -> None:
    data = receipt_bytes(RECEIPT, profile)
    assert native_qr_data(data) == [RECEIPT.track_url.encode()]
    p = parse_escpos(data)
    cols = layouts.columns_for(profile)
    assert fits(p, cols, 64 if cols == 48 else 56) == []
    text = p.text
    flat = " ".join(text.split())
    for wanted in (
        "GIẤY TIẾP NHẬN HỒ SƠ",
        "DOSSIER RECEIPT",
        "HS.2025.000123",
        "Nguyễn Thị Ánh Tuyết",
        "02/12/2025 16:00",
        "25/11/2025 08:30",
        "Quét mã để tra cứu hồ sơ",
        RECEIPT.procedure_name,
        RECEIPT.collect_at,
        *RECEIPT.documents,
    ):
        assert wanted in flat, wanted
    code = p.find("HS.2025.000123")
    assert code is not None and code.bold and code.height == 2
    assert "1. Tờ khai đăng ký khai sinh" in text and "3. Căn cước" in text
    # a long document wraps under its own text, not under the number
    third = next(i for i, ln in enumerate(p.lines) if "3. Căn cước" in ln.text)
    assert p.lines[third + 1].text.startswith("     ")
    assert text.index("Thủ tục") < text.index("Giấy tờ") < text.index("Hẹn trả")
    assert p.cuts == 1


def test_receipt_without_documents() -> None:
    r = ReceiptPrint(**{**RECEIPT.__dict__, "documents": []})
    assert "Documents received:\n  —" in parse_escpos(receipt_bytes(r)).text


@pytest.mark.usefixtures("vietnamese_font")
def test_receipt_image_fallback() -> None:
    data = receipt_bytes(RECEIPT, "TM-T88IV")
    assert b"\x1dv0" in data
    assert "Nguyễn".encode() not in data
    assert not any(b >= 0x80 for b in _text_bytes(data))
    p = parse_escpos(data)
    assert p.find("HS.2025.000123") is not None  # ASCII stays text
    assert p.find("02/12/2025 16:00") is not None
