"""The procedure catalog as CSV, through the ``motcua procedures`` commands: export, import,
all-or-nothing validation that names the line and the field; and ``purge-applicants``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from server.cli import main
from server.core.db import Database
from server.features.procedures import CatalogError, parse_csv
from server.models import Holiday, Procedure, Site


def run(db_url: str, *args: str, ok: bool = True) -> str:
    r = CliRunner().invoke(main, list(args), env={"MOTCUA_DATABASE_URL": db_url},
                           catch_exceptions=False)
    assert (r.exit_code == 0) == ok, r.output
    return r.output


@pytest.fixture
def demo(tmp_path: Path) -> str:
    db_url = f"sqlite:///{tmp_path / 'motcua.sqlite3'}"
    run(db_url, "demo")
    return db_url


def catalog(db_url: str) -> dict[str, Procedure]:
    db = Database(db_url)
    with db.read() as s:
        th = s.scalar(select(Site).where(Site.code == "TH"))
        rows = {p.code: p for p in s.scalars(select(Procedure).where(Procedure.site_id == th.id))}
    db.dispose()
    return rows


def test_demo_seeds_catalog_and_holidays_idempotently(demo: str) -> None:
    procs = catalog(demo)
    assert {"HT-KS", "HT-KH", "HT-KT", "CT-BS", "KD-HKD", "XD-GPXD", "DD-CGCN", "DD-CN"} <= set(
        procs)
    assert procs["DD-CGCN"].processing_days == 20 and procs["DD-CGCN"].service_code == "land"
    run(demo, "demo")
    assert len(catalog(demo)) == len(procs)
    db = Database(demo)
    with db.read() as s:
        days = [h.day.isoformat() for h in s.scalars(select(Holiday))]
    db.dispose()
    assert len(days) == len(set(days))
    for day in ("2026-01-01", "2026-02-17", "2026-04-30", "2026-05-01", "2026-09-02",
                "2027-01-01", "2027-09-02"):
        assert day in days


def test_export_then_import_round_trip_and_update(demo: str, tmp_path: Path) -> None:
    out = run(demo, "procedures", "export", "--site", "TH", "-")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0].keys() >= {"code", "name_vi", "name_en", "service", "processing_days",
                              "documents_vi", "documents_en", "fee_note_vi", "active"}
    kh = next(r for r in rows if r["code"] == "HT-KH")
    assert " | " in kh["documents_vi"]
    kh["processing_days"] = "2"
    new = dict(kh, code="HT-NEW", name_vi="Đăng ký giám hộ", name_en="Guardianship registration",
               documents_vi="Tờ khai | Giấy ủy quyền", documents_en="", active="yes")
    path = tmp_path / "catalog.csv"
    with path.open("w", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows([*rows, new])
    msg = run(demo, "procedures", "import", "--site", "TH", str(path))
    assert f"1 procedure(s) created, {len(rows)} updated" in msg
    procs = catalog(demo)
    assert procs["HT-KH"].processing_days == 2
    assert procs["HT-NEW"].documents == [{"vi": "Tờ khai", "en": "Tờ khai"},
                                         {"vi": "Giấy ủy quyền", "en": "Giấy ủy quyền"}]
    again = run(demo, "procedures", "export", "--site", "TH", "-")
    assert "HT-NEW" in again and again.count("\n") == len(rows) + 2


def test_a_bad_file_names_line_and_field_and_changes_nothing(demo: str, tmp_path: Path) -> None:
    before = {c: (p.name_vi, p.processing_days) for c, p in catalog(demo).items()}
    path = tmp_path / "bad.csv"
    path.write_text(
        "code,name_vi,name_en,service,processing_days,documents_vi,documents_en\n"
        "HT-KH,Đăng ký kết hôn (sửa),Marriage,civil,4,Tờ khai,Form\n"
        "HT-X,,Nameless,civil,3,A|B,A\n"
        "CT-BS,Chứng thực,Copies,Civil!,soon,,\n",
        encoding="utf-8",
    )
    out = run(demo, "procedures", "import", "--site", "TH", str(path), ok=False)
    assert "line 3, name_vi: required" in out
    assert "line 3, documents_en: 1 names for 2" in out
    assert "line 4, service" in out and "line 4, processing_days" in out
    assert "nothing was changed" in out
    after = {c: (p.name_vi, p.processing_days) for c, p in catalog(demo).items()}
    assert after == before


def test_import_needs_a_province(demo: str, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("code,name_vi,service,processing_days\nA,B,civil,1\n", encoding="utf-8")
    out = run(demo, "procedures", "import", "--site", "HACTHANH", str(path), ok=False)
    assert "--site TH" in out
    run(demo, "procedures", "import", "--site", "TH", str(path))
    assert catalog(demo)["A"].name_en == "B"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "line 1: the header row is missing"),
        ("code,name_vi,service\nA,B,c\n", "line 1, processing_days: column missing"),
        ("code,name_vi,service,processing_days,colour\n", "line 1, colour: unknown column"),
        ("code,name_vi,service,processing_days\nA,B,civil,1\nA,C,civil,2\n",
         "line 3, code: 'A' already on line 2"),
        ("code,name_vi,service,processing_days\nA,B,civil,1,extra\n", "line 2: more values"),
        ("code,name_vi,service,processing_days\nA B,B,civil,-1\n", "line 2, code"),
        ("code,name_vi,service,processing_days\nA,B,civil,-1\n", "line 2, processing_days"),
        ("code,name_vi,service,processing_days,active\nA,B,civil,1,maybe\n", "line 2, active"),
        ("code,name_vi,service,processing_days,documents_vi\nA,B,civil,1,x||y\n",
         "line 2, documents_vi"),
    ],
)
def test_parse_errors(text: str, where: str) -> None:
    with pytest.raises(CatalogError) as exc:
        parse_csv(text)
    assert any(where in e for e in exc.value.errors), exc.value.errors


def test_bom_and_blank_lines_are_fine() -> None:
    rows = parse_csv("\ufeffcode,name_vi,service,processing_days,active\n\nA,Á,civil,0,no\n")
    assert rows == [{"code": "A", "name_vi": "Á", "name_en": "Á", "service_code": "civil",
                     "processing_days": 0, "documents": [], "fee_note_vi": None,
                     "fee_note_en": None, "active": False}]


def test_purge_applicants_command(demo: str) -> None:
    assert "0 ID card scan(s)" in run(demo, "purge-applicants")


def test_holidays_import_export(demo: str, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("day,name_vi,name_en\n2026-09-03,Nghỉ thêm,Extra day\n", encoding="utf-8")
    assert "1 holiday(s) saved" in run(demo, "holidays", "import", "--site", "TH", str(path))
    out = run(demo, "holidays", "export", "--site", "TH", "-")
    assert "2026-09-03,Nghỉ thêm,Extra day" in out and out.startswith("day,name_vi,name_en")
    bad = tmp_path / "bad.csv"
    bad.write_text("day,name_vi\n2026-13-01,X\n2026-12-24,\n", encoding="utf-8")
    msg = run(demo, "holidays", "import", "--site", "TH", str(bad), ok=False)
    assert "line 2, day" in msg and "line 3, name_vi" in msg and "nothing was changed" in msg
    assert run(demo, "holidays", "export", "--site", "TH", "-") == out


def test_dossier_cutoff_is_set_and_inherited(demo: str) -> None:
    from server.features.dossiers import cutoff_of

    def effective(code: str) -> str:
        db = Database(demo)
        with db.read() as s:
            value = f"{cutoff_of(s, s.scalar(select(Site).where(Site.code == code))):%H:%M}"
        db.dispose()
        return value

    assert effective("HACTHANH-P1") == "16:30"
    assert "after 16:00" in run(demo, "dossier-cutoff", "--site", "TH", "16:00")
    assert effective("HACTHANH-P1") == "16:00", "from the province, through the ward"
    run(demo, "dossier-cutoff", "--site", "HACTHANH", "11:30")
    assert effective("HACTHANH-P1") == "11:30" and effective("TTHCC-TH") == "16:00"
    assert "after 16:00" in run(demo, "dossier-cutoff", "--site", "HACTHANH", "inherit")
    assert "HH:MM" in run(demo, "dossier-cutoff", "--site", "TH", "4pm", ok=False)
