"""Vietnamese text for ESC/POS printers.

Four ways to put Vietnamese on paper, chosen per printer profile (:func:`choose_mode`):

* ``cp1258``: select the Windows-1258 code table (``ESC t n``) and send Windows-1258 bytes.
  Windows-1258 precomposes only some letters (â ă ê ô ơ ư đ, their capitals and the Latin-1
  accented vowels); the other toned letters are a base letter followed by one of five combining
  tone marks (grave 0xCC, acute 0xEC, tilde 0xDE, hook above 0xD2, dot below 0xF2).
  Some printers print those marks next to the letter instead of over it; ``tcvn3`` or ``image``
  is the answer there (selected per printer with ``?text=`` in its URI).
* ``tcvn3``: the two TCVN-3 tables (lowercase and capitals), every toned letter precomposed;
  the table is switched inside the line where the case changes.
* ``image``: lines with non-ASCII text are drawn with a TrueType font that has Vietnamese glyphs
  (DejaVu Sans or Noto Sans) and sent as raster images; ASCII lines stay text.
* ``ascii``: no code page and no font: the marks are dropped (``Hộ tịch`` -> ``Ho tich``). A
  warning is logged; nothing is ever printed as mojibake.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from escpos.capabilities import CAPABILITIES, get_profile
from escpos.escpos import Escpos
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

#: Code page names in python-escpos' capability database.
CP1258 = "CP1258"
TCVN3_LOWER = "TCVN-3-1"
TCVN3_UPPER = "TCVN-3-2"

#: The five Vietnamese tone marks as combining characters.
TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")

#: Letters with every tone, in NFC: 12 vowels x (no tone + 5 tones) + đ, lower case.
VOWELS = "aăâeêioôơuưy"
LOWER_LETTERS: tuple[str, ...] = (
    *(
        unicodedata.normalize("NFC", v + tone)
        for v in VOWELS
        for tone in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
    ),
    "đ",
)
UPPER_LETTERS: tuple[str, ...] = tuple(c.upper() for c in LOWER_LETTERS)

# Punctuation that ASCII and the TCVN-3 tables lack, written the way a person would.
_ASCII_PUNCT = {
    "—": "-",
    "–": "-",
    "‑": "-",
    "…": "...",
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "•": "*",
    "·": ".",
    "→": "->",
    "←": "<-",
    "₫": "d",
    "×": "x",
    "\u00a0": " ",
}

#: Candidate fonts with Vietnamese glyphs, regular and bold; the first that exists is used.
#: :func:`use_fonts` (the ``print_font`` / ``print_font_bold`` settings) puts another TTF first.
FONT_CANDIDATES: dict[bool, tuple[str, ...]] = {
    False: (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/opentype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
    ),
    True: (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
        "/usr/share/fonts/opentype/noto/NotoSans-Bold.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    ),
}


class TextMode(StrEnum):
    """How Vietnamese text reaches the paper."""

    CP1258 = "cp1258"
    TCVN3 = "tcvn3"
    IMAGE = "image"
    ASCII = "ascii"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def is_ascii(text: str) -> bool:
    return all(ord(c) < 128 for c in text)


# --- ASCII ---------------------------------------------------------------------------------


def to_ascii(text: str) -> str:
    """Drop the diacritics: ``"Đăng ký hộ tịch"`` -> ``"Dang ky ho tich"``."""
    out: list[str] = []
    for ch in nfc(text):
        if ord(ch) < 128:
            out.append(ch)
        elif ch in "đĐ":
            out.append("d" if ch == "đ" else "D")
        elif ch in _ASCII_PUNCT:
            out.append(_ASCII_PUNCT[ch])
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)
            )
            out.append(base if base and is_ascii(base) else "?")
    return "".join(out)


# --- Windows-1258 --------------------------------------------------------------------------


@cache  # a ticket is ~400 characters from a small alphabet: encode each one once
def _cp1258_char(ch: str) -> bytes:
    try:
        return ch.encode("cp1258")
    except UnicodeEncodeError:
        pass
    decomposed = unicodedata.normalize("NFD", ch)
    tones = "".join(c for c in decomposed if c in TONE_MARKS)
    base = nfc("".join(c for c in decomposed if c not in TONE_MARKS))
    try:
        return base.encode("cp1258") + tones.encode("cp1258")
    except UnicodeEncodeError:
        return to_ascii(ch).encode("ascii")


def encode_cp1258(text: str) -> bytes:
    """Encode in Windows-1258: precomposed where the table has the letter, else base letter
    plus combining tone mark. Characters outside Vietnamese fall back to ASCII."""
    return b"".join(_cp1258_char(ch) for ch in nfc(text))


def decode_cp1258(data: bytes) -> str:
    """The inverse of :func:`encode_cp1258`, in NFC (for tests and logs)."""
    return nfc(data.decode("cp1258"))


# --- TCVN-3 --------------------------------------------------------------------------------


@cache
def _tcvn3_maps() -> dict[str, dict[str, int]]:
    """Character -> byte for the two TCVN-3 tables, from python-escpos' capability data."""
    maps: dict[str, dict[str, int]] = {}
    for name in (TCVN3_LOWER, TCVN3_UPPER):
        rows = CAPABILITIES["encodings"][name]["data"]
        chars = "".join(rows)
        table = {c: 128 + i for i, c in enumerate(chars) if c != " "}
        if "Ð" in table:  # the database writes capital Đ (U+0110) as Eth (U+00D0)
            table["Đ"] = table["Ð"]
        maps[name] = table
    return maps


def encode_tcvn3(text: str) -> list[tuple[str | None, bytes]]:
    """Split ``text`` into runs of ``(table, bytes)``; ``table`` is ``None`` for ASCII runs that
    print the same in either table."""
    maps = _tcvn3_maps()
    runs: list[tuple[str | None, bytearray]] = []
    for ch in nfc(text):
        table: str | None
        if ord(ch) < 128:
            table, byte = None, bytes([ord(ch)])
        elif ch in maps[TCVN3_LOWER]:
            table, byte = TCVN3_LOWER, bytes([maps[TCVN3_LOWER][ch]])
        elif ch in maps[TCVN3_UPPER]:
            table, byte = TCVN3_UPPER, bytes([maps[TCVN3_UPPER][ch]])
        else:
            table, byte = None, to_ascii(ch).encode("ascii")
        if runs and (table is None or runs[-1][0] in (None, table)):
            if runs[-1][0] is None and table is not None:
                runs[-1] = (table, runs[-1][1])
            runs[-1][1].extend(byte)
        else:
            runs.append((table, bytearray(byte)))
    return [(t, bytes(b)) for t, b in runs]


def decode_tcvn3(runs: list[tuple[str | None, bytes]]) -> str:
    """The inverse of :func:`encode_tcvn3` (for tests)."""
    maps = _tcvn3_maps()
    out: list[str] = []
    for table, data in runs:
        reverse = {b: c for c, b in maps[table].items() if c != "Ð"} if table else {}
        out.extend(chr(b) if b < 128 else reverse.get(b, "?") for b in data)
    return "".join(out)


# --- choosing a mode -----------------------------------------------------------------------


def code_pages(profile: str) -> dict[str, int]:
    """Code page name -> ``ESC t`` number for a python-escpos profile name."""
    if profile not in CAPABILITIES["profiles"]:
        raise ValueError(f"unknown printer profile {profile!r}")
    pages: dict[str, int] = {}
    for number, name in sorted(
        CAPABILITIES["profiles"][profile]["codePages"].items(), key=lambda kv: int(kv[0])
    ):
        pages.setdefault(name, int(number))
    return pages


#: The fonts the operator chose, tried before :data:`FONT_CANDIDATES` (regular, bold).
FONT_OVERRIDES: dict[bool, str | None] = {False: None, True: None}


def use_fonts(regular: str | None, bold: str | None) -> None:
    """Try these TTF files first (the server passes its ``print_font`` settings at start)."""
    FONT_OVERRIDES.update({False: regular, True: bold})
    load_font.cache_clear()


def find_font(bold: bool = False) -> Path | None:
    """A TrueType font with Vietnamese glyphs, or ``None`` when this machine has none."""
    chosen = FONT_OVERRIDES[bold]
    for candidate in ((chosen,) if chosen else ()) + FONT_CANDIDATES[bold]:
        if Path(candidate).is_file():
            return Path(candidate)
    if bold:
        return find_font(False)
    return None


def choose_mode(profile: str, requested: TextMode | str | None = None) -> TextMode:
    """The best mode for ``profile``: ``cp1258`` if the profile has it, else ``tcvn3`` if it has
    both TCVN-3 tables, else ``image`` if a font is found, else ``ascii`` (logged as a warning).

    ``requested`` (e.g. from the printer URI's ``?text=``) wins when the printer can do it."""
    pages = code_pages(profile)
    has_font = find_font() is not None
    wanted = TextMode(requested) if requested else None
    if wanted is TextMode.CP1258 and CP1258 not in pages:
        log.warning("printer profile %s has no CP1258 code page; choosing another mode", profile)
        wanted = None
    if wanted is TextMode.TCVN3 and not {TCVN3_LOWER, TCVN3_UPPER} <= pages.keys():
        log.warning("printer profile %s has no TCVN-3 code pages; choosing another mode", profile)
        wanted = None
    if wanted is TextMode.IMAGE and not has_font:
        wanted = None
    if wanted is not None:
        return wanted
    if CP1258 in pages:
        return TextMode.CP1258
    if {TCVN3_LOWER, TCVN3_UPPER} <= pages.keys():
        return TextMode.TCVN3
    if has_font:
        return TextMode.IMAGE
    log.warning(
        "printer profile %s has no Vietnamese code page and no TrueType font with Vietnamese "
        "glyphs was found (install fonts-dejavu-core): printing without diacritics",
        profile,
    )
    return TextMode.ASCII


# --- writing to a python-escpos printer ----------------------------------------------------


def write_encoded(printer: Escpos, text: str, mode: TextMode) -> None:
    """Write ``text`` (no newline handling) to ``printer`` in a code-page mode, switching code
    tables through python-escpos' own tracker so later ``printer.text()`` calls stay correct.

    ``image`` lines are not written here (see :func:`render_lines`); in ``image`` and ``ascii``
    modes the text is written without its diacritics."""
    magic: Any = printer.magic
    if mode is TextMode.CP1258:
        magic.write_with_encoding(CP1258, None)
        printer._raw(encode_cp1258(text))
    elif mode is TextMode.TCVN3:
        for table, data in encode_tcvn3(text):
            if table is not None:
                magic.write_with_encoding(table, None)
            printer._raw(data)
    else:
        printer.text(to_ascii(text))


# --- drawing text as an image --------------------------------------------------------------


@dataclass(frozen=True)
class ImageLine:
    """One line to draw: text already wrapped to fit, with its style."""

    text: str
    align: str = "left"  # left | center | right
    bold: bool = False
    scale: float = 1.0  # 1.0 = font A height (24 dots); font B is about 0.75
    invert: bool = False
    right: str = ""  # drawn right-aligned on the same line (a label: value row)
    right_bold: bool = False


#: Dots per unit of ``ImageLine.scale``: font A is 12 x 24 dots on most printers.
BASE_LINE_DOTS = 24
BASE_FONT_PX = 21


@cache
def load_font(bold: bool, px: int) -> ImageFont.FreeTypeFont | None:
    path = find_font(bold)
    if path is None:
        return None
    return ImageFont.truetype(str(path), px)


def text_width(text: str, bold: bool, scale: float) -> float:
    """Width in dots of ``text`` drawn at ``scale`` (0 when no font is available)."""
    font = load_font(bold, round(BASE_FONT_PX * scale))
    return float(font.getlength(nfc(text))) if font else 0.0


def render_lines(lines: list[ImageLine], width: int) -> Image.Image:
    """Draw ``lines`` black on white into a 1-bit image ``width`` dots wide (no dithering)."""
    heights = [max(1, round(BASE_LINE_DOTS * ln.scale * 1.15)) for ln in lines]
    img = Image.new("L", (width, sum(heights)), 255)
    draw = ImageDraw.Draw(img)
    top = 0
    for line, height in zip(lines, heights, strict=True):
        font = load_font(line.bold, round(BASE_FONT_PX * line.scale))
        if font is None:
            raise RuntimeError("no TrueType font with Vietnamese glyphs on this machine")
        text = nfc(line.text)
        length = font.getlength(text)
        if line.invert:
            draw.rectangle((0, top, width - 1, top + height - 1), fill=0)
        x = {"center": (width - length) / 2, "right": width - length}.get(line.align, 0)
        ink = 255 if line.invert else 0
        draw.text((max(0.0, x), top + height / 2), text, font=font, anchor="lm", fill=ink)
        if line.right:
            right_font = load_font(line.right_bold, round(BASE_FONT_PX * line.scale)) or font
            right = nfc(line.right)
            draw.text(
                (width - right_font.getlength(right), top + height / 2),
                right,
                font=right_font,
                anchor="lm",
                fill=ink,
            )
        top += height
    return img.point(lambda v: 0 if v < 128 else 255, mode="1")


def profile_width_dots(profile: str, columns: int) -> int:
    """Printable width in dots: the profile's media width, else 12 dots per font-A column."""
    pixels = get_profile(profile).media.get("width", {}).get("pixels")
    if isinstance(pixels, int) and pixels > 0:
        return pixels
    return columns * 12
