"""Webhooks: the subscription in effect at a site (set with ``PUT
/sites/<site>/channels/webhook``), the dead-letter list and its retry. Thin endpoints over
``server.features.webhooks``; the admin console calls the same functions."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from messaging.webhook import EVENT_FAMILIES
from server.api.http import ADMIN_ROLES, LEAD_ROLES, endpoint, now, read_json, write_json
from server.core.auth import Principal
from server.features import admin, webhooks


class SubscriptionOut(BaseModel):
    subscription: dict[str, Any] | None = Field(
        description="The webhook channel's settings in effect (url, events, secret as ***), "
        "or null")
    families: list[str] = Field(description="Event families a subscription may name")


class DeadLetter(BaseModel):
    id: str
    channel: str
    kind: str
    to: str = Field(description="The receiver's URL, or a masked number or address")
    ref: str | None
    attempts: int
    error: str | None
    idempotency_key: str = Field(description="The webhook-id of every attempt")
    created_at: str | None
    failed_at: str | None
    status: str | None = None


class DeadLettersOut(BaseModel):
    dead_letters: list[DeadLetter]


def _wake() -> Any:
    return current_app.extensions["motcua_outbox"].wake


@endpoint("GET", "/sites/<site>/webhooks", summary="The webhook subscription in effect at a "
          "site (its own or the province's; the secret hidden)",
          tag="webhooks", auth="admins; supervisors of the site", roles=LEAD_ROLES,
          responses={200: SubscriptionOut}, errors=[401, 403, 404])
def subscription(site: str) -> Response:
    return read_json(lambda s, p: {
        "subscription": webhooks.subscription(s, admin.site_for_read(s, p, site).id),
        "families": list(EVENT_FAMILIES)})


@endpoint("GET", "/sites/<site>/dead-letters", summary="Messages that failed for good "
          "(webhooks and others), newest first; ?channel=webhook to keep one channel",
          tag="webhooks", auth="admins; supervisors of the site", roles=LEAD_ROLES,
          responses={200: DeadLettersOut}, errors=[401, 403, 404])
def dead_letters(site: str) -> Response:
    channel = request.args.get("channel") or None
    return read_json(lambda s, p: {"dead_letters": webhooks.dead_letters(
        s, admin.site_for_read(s, p, site).id, channel)})


@endpoint("POST", "/sites/<site>/dead-letters/<message_id>/retry", summary="Send a dead letter "
          "again (same webhook-id: a receiver that got an earlier attempt recognises it)",
          tag="webhooks", auth="admins", roles=ADMIN_ROLES,
          responses={202: DeadLetter}, errors=[401, 403, 404])
def retry(site: str, message_id: str) -> Response:
    wake = _wake()

    def run(s: Session, p: Principal) -> dict[str, Any]:
        row = admin.site_for_write(s, p, site)
        return webhooks.retry(s, p, row.id, message_id, now(), wake)

    return write_json(run, 202)


