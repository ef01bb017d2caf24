"""Webhooks: a site's (or its province's) subscription to event types, and one outbox row per
matching event, written in the unit of work of the event's cause.

The subscription is the ``webhook`` channel's settings (``message_channels``, so a province's
subscription serves its centres unless a centre has its own, and the credentials are shown as
``***`` like every channel's): the receiver's ``url``, the signing ``secret`` and the
``events`` patterns (``ticket.*``, ``dossier.*``, ``rating.*`` or exact types). See
messaging/webhook.py for the signature and docs/api.md for the payload.

:func:`react` runs just before each commit (``Database.before_commit``): every domain event of
the unit that a subscription names becomes a ``webhook`` message whose idempotency key
(``msg_…``, unique) is the ``webhook-id`` of each of its attempts. Failed deliveries stay in the
outbox as dead letters (:func:`dead_letters`); :func:`retry` queues one again with the same
key, so a receiver that did get an earlier attempt recognises it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from messaging.base import Message
from messaging.phone import masked
from messaging.webhook import matches
from server.core.audit import audit
from server.core.auth import Principal
from server.core.db import Database
from server.core.errors import not_found
from server.core.formats import iso
from server.features import notifications, outbox
from server.models import OutboxMessage, Site

log = logging.getLogger("motcua.webhooks")

#: Fields of event data never sent to a receiver (capabilities and personal data).
PRIVATE = ("token", "phone", "id_number", "name", "address")


def payload(event_type: str, site: Site, data: dict[str, Any],
            at: dt.datetime) -> dict[str, Any]:
    """The documented body: ``type``, ``timestamp`` (UTC, ISO 8601) and ``data`` (the event's
    fields, the site's code added, private fields left out)."""
    clean = {k: v for k, v in data.items() if not any(p in k for p in PRIVATE)}
    return {"type": event_type, "timestamp": iso(at),
            "data": {"site": site.code, **clean}}


def react(session: Session, clock: Callable[[], dt.datetime],
          wake: Callable[[], None] | None = None) -> int:
    """Before a unit of work commits: one webhook message per subscribed event. Returns how
    many were written."""
    events = [e for e in session.info.get("events") or []
              if e.type.split(".", 1)[0] in ("ticket", "dossier", "rating")]
    if not events:
        return 0
    now = clock()
    written = 0
    for e in events:
        row = notifications.channel_row(session, e.site_id, "webhook")
        if row is None or not row.enabled:
            continue
        config = row.config or {}
        patterns = [str(p) for p in config.get("events") or []]
        if not config.get("url") or not matches(patterns, e.type):
            continue
        site = session.get(Site, e.site_id)
        assert site is not None
        body = payload(e.type, site, dict(e.data), now)
        message = Message(channel="webhook", kind=e.type[:32], to=str(config["url"]),
                          text=e.type, idempotency_key="msg_" + uuid.uuid4().hex,
                          ref=f"site:{site.code}", data=body, created_at=now)
        written += outbox.enqueue(session, message, site_id=e.site_id, wake=wake)
    return written


def install(db: Database, policy: notifications.Policy) -> None:
    """Write the webhook messages of every unit of work of ``db`` with it."""
    db.before_commit.append(lambda s: react(s, policy.clock, policy.wake))


def subscription(session: Session, site_id: int) -> dict[str, Any] | None:
    """The subscription in effect at ``site_id`` (credentials hidden), or None."""
    row = notifications.channel_row(session, site_id, "webhook")
    if row is None:
        return None
    view = notifications.channel_view(row)
    view["inherited"] = row.site_id != site_id
    return view


def _dead_view(r: OutboxMessage) -> dict[str, Any]:
    return {"id": r.id, "channel": r.channel, "kind": r.kind,
            "to": r.recipient if r.channel == "webhook" else masked(r.recipient),
            "ref": r.ref, "attempts": r.attempts, "error": r.last_error,
            "idempotency_key": r.idempotency_key, "created_at": iso(r.created_at),
            "failed_at": iso(r.finished_at)}


def dead_letters(session: Session, site_id: int, channel: str | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
    """Messages of the site that failed for good, newest first (phone numbers masked)."""
    q = select(OutboxMessage).where(OutboxMessage.site_id == site_id,
                                    OutboxMessage.status == outbox.FAILED)
    if channel is not None:
        q = q.where(OutboxMessage.channel == channel)
    rows = session.scalars(q.order_by(OutboxMessage.finished_at.desc()).limit(limit)).all()
    return [_dead_view(r) for r in rows]


def retry(session: Session, p: Principal, site_id: int, message_id: str, now: dt.datetime,
          wake: Callable[[], None] | None = None) -> dict[str, Any]:
    """Queue a dead letter again, now, with its attempts counted afresh and the same
    idempotency key (the receiver recognises a repeat). Only a failed message of the site:
    a second click finds it queued and changes nothing (404)."""
    changed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.site_id == site_id,
               OutboxMessage.status == outbox.FAILED)
        .values(status=outbox.QUEUED, attempts=0, next_attempt_at=now, finished_at=None,
                lease_until=None, sending_at=None)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise not_found("message")
    row = session.get(OutboxMessage, message_id)
    assert row is not None
    session.refresh(row)
    audit(session, p, now, site_id, "outbox.retry", "outbox_message", message_id, None,
          {"channel": row.channel, "kind": row.kind})
    outbox.wake_after_commit(session, wake)
    view = _dead_view(row)
    view["status"] = row.status
    return view


__all__ = ["dead_letters", "install", "payload", "react", "retry", "subscription"]
