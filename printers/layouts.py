"""Ticket and receipt layouts: pure functions from plain data to ESC/POS bytes.

A layout is a list of blocks (:class:`Line`, :class:`Row`, :class:`Rule`, :class:`Qr`); a
renderer turns them into commands with python-escpos' ``Dummy`` printer. Text is printed as text
in the printer's Vietnamese code page where it has one; otherwise only the lines with Vietnamese
letters are drawn as raster images (see :mod:`printers.vietnamese`). The QR code uses the
printer's own QR command where the profile supports it, else it is sent as an image.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from escpos.capabilities import BaseProfile, get_profile, get_profile_class
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy

from printers.vietnamese import (
    ImageLine,
    TextMode,
    choose_mode,
    is_ascii,
    nfc,
    profile_width_dots,
    render_lines,
    text_width,
    write_encoded,
)

Align = Literal["left", "center", "right"]
DASH = "—"

#: QR module size in dots (native command and image alike): about 0.75 mm at 203 dpi.
QR_MODULE = 6


# --- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketPrint:
    """What a queue ticket shows. Times are already formatted in the site's time zone."""

    site_name: str
    service_name_vi: str
    service_name_en: str
    number: str
    priority_label: str | None
    issued_at_local: str
    ahead: int | None
    eta_minutes: int | None
    track_url: str
    lang: str = "vi"


@dataclass(frozen=True)
class ReceiptPrint:
    """What a dossier receipt slip shows."""

    site_name: str
    code: str
    applicant_name: str
    procedure_name: str
    documents: list[str]
    received_at_local: str
    due_at_local: str
    collect_at: str
    track_url: str
    lang: str = "vi"
    applicant_id_masked: str | None = None  # e.g. 0340******12, never the full number
    sets: int | None = None


# --- blocks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A paragraph, wrapped to the paper width. ``width``/``height`` multiply the character
    size (1-8); ``small`` selects font B; ``indent`` indents the wrapped continuation lines."""

    text: str
    align: Align = "left"
    bold: bool = False
    width: int = 1
    height: int = 1
    small: bool = False
    invert: bool = False
    indent: int = 0


@dataclass(frozen=True)
class Row:
    """``label`` on the left and ``value`` on the right of one line; when both do not fit, the
    value goes under the label, indented."""

    label: str
    value: str
    bold_value: bool = False


@dataclass(frozen=True)
class Rule:
    char: str = "-"


@dataclass(frozen=True)
class Qr:
    content: str
    module: int = QR_MODULE


@dataclass(frozen=True)
class Cut:
    pass


Block = Line | Row | Rule | Qr | Cut


# --- wording -------------------------------------------------------------------------------


def _pair(vi: str, en: str, lang: str) -> tuple[str, str]:
    """(first, second) in the reader's language order."""
    return (en, vi) if lang == "en" else (vi, en)


def _label(vi: str, en: str, lang: str) -> str:
    first, second = _pair(vi, en, lang)
    return f"{first} / {second}:"


def eta_text(minutes: int | None) -> tuple[str, str]:
    """``(vi, en)`` for an estimated wait: ``("khoảng 15 phút", "about 15 min")``."""
    if minutes is None or minutes < 0:
        return DASH, DASH
    if minutes < 1:
        return "dưới 1 phút", "under 1 min"
    if minutes < 60:
        return f"khoảng {minutes} phút", f"about {minutes} min"
    hours, rest = divmod(minutes, 60)
    vi = f"khoảng {hours} giờ" + (f" {rest} phút" if rest else "")
    en = f"about {hours} h" + (f" {rest} min" if rest else "")
    return vi, en


def ticket_blocks(t: TicketPrint) -> list[Block]:
    """The ticket, as blocks (see :func:`ticket_bytes`)."""
    lang = t.lang
    big_service, small_service = _pair(t.service_name_vi, t.service_name_en, lang)
    number = t.number.strip()
    size = max(2, min(6, 42 // max(1, len(number))))
    blocks: list[Block] = [
        Line(t.site_name, align="center", bold=True),
        Rule(),
        Line(big_service, align="center", bold=True, height=2),
    ]
    if small_service and small_service != big_service:
        blocks.append(Line(small_service, align="center", small=True))
    blocks += [Line(""), Line(number, align="center", bold=True, width=size, height=size)]
    if t.priority_label:
        blocks += [
            Line(""),
            Line(t.priority_label.strip(), align="center", bold=True, height=2, invert=True),
        ]
    eta_vi, eta_en = eta_text(t.eta_minutes)
    eta_first, eta_second = _pair(eta_vi, eta_en, lang)
    blocks += [
        Rule(),
        Row(_label("Giờ lấy số", "Issued", lang), t.issued_at_local),
        Row(
            _label("Số người chờ trước", "People ahead", lang),
            DASH if t.ahead is None else str(t.ahead),
            bold_value=True,
        ),
        Row(
            _label("Thời gian chờ dự kiến", "Estimated wait", lang),
            eta_first if eta_first == DASH else f"{eta_first} / {eta_second}",
            bold_value=True,
        ),
        Rule(),
        Qr(t.track_url),
    ]
    hint_first, hint_second = _pair(
        "Quét mã để theo dõi lượt của Quý khách", "Scan to follow your turn", lang
    )
    blocks += [
        Line(hint_first, align="center"),
        Line(hint_second, align="center", small=True),
        Cut(),
    ]
    return blocks


def receipt_blocks(r: ReceiptPrint) -> list[Block]:
    """The dossier receipt, as blocks (see :func:`receipt_bytes`)."""
    lang = r.lang
    title, subtitle = _pair("GIẤY TIẾP NHẬN HỒ SƠ", "DOSSIER RECEIPT", lang)
    code = r.code.strip()
    code_width = 2 if len(code) <= 20 else 1
    blocks: list[Block] = [
        Line(r.site_name, align="center", bold=True),
        Rule(),
        Line(title, align="center", bold=True, height=2),
        Line(subtitle, align="center", small=True),
        Rule(),
        Line(_label("Mã hồ sơ", "Dossier code", lang)),
        Line(code, align="center", bold=True, width=code_width, height=2),
        Row(_label("Người nộp", "Applicant", lang), r.applicant_name, bold_value=True),
    ]
    if r.applicant_id_masked:
        blocks.append(Row(_label("Số CCCD", "ID no.", lang), r.applicant_id_masked))
    blocks += [
        Row(_label("Thủ tục", "Procedure", lang), r.procedure_name),
        Line(_label("Giấy tờ đã nhận", "Documents received", lang)),
    ]
    if r.documents:
        width = len(str(len(r.documents)))
        for i, doc in enumerate(r.documents, start=1):
            blocks.append(Line(f"  {i:>{width}}. {doc}", indent=width + 4))
    else:
        blocks.append(Line(f"  {DASH}"))
    if r.sets is not None:
        blocks.append(Row(_label("Số bộ hồ sơ", "Sets", lang), str(r.sets)))
    blocks += [
        Rule(),
        Row(_label("Ngày nhận", "Received", lang), r.received_at_local),
        Row(_label("Hẹn trả kết quả", "Result due", lang), r.due_at_local, bold_value=True),
        Row(_label("Nơi nhận kết quả", "Collect at", lang), r.collect_at),
        Rule(),
        Qr(r.track_url),
    ]
    hint_first, hint_second = _pair("Quét mã để tra cứu hồ sơ", "Scan to track your dossier", lang)
    blocks += [
        Line(hint_first, align="center"),
        Line(hint_second, align="center", small=True),
        Cut(),
    ]
    return blocks


# --- rendering -----------------------------------------------------------------------------


@cache
def _profile_with_width(name: str, width_dots: int) -> BaseProfile:
    """The named profile with a known paper width in dots, so python-escpos can check image
    widths (and does not print a warning to stdout for profiles that leave it unknown)."""
    base = get_profile_class(name)
    data = copy.deepcopy(base.profile_data)
    data.setdefault("media", {}).setdefault("width", {})["pixels"] = width_dots
    cls: type[BaseProfile] = type(base.__name__, (base,), {"profile_data": data})
    return cls()


@dataclass
class _Renderer:
    profile: str
    mode: TextMode
    columns: int
    small_columns: int
    width_dots: int
    has_small_font: bool
    printer: Dummy = field(init=False)
    pending: list[ImageLine] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.printer = Dummy(profile=self.profile)
        self.printer.profile = _profile_with_width(self.profile, self.width_dots)
        self.printer.hw("INIT")

    # text helpers -------------------------------------------------------------------------

    def _cols(self, small: bool, width: int) -> int:
        base = self.small_columns if small and self.has_small_font else self.columns
        return max(1, base // max(1, width))

    def _as_image(self, text: str) -> bool:
        return self.mode is TextMode.IMAGE and not is_ascii(nfc(text))

    @staticmethod
    def _scale(line: Line) -> float:
        # The printer stretches characters; a drawn line keeps its proportions, so a tall
        # (1 x 2) line is drawn between the two sizes.
        return (line.width + line.height) / 2 * (0.75 if line.small else 1.0)

    def _wrap_cols(self, text: str, cols: int, indent: int) -> list[str]:
        text = nfc(text)
        if not text.strip():
            return [""]
        body = text.lstrip(" ")
        lead = " " * min(len(text) - len(body), cols // 2)
        hanging = " " * min(max(indent, len(lead)), cols // 2)
        return textwrap.wrap(
            body, width=cols, initial_indent=lead, subsequent_indent=hanging, break_on_hyphens=False
        ) or [""]

    def _wrap_dots(self, text: str, bold: bool, scale: float, indent: int) -> list[str]:
        """Greedy word wrap by drawn width, for lines drawn as images."""
        text = nfc(text)
        lead = " " * (len(text) - len(text.lstrip(" ")))
        limit = self.width_dots - 4
        lines: list[str] = []
        current = lead
        for word in text.split():
            candidate = f"{current} {word}" if current.strip() else current + word
            if text_width(candidate, bold, scale) <= limit:
                current = candidate
                continue
            if current.strip():
                lines.append(current)
                current = " " * indent + word
            else:
                current = candidate
            while text_width(current, bold, scale) > limit and len(current.strip()) > 1:
                # a word wider than the paper: split it, at least one letter per line
                floor = len(current) - len(current.lstrip(" ")) + 1
                cut = len(current) - 1
                while cut > floor and text_width(current[:cut], bold, scale) > limit:
                    cut -= 1
                lines.append(current[:cut])
                current = " " * indent + current[cut:]
        lines.append(current)
        return lines or [""]

    # output -------------------------------------------------------------------------------

    def flush_images(self) -> None:
        if self.pending:
            img = render_lines(self.pending, self.width_dots)
            self.printer.set(align="left")
            self.printer.image(img, impl="bitImageRaster")
            self.pending = []

    def _style(self, line: Line, bold: bool | None = None) -> None:
        self.printer.set(
            align=line.align,
            bold=line.bold if bold is None else bold,
            invert=line.invert,
            font="b" if line.small and self.has_small_font else "a",
            custom_size=True,
            width=max(1, min(8, line.width)),
            height=max(1, min(8, line.height)),
        )

    def _emit_text(self, text: str) -> None:
        write_encoded(self.printer, text, self.mode)
        self.printer._raw(b"\n")

    def line(self, line: Line) -> None:
        pad = 1 if line.invert else 0  # a space each side makes an inverted line a bar
        if self._as_image(line.text):
            scale = self._scale(line)
            for piece in self._wrap_dots(line.text, line.bold, scale, line.indent):
                self.pending.append(ImageLine(piece, line.align, line.bold, scale, line.invert))
            return
        self.flush_images()
        self._style(line)
        cols = self._cols(line.small, line.width) - 2 * pad
        for piece in self._wrap_cols(line.text, cols, line.indent):
            self._emit_text(" " * pad + piece + " " * pad)

    def row(self, row: Row) -> None:
        label, value = nfc(row.label), nfc(row.value)
        if self._as_image(label + value):
            if text_width(f"{label}  {value}", True, 1.0) <= self.width_dots - 4:
                self.pending.append(
                    ImageLine(label, "left", False, 1.0, right=value, right_bold=row.bold_value)
                )
                return
        elif len(label) + 1 + len(value) <= self.columns:
            self.flush_images()
            self._style(Line(""))
            gap = self.columns - len(label) - len(value)
            write_encoded(self.printer, label + " " * gap, self.mode)
            if row.bold_value:
                self.printer.set(bold=True)
            self._emit_text(value)
            if row.bold_value:
                self.printer.set(bold=False)
            return
        self.line(Line(label))
        if len(value) <= self.columns // 2:
            self.line(Line(value, bold=row.bold_value, align="right"))
        else:
            self.line(Line("  " + value, bold=row.bold_value, indent=2))

    def rule(self, rule: Rule) -> None:
        self.flush_images()
        self._style(Line(""))
        self._emit_text(rule.char * self.columns)

    def qr(self, qr: Qr) -> None:
        self.flush_images()
        p = self.printer
        p.set(align="center", bold=False, invert=False, custom_size=True, width=1, height=1)
        if get_profile(self.profile).supports("qrCode"):
            p.qr(qr.content, ec=QR_ECLEVEL_M, size=qr.module, native=True)
            p._raw(b"\n")
        else:
            p.qr(qr.content, ec=QR_ECLEVEL_M, size=qr.module, native=False)
        p.set(align="left")

    def cut(self) -> None:
        self.flush_images()
        self.printer.set(
            align="left", bold=False, invert=False, custom_size=True, width=1, height=1
        )
        self.printer.cut()

    def render(self, blocks: Sequence[Block]) -> bytes:
        for block in blocks:
            if isinstance(block, Line):
                self.line(block)
            elif isinstance(block, Row):
                self.row(block)
            elif isinstance(block, Rule):
                self.rule(block)
            elif isinstance(block, Qr):
                self.qr(block)
            else:
                self.cut()
        self.flush_images()
        return self.printer.output


def columns_for(profile: str) -> int:
    """Font A columns of ``profile`` (48 on 80 mm Epson profiles, 42 on ``-42col`` ones and on
    ``default``)."""
    return int(get_profile(profile).get_columns("a"))


def render(
    blocks: Sequence[Block],
    profile: str = "default",
    text: TextMode | str | None = None,
    columns: int | None = None,
) -> bytes:
    """ESC/POS bytes for ``blocks`` on a printer of ``profile`` (a python-escpos profile name).

    ``text`` forces a Vietnamese mode (see :func:`printers.vietnamese.choose_mode`);
    ``columns`` overrides the profile's font A columns."""
    prof: Any = get_profile(profile)
    cols = columns or columns_for(profile)
    has_small = "1" in prof.fonts
    small_cols = int(prof.fonts["1"]["columns"]) if has_small else cols
    if columns and has_small:
        small_cols = small_cols * columns // columns_for(profile)
    renderer = _Renderer(
        profile=profile,
        mode=choose_mode(profile, text),
        columns=cols,
        small_columns=small_cols,
        width_dots=profile_width_dots(profile, cols),
        has_small_font=has_small,
    )
    return renderer.render(blocks)


def ticket_bytes(
    ticket: TicketPrint,
    profile: str = "default",
    text: TextMode | str | None = None,
    columns: int | None = None,
) -> bytes:
    """A queue ticket: site, service (vi + en), the number in very large type, the priority
    mark, issue time, people ahead, estimated wait, the tracking QR, a short bilingual hint,
    then feed and cut."""
    return render(ticket_blocks(ticket), profile, text, columns)


def receipt_bytes(
    receipt: ReceiptPrint,
    profile: str = "default",
    text: TextMode | str | None = None,
    columns: int | None = None,
) -> bytes:
    """A dossier receipt: site, code, applicant, procedure, documents, received and due times,
    where to collect the result, the tracking QR, then cut."""
    return render(receipt_blocks(receipt), profile, text, columns)
