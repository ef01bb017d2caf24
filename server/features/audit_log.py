"""Reading the audit log: the one reader behind the supervisors' ``GET /sites/{site}/audit``
and the admin console's ``GET /admin/audit`` (audit rows are written by ``core/audit.py``)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core import formats
from server.models import AuditLog


def entries(
    session: Session,
    site_ids: Collection[int] | None,
    limit: int,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """At most ``limit`` audit entries of the sites ``site_ids`` (every site when None), newest
    first; ``before``: only entries older than the entry of that id (the next page). Each
    entry: id, site_id, at (ISO 8601 UTC, as the API writes every time), actor, action,
    entity, entity_id, before, after. Permissions are the caller's."""
    q = select(AuditLog)
    if site_ids is not None:
        q = q.where(AuditLog.site_id.in_(list(site_ids)))
    if before is not None:
        q = q.where(AuditLog.id < before)
    return [
        {
            "id": r.id,
            "site_id": r.site_id,
            "at": formats.iso(r.at),
            "actor": r.actor,
            "action": r.action,
            "entity": r.entity,
            "entity_id": r.entity_id,
            "before": r.before,
            "after": r.after,
        }
        for r in session.scalars(q.order_by(AuditLog.id.desc()).limit(limit))
    ]
