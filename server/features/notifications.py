"""Messages to citizens: a phone number left at the kiosk, then one message when N people
are ahead ("near") and one when the ticket is called ("called", with the counter), never more
than these two per ticket; channel settings per province or site; limits and privacy.

Every message is an outbox row (server/features/outbox.py) written in the unit of work of its
cause: :func:`react` runs just before each commit (``Database.before_commit``) and looks at the
unit's domain events: a ``ticket.called`` writes that ticket's "called" message and may bring
other tickets of its service within N of the counter ("near"). The idempotency keys
``ticket:{id}:near`` and ``ticket:{id}:called`` are unique in the table, so a replayed or
retried cause never writes a third message.

Privacy (ARCHITECTURE.md rule 7): the number is kept with the ticket (``ticket_contacts``) with
the consent shown on screen, and deleted at the end of the ticket's business day
(:func:`purge_contacts`); finished messages of past days keep only a masked number. Logs,
audit and the supervisor's view only ever show :func:`messaging.phone.masked` numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from messaging.base import CHANNEL_NAMES, Channel, Message
from messaging.file import FileChannel
from messaging.phone import masked
from messaging.sms import HttpSmsChannel
from messaging.smtp import SmtpChannel
from messaging.webhook import WebhookChannel
from messaging.zns import ZnsChannel
from server.core.catalogs import catalogs
from server.core.db import Database
from server.core.errors import AppError
from server.core.formats import iso
from server.features import outbox
from server.features.applicants import sites_today
from server.features.queues import line_after_changes, queue_snapshot
from server.models import (
    Counter,
    Dossier,
    DossierEvent,
    MessageChannel,
    OutboxMessage,
    Service,
    Site,
    Ticket,
    TicketContact,
)
from server.rules.calendar import business_day, day_start, local

log = logging.getLogger("motcua.notifications")

#: The consent text the kiosk shows (kiosk/static/kiosk-phone.js); stored with each number.
CONSENT_VERSION = "2026-12"
#: People ahead when the "near" message goes, unless the service says otherwise.
DEFAULT_NEAR_AHEAD = 3
#: Gateway channels a site may configure, in the order tried for a citizen's messages.
GATEWAYS = ("zns", "sms")
#: Channels whose settings live here (HE20b's e-mail and webhook channels add theirs).
CONFIGURABLE = ("zns", "sms", "file", "email", "webhook")
#: Kinds that are sent at any hour (the citizen is waiting in the hall, or typing a code).
URGENT = frozenset({"near", "called", "booking_code", "test"})

#: The kinds of message, each with a default text in the catalogs' "notifications" entries
#: (of that key: a province rewords it there); a site may replace it per channel.
KINDS = ("near", "called", "test", "booking_code", "booking_confirmed", "booking_reminder",
         "booking_day_closed", "dossier_received", "dossier_supplement", "dossier_result",
         "dossier_refused")


def default_templates() -> dict[str, dict[str, str]]:
    """kind -> {"vi": text, "en": text}, the ``{field}`` placeholders left to fill."""
    out = {}
    for kind in KINDS:
        texts = catalogs.entry("notifications", kind)
        if texts is not None:
            out[kind] = texts
    return out


#: Dossier statuses that send the applicant a message, and the message's kind.
DOSSIER_KINDS = {"received": "dossier_received", "supplement_requested": "dossier_supplement",
                 "result_ready": "dossier_result", "refused": "dossier_refused"}
#: Fields a template may use, with sample values for checking its length.
SAMPLE = {"number": "A042", "site": "Trung tâm Phục vụ hành chính công", "ahead": 3,
          "service": "Hộ tịch", "url": "https://motcua.example.vn/t/" + "x" * 22,
          "counter": 12, "channel": "sms", "code": "000.00.00.H00-261207-0001",
          "procedure": "Đăng ký khai sinh", "due": "16:30 14/12/2026", "otp": "123456",
          "time": "09:30 14/12/2026"}


# --- the policy of one server ----------------------------------------------------------------


@dataclass
class Policy:
    """What :func:`react` and the dispatcher need from the server's settings."""

    base_url: str
    messages_file: Path | None = None
    daily_limit: int = 6
    quiet_hours: tuple[dt.time, dt.time] | None = None
    default_rate: float = 10.0
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    wake: Callable[[], None] | None = None


def parse_quiet_hours(value: str) -> tuple[dt.time, dt.time] | None:
    """``"21:00-07:00"`` → (21:00, 07:00); empty → None; anything else: ValueError."""
    if not value.strip():
        return None
    start, _, end = value.partition("-")
    return dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())


def after_quiet_hours(at: dt.datetime, tz: str,
                      quiet: tuple[dt.time, dt.time] | None) -> dt.datetime | None:
    """When a non-urgent message made at ``at`` may go: None (now) outside quiet hours."""
    if quiet is None:
        return None
    start, end = quiet
    here = local(at, tz)
    t = here.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    day = here.date() if t < end else here.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=here.tzinfo).astimezone(dt.UTC)


# --- phone numbers ---------------------------------------------------------------------------


def parse_phone(raw: str) -> str:
    """A Vietnamese mobile number as typed (``0912 345 678``, ``+84 912…``) → E.164
    (``+84912345678``); ``invalid_phone`` (422) for anything else."""
    digits = "".join(ch for ch in (raw or "") if ch.isdigit() or ch == "+")
    try:
        number = phonenumbers.parse(digits, "VN")
    except phonenumbers.NumberParseException as exc:
        raise AppError("invalid_phone") from exc
    kind = phonenumbers.number_type(number)
    if (number.country_code != 84 or not phonenumbers.is_valid_number(number)
            or kind not in (phonenumbers.PhoneNumberType.MOBILE,
                            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)):
        raise AppError("invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- channel settings ------------------------------------------------------------------------


def _lineage(session: Session, site_id: int) -> list[int]:
    """The site, its parent, … up to the province (the nearest settings win)."""
    out: list[int] = []
    current: int | None = site_id
    while current is not None and current not in out and len(out) < 8:
        out.append(current)
        current = session.scalar(select(Site.parent_id).where(Site.id == current))
    return out


def channels_at(session: Session, site_id: int) -> dict[str, MessageChannel]:
    """Every channel's settings in effect at ``site_id`` (its own, else its nearest parent's),
    read once per unit of work (a call may write several messages)."""
    cache = session.info.setdefault("motcua_channels", {})
    found: dict[str, MessageChannel] | None = cache.get(site_id)
    if found is None:
        lineage = _lineage(session, site_id)
        rank = {s: i for i, s in enumerate(lineage)}
        found = {}
        for row in sorted(session.scalars(select(MessageChannel).where(
                MessageChannel.site_id.in_(lineage))), key=lambda r: -rank[r.site_id]):
            found[row.channel] = row  # nearer sites last: they win
        cache[site_id] = found
    return found


def channel_row(session: Session, site_id: int, name: str) -> MessageChannel | None:
    """The settings of channel ``name`` for ``site_id``: its own, else its nearest parent's."""
    return channels_at(session, site_id).get(name)


def build_channel(name: str, config: dict[str, Any], policy: Policy) -> Channel | None:
    """The adapter for ``name`` with ``config`` (None: not usable here)."""
    if name == "sms":
        return HttpSmsChannel(dict(config))
    if name == "zns":
        return ZnsChannel(dict(config))
    if name == "file":
        return FileChannel(policy.messages_file) if policy.messages_file else None
    if name == "email":
        return SmtpChannel(dict(config))
    if name == "webhook":
        return WebhookChannel(dict(config))
    return None


def delivery_channel(session: Session, site_id: int, policy: Policy,
                     kind: str | None = None) -> str | None:
    """The channel a citizen's messages at ``site_id`` go through: the first enabled gateway
    (ZNS, then SMS) that carries ``kind`` (a gateway's ``kinds`` setting lists the kinds it
    carries; absent: all), else the demo's file when there is one, else None (the kiosk then
    offers no phone step)."""
    for name in GATEWAYS:
        row = channel_row(session, site_id, name)
        kinds = (row.config or {}).get("kinds") if row is not None else None
        if row is not None and row.enabled and (kind is None or not kinds or kind in kinds):
            return name
    if policy.messages_file is not None:
        row = channel_row(session, site_id, "file")
        if row is None or row.enabled:
            return "file"
    return None


def offers_messages(session: Session, site_id: int, policy: Policy) -> bool:
    """Whether the kiosk offers citizens the phone step at ``site_id``: a gateway (ZNS or SMS)
    is enabled there, or the demo's file channel is, explicitly (a ``file`` channel row: the
    demo's file alone, which other messages fall back to, does not make kiosks ask)."""
    channels = channels_at(session, site_id)
    if any(channels[n].enabled for n in GATEWAYS if n in channels):
        return True
    row = channels.get("file")
    return row is not None and row.enabled and policy.messages_file is not None


def templates_for(session: Session, site_id: int, channel: str) -> dict[str, dict[str, str]]:
    row = channel_row(session, site_id, channel)
    merged = default_templates()
    for kind, texts in ((row.templates if row is not None else None) or {}).items():
        merged.setdefault(kind, {}).update({k: str(v) for k, v in texts.items()})
    return merged


def render(template: str, values: dict[str, Any]) -> str:
    """``template`` with ``{field}`` filled; an unknown field stays as written."""
    class Keep(dict[str, Any]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"
    return string.Formatter().vformat(template, (), Keep(values))


def check_templates(name: str, channel: Channel | None,
                    templates: dict[str, dict[str, str]]) -> None:
    """Every text within the channel's length limit, rendered with long sample values."""
    limit = getattr(channel, "max_length", None)
    for kind, texts in templates.items():
        for lang, text in texts.items():
            if lang not in ("vi", "en"):
                raise AppError("channel_config_invalid", name=name,
                               detail=f"templates.{kind}: language {lang} (vi or en)")
            if name == "zns":
                continue  # ZNS sends its own approved template; the text is for the record
            length = len(render(text, SAMPLE))
            if limit is not None and length > limit:
                raise AppError("template_too_long", kind=kind, lang=lang, length=length,
                               limit=limit, name=name)


def configure_channel(session: Session, site_id: int, name: str, *, enabled: bool = True,
                      config: dict[str, Any] | None = None,
                      templates: dict[str, dict[str, str]] | None = None,
                      now: dt.datetime, policy: Policy) -> dict[str, Any]:
    """Set channel ``name``'s settings at ``site_id`` (a province's serve its centres): the
    one writer of ``message_channels``, for the admin console, the API and the config file.
    The adapter is built once to check the settings; texts are checked against its limit."""
    if name not in CONFIGURABLE:
        raise AppError("unknown_channel", name=name, names=", ".join(CONFIGURABLE))
    row = session.scalar(select(MessageChannel).where(MessageChannel.site_id == site_id,
                                                      MessageChannel.channel == name))
    # Credentials come back as "***" from every view: a "***" keeps the stored value.
    config = _unredacted(dict(config or {}), row.config if row is not None else None)
    templates = {k: dict(v) for k, v in (templates or {}).items()}
    try:
        channel = build_channel(name, config, policy)
    except (ValueError, TypeError) as exc:
        raise AppError("channel_config_invalid", name=name, detail=str(exc)) from exc
    merged = default_templates()
    for kind, texts in templates.items():
        merged.setdefault(kind, {}).update(texts)
    check_templates(name, channel, merged)
    if row is None:
        row = MessageChannel(site_id=site_id, channel=name)
        session.add(row)
    row.enabled, row.config, row.templates, row.updated_at = enabled, config, templates, now
    session.flush()
    session.info.pop("motcua_channels", None)
    return channel_view(row)


SECRET_KEYS = ("access_token", "secret", "password", "apikey", "api_key", "secretkey",
               "authorization", "token")


def _redacted(value: Any) -> Any:
    """Settings as shown back: credentials replaced by ``"***"``."""
    if isinstance(value, dict):
        return {k: ("***" if any(s in str(k).lower() for s in SECRET_KEYS) and v else
                    _redacted(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def channel_view(row: MessageChannel) -> dict[str, Any]:
    return {"channel": row.channel, "site_id": row.site_id, "enabled": row.enabled,
            "config": _redacted(row.config or {}), "templates": row.templates or {},
            "updated_at": iso(row.updated_at)}


def site_channels(session: Session, site_id: int) -> list[dict[str, Any]]:
    """The site's own channel settings as the configuration file holds them (credentials as
    ``"***"``)."""
    rows = session.scalars(select(MessageChannel).where(MessageChannel.site_id == site_id)
                           .order_by(MessageChannel.channel)).all()
    return [{"channel": r.channel, "enabled": r.enabled, "config": _redacted(r.config or {}),
             "templates": r.templates or {}} for r in rows]


def _unredacted(given: Any, stored: Any) -> Any:
    """``given`` with every ``"***"`` replaced by the stored value at the same place."""
    if isinstance(given, dict):
        old = stored if isinstance(stored, dict) else {}
        return {k: _unredacted(v, old.get(k)) for k, v in given.items()}
    if given == "***" and stored is not None:
        return stored
    return given


def import_channel(session: Session, site_id: int, name: str, enabled: bool,
                   config: dict[str, Any], templates: dict[str, dict[str, str]],
                   now: dt.datetime) -> dict[str, Any]:
    """A channel from the configuration file: as :func:`configure_channel` (an exported
    ``"***"`` keeps the stored credential)."""
    return configure_channel(session, site_id, name, enabled=enabled, config=config,
                             templates=templates, now=now, policy=Policy(base_url=""))


def list_channels(session: Session, site_id: int, policy: Policy) -> dict[str, Any]:
    """The channels in effect at ``site_id`` (own or inherited) and the one messages use."""
    out = []
    for name in CONFIGURABLE:
        row = channel_row(session, site_id, name)
        if row is not None:
            view = channel_view(row)
            view["inherited"] = row.site_id != site_id
            out.append(view)
    return {"channels": out, "delivery": delivery_channel(session, site_id, policy)}


def send_test(session: Session, site: Site, name: str, to: str, lang: str,
              now: dt.datetime, policy: Policy) -> dict[str, Any]:
    """Queue a test message through channel ``name`` (it goes like any other: the outbox
    shows whether the gateway took it)."""
    if name not in CONFIGURABLE:
        raise AppError("unknown_channel", name=name, names=", ".join(CONFIGURABLE))
    phone = parse_phone(to) if name in ("sms", "zns", "file") else to
    values: dict[str, Any] = {"site": site.name_vi if lang == "vi" else site.name_en,
                              "channel": name}
    text = render(templates_for(session, site.id, name)["test"][lang], values)
    key = f"test:{site.id}:{name}:{now.timestamp():.6f}"
    if name == "webhook":  # to the subscription's receiver, in the documented payload
        row = channel_row(session, site.id, "webhook")
        phone = str((row.config or {}).get("url") or to) if row is not None else to
        values = {"type": "webhook.test", "timestamp": iso(now),
                  "data": {"site": site.code, "text": text}}
        key = "msg_test_" + f"{site.id}_{now.timestamp():.6f}".replace(".", "_")
    message = Message(channel=name, kind="test", to=phone, text=text, idempotency_key=key,
                      ref=f"site:{site.code}", lang=lang, data=values, created_at=now)
    outbox.enqueue(session, message, site_id=site.id, wake=policy.wake)
    return {"channel": name, "to": masked(phone), "idempotency_key": key, "status": "queued"}


# --- the citizen's number --------------------------------------------------------------------


def check_contact(session: Session, site_id: int, phone: str, consent: bool,
                  policy: Policy) -> str:
    """Before a ticket is issued with a phone number: consent given, a valid mobile number,
    and a channel to send through; the E.164 number. Refusals change nothing (422/409)."""
    if not consent:
        raise AppError("phone_consent_required")
    number = parse_phone(phone)
    if not offers_messages(session, site_id, policy):
        raise AppError("messages_unavailable")
    return number


def near_ahead(service: Service) -> int:
    return service.notify_ahead if service.notify_ahead is not None else DEFAULT_NEAR_AHEAD


def attach_contact(session: Session, ticket: Ticket, phone: str, ahead: int | None,
                   now: dt.datetime, policy: Policy) -> dict[str, Any]:
    """Keep ``phone`` (checked by :func:`check_contact`) with the new ticket, in its unit of
    work, with the consent's version. A ticket with N or fewer ahead already at issue will get
    only the "called" message (its "near" is recorded as dropped, so it is never sent)."""
    session.add(TicketContact(ticket_id=ticket.id, phone=phone, consent_at=now,
                              consent_version=CONSENT_VERSION))
    session.flush()
    limit = near_ahead(ticket.service)
    if ahead is not None and ahead <= limit:
        _queue(session, ticket, "near", phone, {"ahead": ahead}, now, policy,
               drop="already near at issue")
    log.info("phone number left for messages", extra={"ticket_id": ticket.id,
                                                      "phone": masked(phone)})
    return {"phone": masked(phone), "near_ahead": limit, "consent": CONSENT_VERSION}


def _values(ticket: Ticket, site: Site, policy: Policy,
            extra: dict[str, Any]) -> dict[str, Any]:
    service = ticket.service
    vi = ticket.lang != "en"
    return {
        "number": ticket.label,
        "site": site.name_vi if vi else site.name_en,
        "service": service.name_vi if vi else service.name_en,
        "url": f"{policy.base_url.rstrip('/')}/t/{ticket.tracking_token}",
        **extra,
    }


def _sent_today(session: Session, phone: str, since: dt.datetime) -> int:
    return int(session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.recipient == phone, OutboxMessage.created_at >= since,
            OutboxMessage.status != outbox.DROPPED)) or 0)


def _queue(session: Session, ticket: Ticket, kind: str, phone: str, extra: dict[str, Any],
           now: dt.datetime, policy: Policy, drop: str | None = None) -> bool:
    channel = delivery_channel(session, ticket.site_id, policy, kind)
    if channel is None:
        drop = drop or "no channel configured"
        channel = "file"
    lang = "en" if ticket.lang == "en" else "vi"
    site = session.get(Site, ticket.site_id)
    assert site is not None
    values = _values(ticket, site, policy, extra)
    text = render(templates_for(session, ticket.site_id, channel)[kind][lang], values)
    if drop is None and _sent_today(session, phone, day_start(
            business_day(now, site.timezone), site.timezone)) >= policy.daily_limit:
        drop = "daily limit of messages to this number"
    not_before = None if kind in URGENT else after_quiet_hours(now, site.timezone,
                                                              policy.quiet_hours)
    message = Message(channel=channel, kind=kind, to=phone, text=text,
                      idempotency_key=f"ticket:{ticket.id}:{kind}", ref=f"ticket:{ticket.id}",
                      lang=lang, data=values, created_at=now)
    written = outbox.enqueue(session, message, site_id=ticket.site_id, ticket_id=ticket.id,
                             not_before=not_before,
                             status=outbox.DROPPED if drop else outbox.QUEUED, error=drop,
                             wake=policy.wake)
    if written and drop and not drop.startswith("already"):
        log.warning("message not sent", extra={"ticket_id": ticket.id, "kind": kind,
                                               "phone": masked(phone), "reason": drop})
    return written


#: Events after which a service's line moved forward (tickets ahead left it).
LINE_MOVED = ("ticket.called", "ticket.transferred", "ticket.no_show")


def react(session: Session, policy: Policy) -> None:
    """Before a unit of work commits: the "called" message of each ticket it called, and the
    "near" message of each ticket its calls brought within N of the counter."""
    events = session.info.get("events") or []
    moved = [e for e in events if e.type in LINE_MOVED and e.data.get("ticket_id")]
    dossiers = [e for e in events if e.type == "dossier.changed"
                and e.data.get("status") in DOSSIER_KINDS]
    if not moved and not dossiers:
        return
    now = policy.clock()
    for e in dossiers:
        _dossier(session, str(e.data.get("code")), now, policy)
    services: set[int] = set()
    for e in moved:
        ticket = session.get(Ticket, e.data["ticket_id"])
        if ticket is None:
            continue
        services.add(ticket.service_id)
        if e.type == "ticket.called":
            _called(session, ticket, e.data, now, policy)
    for service_id in sorted(services):
        _near(session, service_id, now, policy)


def _dossier(session: Session, code: str, now: dt.datetime, policy: Policy) -> None:
    """The applicant's message for the dossier's new status (received with its code and due
    date, supplement requested, result ready, refused) to the phone given on the form, through
    the channel the province chose for that kind. One per step: a second supplement request
    is a second step and gets its own message."""
    d = session.scalar(select(Dossier).where(Dossier.code == code))
    if d is None or not d.applicant_phone or d.status not in DOSSIER_KINDS:
        return
    kind = DOSSIER_KINDS[d.status]
    try:
        phone = parse_phone(d.applicant_phone)
    except AppError:
        log.info("dossier phone is not a mobile number: no message",
                 extra={"dossier": d.code, "phone": masked(d.applicant_phone)})
        return
    steps = int(session.scalar(select(func.count()).select_from(DossierEvent).where(
        DossierEvent.dossier_id == d.id, DossierEvent.status_to == d.status)) or 0)
    site = session.get(Site, d.site_id)
    assert site is not None
    ticket = session.get(Ticket, d.ticket_id) if d.ticket_id is not None else None
    lang = "en" if ticket is not None and ticket.lang == "en" else "vi"
    vi = lang == "vi"
    channel = delivery_channel(session, d.site_id, policy, kind)
    drop = None if channel is not None else "no channel configured"
    channel = channel or "file"
    values = {
        "code": d.code,
        "site": site.name_vi if vi else site.name_en,
        "procedure": d.procedure.name_vi if vi else d.procedure.name_en,
        "due": local(d.due_at, site.timezone).strftime("%H:%M %d/%m/%Y"),
        "url": f"{policy.base_url.rstrip('/')}/d/{d.tracking_token}",
    }
    text = render(templates_for(session, d.site_id, channel)[kind][lang], values)
    message = Message(channel=channel, kind=kind, to=phone, text=text,
                      idempotency_key=f"dossier:{d.id}:{kind}:{steps}", ref=f"dossier:{d.code}",
                      lang=lang, data=values, created_at=now)
    not_before = after_quiet_hours(now, site.timezone, policy.quiet_hours)
    outbox.enqueue(session, message, site_id=d.site_id, not_before=not_before,
                   status=outbox.DROPPED if drop else outbox.QUEUED, error=drop,
                   wake=policy.wake)


def _contact_phone(session: Session, ticket_id: int) -> str | None:
    return session.scalar(select(TicketContact.phone).where(
        TicketContact.ticket_id == ticket_id, TicketContact.phone.is_not(None)))


def _called(session: Session, ticket: Ticket, data: dict[str, Any], now: dt.datetime,
            policy: Policy) -> None:
    phone = _contact_phone(session, ticket.id)
    if phone is None:
        return
    counter = data.get("counter")
    if counter is None and ticket.counter_id is not None:
        counter = session.scalar(select(Counter.number).where(Counter.id == ticket.counter_id))
    extra: dict[str, Any] = {"counter": counter}
    names = data.get("counter_site_name")
    if isinstance(names, dict):  # a counter of another site: its name in the text
        extra["site"] = names.get("en" if ticket.lang == "en" else "vi") or ""
    _queue(session, ticket, "called", phone, extra, now, policy)


def _near(session: Session, service_id: int, now: dt.datetime, policy: Policy) -> None:
    """The first N+1 of the service's call order (N or fewer ahead) that left a number and
    have no "near" message yet get theirs: one query over those few tickets, the line being
    the one the unit of work already read for the screens (read here only when it did not)."""
    service = session.get(Service, service_id)
    assert service is not None
    # Held while the messages are written: the session's identity map keeps only what is
    # referenced, and each message needs the site.
    site = session.get(Site, service.site_id)
    assert site is not None
    line = line_after_changes(session, service_id)
    if line is None:
        line = queue_snapshot(session, site, now, services=[service]).lines[service_id]
    # Exact for the first STATS_ORDER_LIMIT places; N is at most 50 (siteconfig).
    head = line.order()[:near_ahead(service) + 1]
    if not head:
        return
    has_near = select(OutboxMessage.id).where(OutboxMessage.ticket_id == Ticket.id,
                                              OutboxMessage.kind == "near").exists()
    rows = session.execute(
        select(Ticket, TicketContact.phone)
        .join(TicketContact, TicketContact.ticket_id == Ticket.id)
        .where(Ticket.id.in_(head), Ticket.status == "waiting",
               TicketContact.phone.is_not(None), ~has_near)
    ).all()
    place = {ticket_id: i for i, ticket_id in enumerate(head)}
    for ticket, phone in sorted(rows, key=lambda r: place[r[0].id]):
        _queue(session, ticket, "near", phone, {"ahead": place[ticket.id]}, now, policy)


def install(db: Database, policy: Policy) -> None:
    """Write the messages of every unit of work of ``db`` with it (see :func:`react`)."""
    db.before_commit.append(lambda s: react(s, policy))


# --- privacy ---------------------------------------------------------------------------------


def purge_contacts(session: Session, now: dt.datetime, site_id: int | None = None,
                   dry_run: bool = False) -> int:
    """Delete the phone numbers of tickets of business days before today (each site's own
    today), and mask the number of their finished messages. Dossiers keep theirs (they are
    not here). Returns how many numbers were (``dry_run``: would be) deleted."""
    removed = 0
    for site, today in sites_today(session, now, site_id):
        old = select(Ticket.id).where(Ticket.site_id == site.id, Ticket.business_day < today)
        live = and_(TicketContact.ticket_id.in_(old), TicketContact.phone.is_not(None))
        if dry_run:
            removed += int(session.scalar(
                select(func.count()).select_from(TicketContact).where(live)) or 0)
            continue
        removed += int(session.execute(
            update(TicketContact).where(live).values(phone=None, purged_at=now)
            .execution_options(synchronize_session=False)).rowcount or 0)
        for row in session.scalars(select(OutboxMessage).where(
                OutboxMessage.ticket_id.in_(old),
                OutboxMessage.status.in_([outbox.SENT, outbox.FAILED, outbox.DROPPED]),
                OutboxMessage.recipient.not_like("%*%"))):
            row.recipient = masked(row.recipient)
    return removed


# --- the supervisor's view -------------------------------------------------------------------


def outbox_view(session: Session, site_id: int, now: dt.datetime,
                limit: int = 50) -> dict[str, Any]:
    """The site's messages today by channel and status, and the newest that are waiting or
    failed, numbers masked (the supervisor's printers and alerts view)."""
    site = session.get(Site, site_id)
    assert site is not None
    since = day_start(business_day(now, site.timezone), site.timezone)
    by = session.execute(
        select(OutboxMessage.channel, OutboxMessage.status, func.count())
        .where(OutboxMessage.site_id == site_id, OutboxMessage.created_at >= since)
        .group_by(OutboxMessage.channel, OutboxMessage.status)).all()
    counts: dict[str, dict[str, int]] = {}
    for channel, status, n in by:
        counts.setdefault(channel, {})[status] = int(n)
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.site_id == site_id,
               OutboxMessage.status.in_([outbox.QUEUED, outbox.SENDING, outbox.FAILED]),
               OutboxMessage.created_at >= since)
        .order_by(OutboxMessage.created_at.desc()).limit(limit)).all()
    return {
        "counts": counts,
        "problems": [{
            "id": r.id, "channel": r.channel, "kind": r.kind, "to": masked(r.recipient),
            "ref": r.ref, "status": r.status, "attempts": r.attempts, "error": r.last_error,
            "created_at": iso(r.created_at), "next_attempt_at": iso(r.next_attempt_at),
        } for r in rows],
    }


def failing_gateways(session: Session, site_id: int, now: dt.datetime,
                     window: dt.timedelta = dt.timedelta(minutes=10)) -> list[dict[str, Any]]:
    """Channels of the site with messages of the last ``window`` waiting after a failed
    attempt (or failed for good) and none sent in that window: a gateway failing, raised like
    a printer out of paper."""
    since = now - window
    sent = case((OutboxMessage.status == outbox.SENT, 1), else_=0)
    troubled = case((and_(OutboxMessage.status != outbox.SENT,
                          OutboxMessage.last_error.is_not(None)), 1), else_=0)
    rows = session.execute(
        select(OutboxMessage.channel, func.sum(sent), func.sum(troubled),
               func.max(OutboxMessage.last_error))
        .where(OutboxMessage.site_id == site_id, OutboxMessage.created_at >= since,
               OutboxMessage.status != outbox.DROPPED)
        .group_by(OutboxMessage.channel)).all()
    return [{"channel": channel, "messages": int(bad or 0), "error": error}
            for channel, ok, bad, error in rows if not ok and bad]


__all__ = [
    "CHANNEL_NAMES", "CONFIGURABLE", "KINDS", "Policy", "attach_contact",
    "build_channel", "channel_row", "check_contact", "configure_channel", "delivery_channel",
    "failing_gateways", "install", "list_channels", "outbox_view", "parse_phone",
    "purge_contacts", "react", "send_test",
]
