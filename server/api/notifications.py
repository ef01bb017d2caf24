"""Messages to citizens: what the kiosk offers, channel settings per province or site, test
messages and the outbox as the supervisor sees it (numbers masked). Thin endpoints over
``server.features.notifications``; the admin console (channels) calls the same functions."""

from __future__ import annotations

from typing import Any, Literal

from flask import Response, current_app
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.http import (
    ADMIN_ROLES,
    ANY_ROLE,
    LEAD_ROLES,
    body,
    endpoint,
    now,
    read_json,
    write_json,
)
from server.core import auth
from server.core.auth import Principal
from server.core.catalogs import catalogs
from server.core.lookups import get_site
from server.features import admin, notifications
from server.models import Service


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ChannelIn(_In):
    enabled: bool = True
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="The channel's settings (sms: url, method, headers, body, brandname, "
        "phone_format, ok_codes…; zns: access_token, templates; rate_per_second)",
    )
    templates: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Texts per kind and language, e.g. {"near": {"vi": "…", "en": "…"}}; '
        "fields {number} {site} {service} {ahead} {counter} {url}",
    )


class TestIn(_In):
    to: str = Field(min_length=3, max_length=320, description="A phone number (or address)")
    lang: Literal["vi", "en"] = "vi"


class ChannelOut(BaseModel):
    channel: str
    site_id: int
    enabled: bool
    config: dict[str, Any]
    templates: dict[str, dict[str, str]]
    updated_at: str | None
    inherited: bool | None = None


class ChannelsOut(BaseModel):
    channels: list[ChannelOut]
    delivery: str | None = Field(description="The channel citizens' messages use here")


class TestOut(BaseModel):
    channel: str
    to: str
    idempotency_key: str
    status: str


class OfferOut(BaseModel):
    available: bool = Field(description="The kiosk may offer the phone step")
    near_ahead: dict[str, int] = Field(description="Per service code: people ahead for "
                                       "the \"near\" message")
    consent: dict[str, str]
    consent_version: str


class OutboxOut(BaseModel):
    counts: dict[str, dict[str, int]]
    problems: list[dict[str, Any]]


def _policy() -> notifications.Policy:
    policy: notifications.Policy = current_app.extensions["motcua_outbox"].policy
    return policy


@endpoint("GET", "/sites/<site>/notifications", summary="What the kiosk offers: the phone "
          "step, its consent text, people ahead for the \"near\" message per service",
          tag="notifications", auth="any token of the site", roles=ANY_ROLE,
          responses={200: OfferOut}, errors=[401, 403, 404])
def offer(site: str) -> Response:
    policy = _policy()

    def run(s: Session, p: Principal) -> dict[str, Any]:
        row = get_site(s, site)
        auth.require(auth.can_read_site(s, p, row.id))
        services = s.scalars(select(Service).where(Service.site_id == row.id)).all()
        return {
            "available": notifications.offers_messages(s, row.id, policy),
            "near_ahead": {sv.code: notifications.near_ahead(sv) for sv in services},
            "consent": catalogs.both("notifications", "consent"),
            "consent_version": notifications.CONSENT_VERSION,
        }

    return read_json(run)


@endpoint("GET", "/sites/<site>/channels", summary="Message channels in effect at a site "
          "(its own or inherited from the province; credentials hidden)",
          tag="notifications", auth="admins; supervisors of the site", roles=LEAD_ROLES,
          responses={200: ChannelsOut}, errors=[401, 403, 404])
def channels(site: str) -> Response:
    policy = _policy()
    return read_json(lambda s, p: notifications.list_channels(
        s, admin.site_for_read(s, p, site).id, policy))


@endpoint("PUT", "/sites/<site>/channels/<name>", summary="Set a message channel's settings "
          "and texts for a site (a province's serve its centres)",
          tag="notifications", auth="admins", roles=ADMIN_ROLES, body=ChannelIn,
          responses={200: ChannelOut}, errors=[401, 403, 404, 422])
def configure(site: str, name: str) -> Response:
    policy = _policy()

    def run(s: Session, p: Principal) -> dict[str, Any]:
        row = admin.site_for_write(s, p, site)
        data = body(ChannelIn)
        return notifications.configure_channel(
            s, row.id, name, enabled=data.enabled, config=data.config,
            templates=data.templates, now=now(), policy=policy)

    return write_json(run)


@endpoint("POST", "/sites/<site>/channels/<name>/test", summary="Queue a test message "
          "through a channel (the outbox shows whether the gateway took it)",
          tag="notifications", auth="admins", roles=ADMIN_ROLES, body=TestIn,
          responses={202: TestOut}, errors=[401, 403, 404, 422])
def test_message(site: str, name: str) -> Response:
    policy = _policy()

    def run(s: Session, p: Principal) -> dict[str, Any]:
        row = admin.site_for_write(s, p, site)
        data = body(TestIn)
        return notifications.send_test(s, row, name, data.to, data.lang, now(), policy)

    return write_json(run, 202)


@endpoint("GET", "/sites/<site>/outbox", summary="Today's messages by channel and status, and "
          "those waiting or failed (numbers masked)",
          tag="notifications", auth="admins; supervisors of the site", roles=LEAD_ROLES,
          responses={200: OutboxOut}, errors=[401, 403, 404])
def outbox_view(site: str) -> Response:
    return read_json(lambda s, p: notifications.outbox_view(
        s, admin.site_for_read(s, p, site).id, now()))
