"""Vietnamese text for ESC/POS: Windows-1258 and TCVN-3 encodings, ASCII fallback, mode choice,
text drawn as an image."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from printers import vietnamese as vn
from printers.vietnamese import TextMode
from server.config import Settings


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


ALL_LETTERS = vn.LOWER_LETTERS + vn.UPPER_LETTERS
SENTENCE = (
    "Trung tâm Phục vụ hành chính công phường Hạc Thành — Đăng ký hộ tịch, "
    "ƯU TIÊN người cao tuổi; Quét mã để theo dõi lượt của bạn. Ỹ Ỷ Ỵ ữ ự ẫ ậ ổ ợ"
)


def test_the_alphabet_is_complete() -> None:
    # 12 vowels x 6 (no tone + 5 tones) + đ, in each case: 134 toned or special forms + bases
    assert len(set(vn.LOWER_LETTERS)) == 73
    assert len(set(vn.UPPER_LETTERS)) == 73
    toned_or_special = [c for c in ALL_LETTERS if not c.isascii()]
    assert len(toned_or_special) == 134
    assert all(len(c) == 1 for c in ALL_LETTERS)  # every form has a precomposed code point


def test_every_letter_with_every_tone_round_trips_through_cp1258() -> None:
    wrong = {
        c: vn.encode_cp1258(c)
        for c in ALL_LETTERS
        if nfc(vn.encode_cp1258(c).decode("cp1258")) != c or b"?" in vn.encode_cp1258(c)
    }
    assert wrong == {}
    word = "".join(ALL_LETTERS)
    assert vn.decode_cp1258(vn.encode_cp1258(word)) == word


def test_cp1258_uses_combining_tone_bytes() -> None:
    assert vn.encode_cp1258("Hộ tịch") == b"H\xf4\xf2 ti\xf2ch"  # ô + dot below, i + dot below
    assert vn.encode_cp1258("ờ ấ ẫ ủ ạ") == b"\xf5\xcc \xe2\xec \xe2\xde u\xd2 a\xf2"
    # letters the table has precomposed stay one byte
    assert vn.encode_cp1258("ăâêôơưđĂÂÊÔƠƯĐ") == bytes.fromhex("e3e2eaf4f5fdf0c3c2cad4d5ddd0")
    tones = {"\u0300": 0xCC, "\u0301": 0xEC, "\u0303": 0xDE, "\u0309": 0xD2, "\u0323": 0xF2}
    for mark, byte in tones.items():
        assert vn.encode_cp1258(nfc("ơ" + mark)) == bytes([0xF5, byte])


def test_cp1258_round_trips_a_sentence_and_never_writes_utf8() -> None:
    data = vn.encode_cp1258(SENTENCE)
    assert vn.decode_cp1258(data) == nfc(SENTENCE)
    assert "Hộ".encode() not in data
    # decomposed input gives the same bytes
    assert vn.encode_cp1258(unicodedata.normalize("NFD", SENTENCE)) == data


def test_cp1258_falls_back_to_ascii_for_characters_outside_the_table() -> None:
    assert vn.encode_cp1258("A → B ☺") == b"A -> B ?"


def test_every_letter_with_every_tone_round_trips_through_tcvn3() -> None:
    wrong = {c: vn.encode_tcvn3(c) for c in ALL_LETTERS if vn.decode_tcvn3(vn.encode_tcvn3(c)) != c}
    assert wrong == {}
    word = "".join(ALL_LETTERS)
    runs = vn.encode_tcvn3(word)
    assert vn.decode_tcvn3(runs) == word
    assert all(len(data) == len(vn.decode_tcvn3([(t, data)])) for t, data in runs)  # 1 byte each


def test_tcvn3_switches_tables_only_when_the_case_changes() -> None:
    runs = vn.encode_tcvn3("Hộ tịch ƯU TIÊN ưu tiên")
    assert [table for table, _ in runs] == [vn.TCVN3_LOWER, vn.TCVN3_UPPER, vn.TCVN3_LOWER]
    assert vn.decode_tcvn3(runs) == "Hộ tịch ƯU TIÊN ưu tiên"
    assert vn.encode_tcvn3("A042") == [(None, b"A042")]
    assert vn.decode_tcvn3(vn.encode_tcvn3(SENTENCE)) == nfc(SENTENCE).replace("—", "-")


def test_ascii_fallback_drops_marks() -> None:
    assert vn.to_ascii("Đăng ký hộ tịch — Ưu tiên") == "Dang ky ho tich - Uu tien"
    assert all(vn.to_ascii(c).isascii() and vn.to_ascii(c).isalpha() for c in ALL_LETTERS)


def test_code_pages_come_from_the_profile() -> None:
    assert vn.code_pages("default")["CP1258"] == 52
    assert vn.code_pages("default")["TCVN-3-1"] == 30
    assert "CP1258" not in vn.code_pages("TM-T88IV")
    with pytest.raises(ValueError, match="unknown printer profile"):
        vn.code_pages("no-such-printer")


def test_choose_mode() -> None:
    assert vn.choose_mode("default") is TextMode.CP1258
    assert vn.choose_mode("TM-T20II") is TextMode.CP1258
    assert vn.choose_mode("CT-S651") is TextMode.TCVN3  # TCVN-3 but no CP1258
    assert vn.choose_mode("TM-T88IV") is TextMode.IMAGE  # no Vietnamese code page
    assert vn.choose_mode("default", "tcvn3") is TextMode.TCVN3
    assert vn.choose_mode("default", TextMode.IMAGE) is TextMode.IMAGE
    assert vn.choose_mode("default", "ascii") is TextMode.ASCII
    # a mode the profile cannot do is replaced by the best it can
    assert vn.choose_mode("TM-T88IV", "cp1258") is TextMode.IMAGE


@pytest.fixture
def no_fonts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(vn, "FONT_CANDIDATES", {False: (), True: ()})
    monkeypatch.setattr(vn, "FONT_OVERRIDES", {False: None, True: None})
    vn.load_font.cache_clear()
    yield
    vn.load_font.cache_clear()


@pytest.mark.usefixtures("no_fonts")
def test_without_a_font_the_image_fallback_becomes_ascii_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert vn.find_font() is None
    with caplog.at_level(logging.WARNING, logger="printers.vietnamese"):
        assert vn.choose_mode("TM-T88IV") is TextMode.ASCII
        assert vn.choose_mode("TM-T88IV", "image") is TextMode.ASCII
    assert "without diacritics" in caplog.text
    # printers with a code page do not need a font
    assert vn.choose_mode("default") is TextMode.CP1258


def test_font_override_by_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    font = tmp_path / "Custom.ttf"
    font.write_bytes(b"not really a font")
    monkeypatch.setattr(vn, "FONT_OVERRIDES", dict(vn.FONT_OVERRIDES))
    settings = Settings.from_env({"MOTCUA_PRINT_FONT": str(font)})
    vn.use_fonts(settings.print_font, settings.print_font_bold)  # as the app factory does
    assert vn.find_font() == font
    vn.load_font.cache_clear()


@pytest.mark.usefixtures("vietnamese_font")
def test_render_lines_draws_black_on_white_without_grey() -> None:
    img = vn.render_lines(
        [
            vn.ImageLine("Hộ tịch", "center", True, 2.0),
            vn.ImageLine("Giờ lấy số:", right="08:15"),
            vn.ImageLine("ƯU TIÊN", "center", invert=True),
        ],
        384,
    )
    assert img.mode == "1"
    assert img.width == 384
    assert img.height == round(24 * 2 * 1.15) + 2 * round(24 * 1.15)
    assert {colour for _, colour in img.getcolors() or []} == {0, 255}
    # the inverted line is mostly black
    band = img.crop((0, img.height - 20, 384, img.height))
    black = band.histogram()[0]
    assert black > 0.7 * 384 * 20
    # the centred text leaves both margins white in the first line
    first = img.crop((0, 0, 384, 50))
    assert all(first.getpixel((x, y)) == 255 for x in (0, 383) for y in range(50))
