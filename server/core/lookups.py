"""Rows by their public key, with the API's 404 when missing: site, counter, ticket, dossier."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core.errors import not_found
from server.models import Counter, Dossier, Site, Ticket

# --- lookups ------------------------------------------------------------------------------


def get_site(session: Session, code: str) -> Site:
    site = session.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise not_found("site")
    return site


MAX_ID = 2**31 - 1  # ids are 32-bit integers in every backend we run on


def get_counter(session: Session, counter_id: int, lock: bool = False) -> Counter:
    if not 1 <= counter_id <= MAX_ID:
        raise not_found("counter")
    q = select(Counter).where(Counter.id == counter_id)
    if lock:
        q = q.with_for_update()
    counter = session.scalar(q)
    if counter is None:
        raise not_found("counter")
    return counter


def get_ticket(session: Session, ticket_id: int, lock: bool = True) -> Ticket:
    if not 1 <= ticket_id <= MAX_ID:
        raise not_found("ticket")
    q = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        q = q.with_for_update()
    ticket = session.scalar(q)
    if ticket is None:
        raise not_found("ticket")
    return ticket


MAX_DOSSIER_CODE = 80  # longer codes are not ours: 404 without a query


def get_dossier(session: Session, code: str, lock: bool = False) -> Dossier:
    if len(code) > MAX_DOSSIER_CODE:
        raise not_found("dossier")
    q = select(Dossier).where(Dossier.code == code)
    if lock:
        q = q.with_for_update()
    dossier = session.scalar(q)
    if dossier is None:
        raise not_found("dossier")
    return dossier
