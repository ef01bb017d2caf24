"""Dossier receipt slips on the counter's own printer (``counters.printer_uri``), through the
app's print spool, after the intake commits (ARCHITECTURE.md rule 6). No fallback to a kiosk
printer: without a counter printer the answer says ``printed: false`` and the clerk's screen
offers the browser's print instead (``GET /api/v1/dossiers/{code}/receipt``)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from printers.layouts import ReceiptPrint, receipt_bytes
from printers.uri import parse_uri
from server.core import formats
from server.core.catalogs import catalogs
from server.features.dossiers import mask_id, track_url
from server.features.printing import Printing, latest_job, queue_job
from server.models import Counter, Dossier, PrinterState, Site, Ticket

log = logging.getLogger("motcua.receipts")

def collect_at(site: Site, delivery: str, lang: str) -> str:
    """Where the result is handed over, in the receipt's language."""
    if delivery == "post":
        return catalogs.text("receipt", "collect_by_post", lang)
    name = site.name_en if lang == "en" else site.name_vi
    if site.address:
        return catalogs.text("receipt", "collect_at_desk_address", lang).format(
            site=name, address=site.address)
    return catalogs.text("receipt", "collect_at_desk", lang).format(site=name)


def receipt_print(session: Session, d: Dossier, base_url: str) -> ReceiptPrint:
    site = session.get(Site, d.site_id)
    assert site is not None
    ticket = session.get(Ticket, d.ticket_id) if d.ticket_id else None
    lang = ticket.lang if ticket is not None and ticket.lang in ("vi", "en") else "vi"
    proc = d.procedure
    return ReceiptPrint(
        site_name=site.name_en if lang == "en" else site.name_vi,
        code=d.code,
        applicant_name=d.applicant_name,
        procedure_name=proc.name_en if lang == "en" else proc.name_vi,
        documents=list(d.documents),
        received_at_local=formats.datetime(d.received_at, lang, site.timezone),
        due_at_local=formats.datetime(d.due_at, lang, site.timezone),
        collect_at=collect_at(site, d.delivery, lang),
        track_url=track_url(base_url, d.tracking_token),
        lang=lang,
        applicant_id_masked=mask_id(d.applicant_id_number),
        sets=d.sets,
    )


def receipt_view(r: ReceiptPrint) -> dict[str, Any]:
    """The slip as data, for the browser print of a counter without a printer."""
    return {
        "site_name": r.site_name,
        "code": r.code,
        "applicant_name": r.applicant_name,
        "applicant_id_masked": r.applicant_id_masked,
        "procedure_name": r.procedure_name,
        "documents": list(r.documents),
        "sets": r.sets,
        "received_at_local": r.received_at_local,
        "due_at_local": r.due_at_local,
        "collect_at": r.collect_at,
        "track_url": r.track_url,
        "lang": r.lang,
    }


def print_receipt(printing: Printing, code: str, base_url: str) -> dict[str, Any]:
    """Queue the receipt of dossier ``code`` on the printer of the counter that received it.
    Never raises: ``{"printed": true, "status": "queued", "job_id", "printer"}`` or
    ``{"printed": false, "status": "none" | "failed"}``. ``printed`` means handed to the
    spool (ESC/POS cannot confirm paper came out; a failed send raises a printer alert)."""
    try:
        with printing.db.write() as s:
            d = s.scalar(select(Dossier).where(Dossier.code == code))
            if d is None:
                return {"printed": False, "status": "failed"}
            counter = s.get(Counter, d.counter_id) if d.counter_id else None
            uri = counter.printer_uri if counter is not None else None
            if not uri:
                return {"printed": False, "status": "none"}
            layout = receipt_print(s, d, base_url)
            target = parse_uri(uri)
            data = receipt_bytes(layout, profile=target.profile, text=target.text)
            job = queue_job(s, printing, uri, data, f"dossier:{code}", site_id=d.site_id,
                            counter_id=d.counter_id, ticket_id=d.ticket_id)
            state = s.scalar(select(PrinterState.status).where(PrinterState.uri == uri))
        return {"printed": True, "status": "queued", "job_id": job.id, "printer": state}
    except Exception:
        log.exception("could not queue a receipt print", extra={"dossier": code})
        return {"printed": False, "status": "failed"}


def last_print(printing: Printing, code: str) -> dict[str, Any]:
    """The receipt job queued for dossier ``code`` most recently, in the shape of
    :func:`print_receipt` (for an idempotent replay of the intake: nothing is printed twice)."""
    with printing.db.read() as s:
        job = latest_job(s, f"dossier:{code}")
        if job is None:
            return {"printed": False, "status": "none"}
        if job.status == "failed":
            return {"printed": False, "status": "failed", "job_id": job.id}
        if job.status == "unknown":  # sent, never acknowledged: it may have printed
            return {"printed": True, "status": "unknown", "job_id": job.id,
                    "printer": printing.printer_state(job.uri)}
        return {"printed": True, "status": "queued", "job_id": job.id,
                "printer": printing.printer_state(job.uri)}
