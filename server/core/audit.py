"""The two append-only trails: the audit log (who changed what, before and after) and the
ticket event log (each step of a ticket)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from server.core.auth import Principal
from server.models import (
    AuditLog,
    Ticket,
    TicketEvent,
)


def record_ticket_event(
    session: Session,
    ticket: Ticket,
    type_: str,
    from_status: str | None,
    p: Principal,
    now: dt.datetime,
    data: dict[str, Any] | None = None,
) -> None:
    # Append-only and never read back in the unit of work: a plain INSERT, not an ORM object
    # (the unit-of-work flush of one object cost more than the rest of the insert).
    session.execute(
        insert(TicketEvent.__table__).values(
            ticket_id=ticket.id,
            site_id=ticket.site_id,
            service_id=ticket.service_id,
            type=type_,
            from_status=from_status,
            to_status=ticket.status,
            counter_id=ticket.counter_id,
            actor=p.actor,
            at=now,
            data=data,
        )
    )


def audit(
    session: Session,
    p: Principal,
    now: dt.datetime,
    site_id: int | None,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    session.add(
        AuditLog(
            at=now,
            actor=p.actor,
            site_id=site_id,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=before,
            after=after,
        )
    )
