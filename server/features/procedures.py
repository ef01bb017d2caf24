"""The procedure catalog (danh mục thủ tục hành chính) of a province, and its holidays.

Every centre and reception point of a province uses the province's catalog. CSV import and
export (``motcua procedures import|export``); the import checks every line first and changes
nothing when any is wrong, naming the line and the field.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core import auth, field_words
from server.core.auth import Principal
from server.core.cells import safe_row, unquote_cell
from server.core.lookups import get_site
from server.features.dossiers import procedure_view, province_of
from server.models import Holiday, Procedure, Site
from server.rules import fields

CSV_COLUMNS = (
    "code",
    "name_vi",
    "name_en",
    "service",
    "processing_days",
    "documents_vi",
    "documents_en",
    "fee_note_vi",
    "fee_note_en",
    "active",
)
REQUIRED_COLUMNS = ("code", "name_vi", "service", "processing_days")
CODE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_DAYS = 365
TRUE = {"1", "true", "yes", "y", "có", "x"}
FALSE = {"0", "false", "no", "n", "không"}


# --- listing --------------------------------------------------------------------------------


def list_procedures(
    session: Session, p: Principal, site_code: str, service_code: str | None = None
) -> list[dict[str, Any]]:
    """The active procedures of the site's province (any token of the site), optionally of
    one field (``service``)."""
    site = get_site(session, site_code)
    auth.require(auth.can_read_site(session, p, site.id))
    province = province_of(session, site)
    q = select(Procedure).where(Procedure.site_id == province.id, Procedure.active.is_(True))
    if service_code:
        q = q.where(Procedure.service_code == service_code)
    rows = session.scalars(q.order_by(Procedure.service_code, Procedure.code)).all()
    return [procedure_view(r) for r in rows]


# --- CSV ------------------------------------------------------------------------------------


class CatalogError(ValueError):
    """The file was refused; ``errors`` says where (line numbers count the header as 1)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:5]) + (" ..." if len(errors) > 5 else ""))
        self.errors = errors


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    codes: list[str] = field(default_factory=list)


def _split(value: str) -> list[str]:
    return [x.strip() for x in value.split("|")] if value.strip() else []


def _parse_row(line: int, row: dict[str, str], errors: list[str]) -> dict[str, Any] | None:
    def err(col: str, msg: str) -> None:
        errors.append(f"line {line}, {col}: {msg}")

    n = len(errors)
    get = {k: unquote_cell((row.get(k) or "").strip()) for k in CSV_COLUMNS}
    if not CODE.match(get["code"]):
        err("code", "1-64 letters, digits, '.', '_' or '-' required")
    if not get["name_vi"]:
        err("name_vi", "required")
    for col in ("name_vi", "name_en", "fee_note_vi", "fee_note_en"):
        if len(get[col]) > 400:
            err(col, "at most 400 characters")
    try:
        fields.service_code(get["service"])
    except fields.FieldProblem as exc:
        err("service", f"a service code: {field_words.say(exc, 'en')}")
    days = -1
    try:
        days = int(get["processing_days"])
    except ValueError:
        err("processing_days", f"whole working days required, got {get['processing_days']!r}")
    else:
        if not 0 <= days <= MAX_DAYS:
            err("processing_days", f"must be between 0 and {MAX_DAYS}")
    docs_vi, docs_en = _split(get["documents_vi"]), _split(get["documents_en"])
    if any(not d for d in docs_vi):
        err("documents_vi", "an empty document name between '|' separators")
    if docs_en and len(docs_en) != len(docs_vi):
        err("documents_en", f"{len(docs_en)} names for {len(docs_vi)} Vietnamese ones")
    elif any(not d for d in docs_en):
        err("documents_en", "an empty document name between '|' separators")
    if any(len(d) > 300 for d in docs_vi + docs_en):
        err("documents_vi", "a document name longer than 300 characters")
    active = True
    flag = get["active"].lower()
    if flag in FALSE:
        active = False
    elif flag and flag not in TRUE:
        err("active", f"yes/no (1/0, true/false) expected, got {get['active']!r}")
    if len(errors) > n:
        return None
    return {
        "code": get["code"],
        "name_vi": get["name_vi"],
        "name_en": get["name_en"] or get["name_vi"],
        "service_code": get["service"],
        "processing_days": days,
        "documents": [
            {"vi": vi, "en": docs_en[i] if docs_en else vi} for i, vi in enumerate(docs_vi)
        ],
        "fee_note_vi": get["fee_note_vi"] or None,
        "fee_note_en": get["fee_note_en"] or None,
        "active": active,
    }


def parse_csv(text: str) -> list[dict[str, Any]]:
    """Every row of a catalog CSV, checked; raises CatalogError listing every problem."""
    text = text.lstrip("\ufeff")  # a BOM from spreadsheet programs
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    errors: list[str] = []
    if not header:
        raise CatalogError(["line 1: the header row is missing"])
    reader.fieldnames = header
    for col in REQUIRED_COLUMNS:
        if col not in header:
            errors.append(f"line 1, {col}: column missing from the header")
    for col in header:
        if col not in CSV_COLUMNS:
            errors.append(f"line 1, {col}: unknown column (expected {', '.join(CSV_COLUMNS)})")
    if errors:
        raise CatalogError(errors)
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"line {line}: more values than columns")
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        parsed = _parse_row(line, row, errors)
        if parsed is None:
            continue
        if parsed["code"] in seen:
            errors.append(
                f"line {line}, code: {parsed['code']!r} already on line {seen[parsed['code']]}"
            )
            continue
        seen[parsed["code"]] = line
        rows.append(parsed)
    if errors:
        raise CatalogError(errors)
    return rows


def import_csv(session: Session, province: Site, text: str) -> ImportResult:
    """Create or update the province's procedures from CSV (by code). Procedures missing from
    the file are left as they are (set ``active`` to no to retire one). All or nothing: the
    file is checked before anything is written."""
    rows = parse_csv(text)
    existing = {
        p.code: p
        for p in session.scalars(select(Procedure).where(Procedure.site_id == province.id))
    }
    result = ImportResult()
    for row in rows:
        proc = existing.get(row["code"])
        if proc is None:
            proc = Procedure(site_id=province.id, code=row["code"])
            session.add(proc)
            result.created += 1
        else:
            result.updated += 1
        for k, v in row.items():
            setattr(proc, k, v)
        result.codes.append(row["code"])
    session.flush()
    return result


def export_csv(session: Session, province: Site) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in session.scalars(
        select(Procedure).where(Procedure.site_id == province.id).order_by(Procedure.code)
    ):
        w.writerow(safe_row(
            [
                p.code,
                p.name_vi,
                p.name_en,
                p.service_code,
                p.processing_days,
                " | ".join(d.get("vi", "") for d in p.documents),
                " | ".join(d.get("en", "") for d in p.documents),
                p.fee_note_vi or "",
                p.fee_note_en or "",
                "yes" if p.active else "no",
            ]
        ))
    return out.getvalue()


# --- holidays -------------------------------------------------------------------------------


def upsert_holidays(
    session: Session, province: Site, rows: list[tuple[dt.date, str, str]]
) -> int:
    existing = {
        h.day: h for h in session.scalars(select(Holiday).where(Holiday.site_id == province.id))
    }
    for day, vi, en in rows:
        h = existing.get(day)
        if h is None:
            h = Holiday(site_id=province.id, day=day)
            session.add(h)
            existing[day] = h
        h.name_vi, h.name_en = vi, en
    session.flush()
    return len(rows)


# --- demo catalog -----------------------------------------------------------------------------


def _days(y: int, m: int, first: int, last: int) -> list[dt.date]:
    return [dt.date(y, m, d) for d in range(first, last + 1)]


TET_VI, TET_EN = "Tết Nguyên Đán", "Lunar New Year (Tet)"

#: Public holidays of 2026 and 2027 (Labour Code 2019, art. 112, and the government's
#: yearly schedule for civil servants; a holiday falling on a weekend gives a weekday off).
#: A province adjusts them when the government announces the final schedule.
HOLIDAYS: list[tuple[dt.date, str, str]] = [
    (dt.date(2026, 1, 1), "Tết Dương lịch", "New Year's Day"),
    *((d, TET_VI, TET_EN) for d in _days(2026, 2, 14, 22)),  # Sat 14 .. Sun 22 Feb
    (dt.date(2026, 4, 27), "Nghỉ bù Giỗ Tổ Hùng Vương (10/3 âm lịch là Chủ nhật 26/4)",
     "Hung Kings' Commemoration (observed; 26 Apr is a Sunday)"),
    (dt.date(2026, 4, 30), "Ngày Chiến thắng (30/4)", "Reunification Day"),
    (dt.date(2026, 5, 1), "Ngày Quốc tế Lao động (1/5)", "International Labour Day"),
    (dt.date(2026, 9, 1), "Quốc khánh (nghỉ liền kề)", "National Day (adjacent day)"),
    (dt.date(2026, 9, 2), "Quốc khánh (2/9)", "National Day"),
    (dt.date(2027, 1, 1), "Tết Dương lịch", "New Year's Day"),
    *((d, TET_VI, TET_EN) for d in _days(2027, 2, 4, 10)),  # Thu 4 .. Wed 10 Feb
    (dt.date(2027, 4, 16), "Giỗ Tổ Hùng Vương (10/3 âm lịch)", "Hung Kings' Commemoration"),
    (dt.date(2027, 4, 30), "Ngày Chiến thắng (30/4)", "Reunification Day"),
    (dt.date(2027, 5, 3), "Nghỉ bù Ngày Quốc tế Lao động (1/5 là thứ Bảy)",
     "International Labour Day (observed; 1 May is a Saturday)"),
    (dt.date(2027, 9, 2), "Quốc khánh (2/9)", "National Day"),
    (dt.date(2027, 9, 3), "Quốc khánh (nghỉ liền kề)", "National Day (adjacent day)"),
]

_CCCD = ("Căn cước công dân / Căn cước của người yêu cầu (xuất trình)",
         "Citizen ID card of the applicant (shown)")

#: code, service, vi, en, working days, [(document vi, en)], fee vi, fee en
DEMO_PROCEDURES: list[tuple[str, str, str, str, int, list[tuple[str, str]], str, str]] = [
    (
        "HT-KS", "civil", "Đăng ký khai sinh", "Birth registration", 1,
        [
            ("Tờ khai đăng ký khai sinh (theo mẫu)", "Birth registration form"),
            ("Giấy chứng sinh do cơ sở y tế cấp", "Birth certificate issued by the hospital"),
            _CCCD,
            ("Giấy tờ chứng minh nơi cư trú (nếu cần)", "Proof of residence (if needed)"),
        ],
        "Miễn lệ phí khi đăng ký đúng hạn", "Free when registered on time",
    ),
    (
        "HT-KH", "civil", "Đăng ký kết hôn", "Marriage registration", 1,
        [
            ("Tờ khai đăng ký kết hôn (theo mẫu)", "Marriage registration form"),
            ("Căn cước của hai bên nam, nữ (xuất trình)", "ID cards of both partners (shown)"),
            ("Giấy xác nhận tình trạng hôn nhân (nếu đăng ký thường trú ở nơi khác)",
             "Certificate of marital status (if registered elsewhere)"),
        ],
        "Miễn lệ phí", "Free of charge",
    ),
    (
        "HT-KT", "civil", "Đăng ký khai tử", "Death registration", 1,
        [
            ("Tờ khai đăng ký khai tử (theo mẫu)", "Death registration form"),
            ("Giấy báo tử hoặc giấy tờ thay thế giấy báo tử", "Death notice or equivalent"),
            _CCCD,
        ],
        "Miễn lệ phí khi đăng ký đúng hạn", "Free when registered on time",
    ),
    (
        "HT-XNHN", "civil", "Cấp Giấy xác nhận tình trạng hôn nhân",
        "Certificate of marital status", 3,
        [
            ("Tờ khai cấp Giấy xác nhận tình trạng hôn nhân (theo mẫu)",
             "Application form for a certificate of marital status"),
            _CCCD,
        ],
        "Lệ phí theo Nghị quyết của HĐND tỉnh", "Fee set by the provincial People's Council",
    ),
    (
        "CT-BS", "civil", "Chứng thực bản sao từ bản chính giấy tờ, văn bản",
        "Certified copies from originals", 0,
        [
            ("Bản chính giấy tờ, văn bản cần chứng thực", "The original document"),
            ("Bản sao cần chứng thực", "The copies to certify"),
        ],
        "2.000 đồng/trang; từ trang thứ ba 1.000 đồng/trang, tối đa 200.000 đồng/bản",
        "VND 2,000 per page; VND 1,000 from the third page, at most VND 200,000 per copy",
    ),
    (
        "CT-CK", "civil", "Chứng thực chữ ký trong giấy tờ, văn bản",
        "Certification of a signature", 0,
        [
            ("Giấy tờ, văn bản cần chứng thực chữ ký", "The document to be signed"),
            _CCCD,
        ],
        "10.000 đồng/trường hợp", "VND 10,000 per case",
    ),
    (
        "KD-HKD", "business", "Đăng ký thành lập hộ kinh doanh",
        "Business household registration", 3,
        [
            ("Giấy đề nghị đăng ký hộ kinh doanh (theo mẫu)",
             "Business household registration form"),
            ("Bản sao giấy tờ pháp lý của các thành viên hộ gia đình",
             "Copies of the household members' ID papers"),
            ("Biên bản họp thành viên hộ gia đình (nếu có nhiều thành viên)",
             "Minutes of the household members' meeting (if several members)"),
        ],
        "Lệ phí theo Nghị quyết của HĐND tỉnh", "Fee set by the provincial People's Council",
    ),
    (
        "XD-GPXD", "construction", "Cấp giấy phép xây dựng nhà ở riêng lẻ",
        "Construction permit for a detached house", 15,
        [
            ("Đơn đề nghị cấp giấy phép xây dựng (theo mẫu)",
             "Application for a construction permit"),
            ("Bản sao giấy tờ chứng minh quyền sử dụng đất", "Copy of the land-use right papers"),
            ("Hai bộ bản vẽ thiết kế xây dựng", "Two sets of construction drawings"),
            ("Bản cam kết bảo đảm an toàn công trình liền kề (nếu có)",
             "Undertaking on the safety of adjacent buildings (if any)"),
        ],
        "75.000 đồng/giấy phép", "VND 75,000 per permit",
    ),
    (
        "DD-CGCN", "land",
        "Đăng ký đất đai, tài sản gắn liền với đất, cấp Giấy chứng nhận quyền sử dụng đất lần đầu",
        "First registration of land and a first land-use right certificate", 20,
        [
            ("Đơn đăng ký đất đai, tài sản gắn liền với đất (Mẫu 04/ĐK)",
             "Land registration form (form 04/ĐK)"),
            ("Giấy tờ về quyền sử dụng đất (nếu có)", "Papers on the land-use right (if any)"),
            ("Chứng từ thực hiện nghĩa vụ tài chính (nếu có)",
             "Receipts of financial obligations (if any)"),
            ("Sơ đồ, bản vẽ tài sản gắn liền với đất (nếu có)",
             "Plan of the assets on the land (if any)"),
        ],
        "Lệ phí cấp Giấy chứng nhận theo Nghị quyết của HĐND tỉnh",
        "Certificate fee set by the provincial People's Council",
    ),
    (
        "DD-CN", "land", "Đăng ký biến động chuyển nhượng quyền sử dụng đất",
        "Registration of a land-use right transfer", 10,
        [
            ("Đơn đăng ký biến động đất đai (Mẫu 11/ĐK)", "Land change registration form (11/ĐK)"),
            ("Hợp đồng chuyển nhượng đã công chứng hoặc chứng thực",
             "Notarised or certified transfer contract"),
            ("Bản gốc Giấy chứng nhận đã cấp", "The original land-use right certificate"),
            ("Tờ khai lệ phí trước bạ, thuế thu nhập cá nhân",
             "Registration fee and personal income tax declarations"),
        ],
        "Lệ phí trước bạ 0,5%; phí thẩm định hồ sơ theo Nghị quyết của HĐND tỉnh",
        "Registration fee 0.5%; appraisal fee set by the provincial People's Council",
    ),
]


def seed_catalog(session: Session, province: Site) -> None:
    """The demo catalog and the 2026-2027 holidays of a province (idempotent)."""
    existing = {
        p.code: p
        for p in session.scalars(select(Procedure).where(Procedure.site_id == province.id))
    }
    for code, svc, vi, en, days, docs, fee_vi, fee_en in DEMO_PROCEDURES:
        proc = existing.get(code)
        if proc is None:
            proc = Procedure(site_id=province.id, code=code)
            session.add(proc)
        proc.name_vi, proc.name_en, proc.service_code = vi, en, svc
        proc.processing_days = days
        proc.documents = [{"vi": d_vi, "en": d_en} for d_vi, d_en in docs]
        proc.fee_note_vi, proc.fee_note_en = fee_vi, fee_en
        proc.active = True
    session.flush()
    upsert_holidays(session, province, HOLIDAYS)
