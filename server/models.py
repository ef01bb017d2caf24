"""Database models (SQLAlchemy 2.x, typed). Times are stored in UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


#: SQLite: ids from ``sqlite_sequence``, never ``max(rowid) + 1``, so a restore fence can make
#: them jump past the ids of rows lost with a restore (PostgreSQL: sequences). Migration 0011.
AUTOINCREMENT = {"sqlite_autoincrement": True}

# --- sites, services, counters -------------------------------------------------------------

SITE_KINDS = ("province", "centre", "point")
COUNTER_STATUSES = ("open", "paused", "closed")
ROLES = ("admin", "supervisor", "clerk")
DEVICE_KINDS = ("kiosk", "display")
TICKET_STATUSES = (
    "waiting",
    "called",
    "serving",
    "parked",
    "done",
    "no_show",
    "cancelled",
    "transferred",
    "unserved_at_close",  # still waiting/parked when the site closed (terminal)
)
CHANNELS = ("kiosk", "counter", "api", "transfer")


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="centre")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    agency_code: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(300))
    # Routing: call `interleave_priority` priority tickets, then `interleave_normal` normal ones.
    interleave_priority: Mapped[int] = mapped_column(Integer, default=1)
    interleave_normal: Mapped[int] = mapped_column(Integer, default=2)
    # A short message for the lobby displays, set by a supervisor.
    ticker_vi: Mapped[str | None] = mapped_column(String(300))
    ticker_en: Mapped[str | None] = mapped_column(String(300))
    # Dossiers received after this local time ("HH:MM") count from the next working day;
    # inherited from the parent sites, 16:30 when none sets it.
    dossier_cutoff: Mapped[str | None] = mapped_column(String(5))
    # On: the call starts the service (finish follows the call, no separate start; the
    # service time counts from the call). On for every site made here (the admin console,
    # the demo, imports) and, since migration 0019, for the sites from before; an admin may
    # turn it off per site. The server default stays off (migration 0015's) only for a row an
    # older node inserts without saying.
    call_starts_service: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=sa_false()
    )

    parent: Mapped[Site | None] = relationship(remote_side="Site.id")

    __table_args__ = (
        CheckConstraint(f"kind IN {SITE_KINDS!r}", name="kind"),
        CheckConstraint("interleave_priority >= 1 AND interleave_normal >= 0", name="interleave"),
    )


class Service(Base):
    __tablename__ = "services"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(4))
    sla_target_minutes: Mapped[int] = mapped_column(Integer, default=20)
    # Used for estimates until enough tickets have been served today.
    default_service_minutes: Mapped[float] = mapped_column(Float, default=8.0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    # A citizen who left a phone number is told when this many people are ahead (NULL: 3).
    notify_ahead: Mapped[int | None] = mapped_column(Integer)

    site: Mapped[Site] = relationship()

    __table_args__ = (
        UniqueConstraint("site_id", "code"),
        UniqueConstraint("site_id", "prefix"),
        CheckConstraint("sla_target_minutes > 0", name="sla_positive"),
    )


class Counter(Base):
    __tablename__ = "counters"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="closed")
    status_reason: Mapped[str | None] = mapped_column(String(200))
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    printer_uri: Mapped[str | None] = mapped_column(String(300))

    site: Mapped[Site] = relationship()
    profile: Mapped[list[CounterService]] = relationship(
        back_populates="counter", cascade="all, delete-orphan", order_by="CounterService.service_id"
    )

    __table_args__ = (
        UniqueConstraint("site_id", "number"),
        CheckConstraint(f"status IN {COUNTER_STATUSES!r}", name="status"),
    )


class CounterService(Base):
    """One line of a counter's work profile: a service it calls from, with a weight."""

    __tablename__ = "counter_services"
    counter_id: Mapped[int] = mapped_column(ForeignKey("counters.id"), primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    weight: Mapped[float] = mapped_column(Float, default=1.0)

    counter: Mapped[Counter] = relationship(back_populates="profile")
    service: Mapped[Service] = relationship()

    __table_args__ = (CheckConstraint("weight > 0", name="weight_positive"),)


class PriorityCategory(Base):
    __tablename__ = "priority_categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


# --- people and devices --------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Signing out raises it: every session cookie signed in under an older value is refused.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    sites: Mapped[list[Site]] = relationship(secondary="user_sites")

    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)


class UserSite(Base):
    __tablename__ = "user_sites"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    printer_uri: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A kiosk bound to a counter is that counter's rating tablet (and rates there only).
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))

    site: Mapped[Site] = relationship()

    __table_args__ = (
        UniqueConstraint("site_id", "name"),
        CheckConstraint(f"kind IN {DEVICE_KINDS!r}", name="kind"),
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str | None] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # None: no expiry
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # to the minute

    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)


# --- queue ---------------------------------------------------------------------------------


class ServiceDay(Base):
    """Per (service, business day): the atomic ticket counter and the interleave state."""

    __tablename__ = "service_days"
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    business_day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    last_class: Mapped[str | None] = mapped_column(String(16))
    run_length: Mapped[int] = mapped_column(Integer, default=0)
    # Numbers a restore fence jumped over on this day (never printed here): the daily cap
    # counts ``last_number - skipped`` tickets.
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SiteSeq(Base):
    """The per-site sequence number of realtime events. Incremented inside the transaction
    that causes the event, so the order of numbers is the order of commits at a site."""

    __tablename__ = "site_seq"
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    business_day: Mapped[dt.date] = mapped_column(Date)
    # The daily number drawn from the service's sequence; NULL for a transferred ticket,
    # which keeps its original label.
    number: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(16))
    priority_id: Mapped[int | None] = mapped_column(ForeignKey("priority_categories.id"))
    channel: Mapped[str] = mapped_column(String(16), default="kiosk")
    status: Mapped[str] = mapped_column(String(24), default="waiting")
    # Order inside the service queue (microseconds; transfer to the front goes below the head).
    queue_pos: Mapped[int] = mapped_column(BigInteger)
    lang: Mapped[str] = mapped_column(String(2), default="vi")
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    called_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    clerk_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    recall_count: Mapped[int] = mapped_column(Integer, default=0)
    tracking_token: Mapped[str] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    transfer_parent_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # Supervisor moved this waiting ticket to one counter: only that counter may call it.
    reserved_counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))

    service: Mapped[Service] = relationship()
    priority: Mapped[PriorityCategory | None] = relationship()
    counter: Mapped[Counter | None] = relationship(foreign_keys=[counter_id])

    __table_args__ = (
        UniqueConstraint("site_id", "service_id", "business_day", "number"),
        UniqueConstraint("site_id", "idempotency_key"),
        CheckConstraint(f"status IN {TICKET_STATUSES!r}", name="status"),
        CheckConstraint(f"channel IN {CHANNELS!r}", name="channel"),
        Index("ix_tickets_queue", "service_id", "business_day", "status", "queue_pos"),
        Index("ix_tickets_counter_status", "counter_id", "status"),
        Index("ix_tickets_transfer_parent", "transfer_parent_id"),
        Index("ix_tickets_reserved_counter", "reserved_counter_id", "status"),
        # Queries of the working day lead with their equality columns, then the business day
        # (or the finish time), so a year of history is never read (migration 0012).
        Index("ix_tickets_site_day", "site_id", "business_day"),
        Index("ix_tickets_site_status_day", "site_id", "status", "business_day"),
        Index("ix_tickets_counter_day", "counter_id", "business_day"),
        Index("ix_tickets_counter_status_finished", "counter_id", "status", "finished_at"),
        AUTOINCREMENT,
    )


class TicketApplicant(Base):
    """Who a ticket is for, when a citizen scanned the ID card at the kiosk: so the clerk does
    not retype it. Staff-only; never sent to displays or tracking pages."""

    __tablename__ = "ticket_applicants"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    id_number: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    dob: Mapped[dt.date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(400))


class PrintJob(Base):
    """A print job of the spool (``printers.spool.Job``), kept in the main database so it
    survives restarts and is shared by every app node."""

    __tablename__ = "print_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    uri: Mapped[str] = mapped_column(String(300))
    # The slip's bytes, dropped (NULL) once the printer acknowledged them: a reprint renders
    # the ticket or receipt again.
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ref: Mapped[str | None] = mapped_column(String(64))
    # When the claim holding the job started sending it: a job found with an expired lease
    # and this set may have printed, so it becomes "unknown" instead of being sent again.
    sending_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_print_jobs_due", "status", "next_attempt_at"),
                      Index("ix_print_jobs_site_status", "site_id", "status"),
                      Index("ix_print_jobs_uri_finished", "uri", "finished_at"),
                      # The newest job of a ticket or receipt (an intake replayed).
                      Index("ix_print_jobs_ref_created", "ref", "created_at"),
                      # The retention pass: the jobs just expired, not the whole table (0018).
                      Index("ix_print_jobs_created", "created_at"))


class TicketContact(Base):
    """A phone number a citizen gave at the kiosk to be told when the turn is near, with the
    consent shown on screen. Centre-owned; the number is deleted (NULL, ``purged_at`` set) at
    the end of the ticket's business day, like the ID card read at the kiosk."""

    __tablename__ = "ticket_contacts"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    consent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Which consent text the citizen saw (the kiosk's, versioned), so it can be shown again.
    consent_version: Mapped[str] = mapped_column(String(16))
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "dropped")


class OutboxMessage(Base):
    """One outbound message (SMS, Zalo ZNS, e-mail, webhook, the demo's file), written in the
    same transaction as its cause and sent by the outbox worker of any node (claims lock rows
    with ``FOR UPDATE SKIP LOCKED``). Print jobs keep their own table (``print_jobs``) under the
    same claim, lease and retry machinery (server/features/outbox.py)."""

    __tablename__ = "outbox_messages"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    # The full number or address until sent and the business day ends; masked afterwards.
    recipient: Mapped[str] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(String(2000))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    lang: Mapped[str] = mapped_column(String(2), default="vi")
    # Seen by the receiving side on every attempt: a retry after a crash is recognisable.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    ref: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sending_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    provider_id: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        CheckConstraint(f"status IN {OUTBOX_STATUSES!r}", name="status"),
        Index("ix_outbox_messages_due", "channel", "status", "next_attempt_at"),
        Index("ix_outbox_messages_site_status", "site_id", "status"),
        Index("ix_outbox_messages_recipient_created", "recipient", "created_at"),
        Index("ix_outbox_messages_ticket", "ticket_id"),
        Index("ix_outbox_messages_created", "created_at"),
    )


class MessageChannel(Base):
    """A channel's settings for a site and the sites under it (a province's row serves its
    centres unless a centre has its own): gateway address and credentials, limits, and the
    texts per message kind and language. Province-written configuration."""

    __tablename__ = "message_channels"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    channel: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    templates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("site_id", "channel"), AUTOINCREMENT)


class PrinterState(Base):
    """The last known state of each printer (by URI), for alerts and the kiosk."""

    __tablename__ = "printer_states"
    uri: Mapped[str] = mapped_column(String(300), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(300))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class TicketEvent(Base):
    """Append-only record of every transition. KPIs come from here."""

    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    type: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_ticket_events_site_at", "site_id", "at"), AUTOINCREMENT)


class AuditLog(Base):
    """Who changed what configuration, with before and after."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = AUTOINCREMENT


# --- dossiers, procedures, holidays, ratings -------------------------------------

DOSSIER_STATUSES = (
    "received",
    "transferred",
    "processing",
    "supplement_requested",
    "result_ready",
    "returned",
    "refused",
    "withdrawn",
)
DELIVERIES = ("counter", "post")
RATING_SCORES = ("very_satisfied", "satisfied", "not_satisfied")
RATING_SOURCES = ("track", "tablet")


class Procedure(Base):
    """An administrative procedure (thủ tục) of a province's catalog. ``service_code`` is the
    field: the code of the matching service at the province's centres (e.g. ``civil``)."""

    __tablename__ = "procedures"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name_vi: Mapped[str] = mapped_column(String(400))
    name_en: Mapped[str] = mapped_column(String(400))
    service_code: Mapped[str] = mapped_column(String(32))
    processing_days: Mapped[int] = mapped_column(Integer)
    # [{"vi": ..., "en": ...}, ...]: the documents a complete dossier holds.
    documents: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    fee_note_vi: Mapped[str | None] = mapped_column(String(400))
    fee_note_en: Mapped[str | None] = mapped_column(String(400))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        UniqueConstraint("site_id", "code"),
        CheckConstraint("processing_days >= 0", name="processing_days"),
    )


class Holiday(Base):
    """A public holiday of a province: no working day, so no dossier clock."""

    __tablename__ = "holidays"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("site_id", "day"),)


class DossierDay(Base):
    """The atomic daily counter of dossier codes, per agency code and site-local day. Sites
    that share an agency code (a ward and its extra reception point) share the counter, so
    codes stay unique and gap-free."""

    __tablename__ = "dossier_days"
    agency_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Dossier(Base):
    """One procedure filed at a counter (hồ sơ). The only place ID numbers are kept."""

    __tablename__ = "dossiers"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    clerk_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(24), default="received")
    # The step a supplement request interrupted; the dossier goes back to it when resubmitted.
    resume_status: Mapped[str | None] = mapped_column(String(24))
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_id_number: Mapped[str] = mapped_column(String(12))
    applicant_phone: Mapped[str | None] = mapped_column(String(20))
    applicant_address: Mapped[str | None] = mapped_column(String(400))
    documents: Mapped[list[str]] = mapped_column(JSON, default=list)
    sets: Mapped[int] = mapped_column(Integer, default=1)
    delivery: Mapped[str] = mapped_column(String(8), default="counter")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paused_days_total: Mapped[int] = mapped_column(Integer, default=0)
    tracking_token: Mapped[str] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    refused_reason: Mapped[str | None] = mapped_column(String(400))
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    procedure: Mapped[Procedure] = relationship()
    site: Mapped[Site] = relationship()

    __table_args__ = (
        UniqueConstraint("site_id", "idempotency_key"),
        CheckConstraint(f"status IN {DOSSIER_STATUSES!r}", name="status"),
        CheckConstraint(f"delivery IN {DELIVERIES!r}", name="delivery"),
        CheckConstraint("sets >= 1", name="sets"),
        Index("ix_dossiers_site_status_due", "site_id", "status", "due_at"),
        AUTOINCREMENT,
    )


class DossierEvent(Base):
    """Append-only history of a dossier's steps: who, when, from -> to, a note."""

    __tablename__ = "dossier_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_from: Mapped[str | None] = mapped_column(String(24))
    status_to: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(String(400))
    actor: Mapped[str] = mapped_column(String(64))

    __table_args__ = AUTOINCREMENT


class Rating(Base):
    """A citizen's satisfaction with one served ticket (once per ticket)."""

    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    clerk_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    score: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # Reports of a period read that period's ratings of the site only.
        Index("ix_ratings_site_created", "site_id", "created_at"),
        CheckConstraint(f"score IN {RATING_SCORES!r}", name="score"),
        CheckConstraint(f"source IN {RATING_SOURCES!r}", name="source"),
        AUTOINCREMENT,
    )


# --- admin data, daily operations, device pairing (migration 0007) ---------------
# New columns of existing tables are attached here (SQLAlchemy declarative allows adding
# mapped columns after the class is built) so that the whole feature is one block.

# Site local opening hours: weekday "0" (Monday) .. "6" (Sunday) -> [["07:30", "11:30"], ...].
# NULL = not set (always open); a weekday missing or [] = closed that day.
Site.opening_hours = mapped_column("opening_hours", JSON, nullable=True)
Site.phone = mapped_column("phone", String(40), nullable=True)
# Tickets issued per business day at most; NULL = no cap.
Service.daily_cap = mapped_column("daily_cap", Integer, nullable=True)
# "HH:MM" site local time after which no ticket is issued; NULL = until closing.
Service.last_ticket_time = mapped_column("last_ticket_time", String(5), nullable=True)
# "#rrggbb" for kiosk tiles and display rows; NULL = the default palette.
Service.display_colour = mapped_column("display_colour", String(7), nullable=True)


class PairingCode(Base):
    """A short code a new kiosk or display shows on /pair. An admin claims it (creating the
    device); the device then collects its token once by presenting its secret.

    ``code`` is unique over the table's whole history (6 chars from a 31-letter unambiguous
    alphabet give ~887M codes; expired unclaimed rows may be deleted to free theirs)."""

    __tablename__ = "pairing_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    # When the device fetched its token (single use: a second collection is refused).
    collected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    device: Mapped[Device | None] = relationship()

    __table_args__ = (Index("ix_pairing_codes_expires_at", "expires_at"),)


# --- restore fences (migration 0011) -------------------------------------------------------

FENCE_KINDS = ("backup", "pitr")


class RestoreFence(Base):
    """A restore made numbers, dossier codes and ids jump past anything handed out after the
    restored point (features/fences.py). ``restored_to``: the last activity in the restored
    data; ``detail``: what jumped, from and to, and the labels each service continues from."""

    __tablename__ = "restore_fences"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    restored_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str] = mapped_column(String(64))
    number_margin: Mapped[int] = mapped_column(Integer)
    id_margin: Mapped[int] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (CheckConstraint(f"kind IN {FENCE_KINDS!r}", name="kind"),)


# --- daily aggregates (migration 0013) ------------------------------------------------------

STAT_DIMS = ("service", "counter", "clerk", "hour", "slot")


class DailyStat(Base):
    """One site's tickets of one closed business day, grouped one way (``dim``: by service,
    by the counter or clerk that called them first, by the local hour they were issued in;
    ``key``: that service's, counter's or clerk's id, or the hour). The counts, sums and wait
    waits are a ``server.rules.kpis.Cell``: reports of closed days merge these rows instead
    of reading the tickets. Written only by ``server/features/aggregates.py``."""

    __tablename__ = "daily_stats"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    business_day: Mapped[dt.date] = mapped_column(Date)
    dim: Mapped[str] = mapped_column(String(8))
    key: Mapped[int] = mapped_column(BigInteger)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    transferred_in: Mapped[int] = mapped_column(Integer, default=0)
    served: Mapped[int] = mapped_column(Integer, default=0)
    no_shows: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    transferred: Mapped[int] = mapped_column(Integer, default=0)
    unserved_at_close: Mapped[int] = mapped_column(Integer, default=0)
    waited: Mapped[int] = mapped_column(Integer, default=0)
    wait_sum_s: Mapped[int] = mapped_column(BigInteger, default=0)
    within_sla: Mapped[int] = mapped_column(Integer, default=0)
    timed: Mapped[int] = mapped_column(Integer, default=0)
    service_sum_s: Mapped[int] = mapped_column(BigInteger, default=0)
    very_satisfied: Mapped[int] = mapped_column(Integer, default=0)
    satisfied: Mapped[int] = mapped_column(Integer, default=0)
    not_satisfied: Mapped[int] = mapped_column(Integer, default=0)
    # Appointments (migration 0017): tickets from bookings, those called within ten minutes of
    # their slot, and the confirmed bookings of the group's slots by what became of them.
    appointments: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    punctual: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bookings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bookings_checked_in: Mapped[int] = mapped_column(Integer, default=0,
                                                     server_default="0")
    bookings_no_show: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bookings_cancelled: Mapped[int] = mapped_column(Integer, default=0,
                                                    server_default="0")
    # Each called ticket's wait in whole seconds, ascending: P90s of merged days are exact.
    waits: Mapped[list[int] | None] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("site_id", "business_day", "dim", "key"),
        CheckConstraint(f"dim IN {STAT_DIMS!r}", name="dim"),
    )


class StatDay(Base):
    """A business day of a site whose ``daily_stats`` are written (and how many tickets they
    hold): a report reads these days from the aggregates and the others from the tickets."""

    __tablename__ = "stat_days"
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    business_day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    tickets: Mapped[int] = mapped_column(Integer)
    written_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # When retention removed the day's tickets (only the aggregates are left): never rewritten.
    detail_dropped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# --- appointments (migration 0016) ----------------------------------------------------------

# The site's booking settings (``server.rules.appointments.BookingSettings``; NULL: defaults).
Site.booking = mapped_column("booking", JSON, nullable=True)
# The share of a slot's expected capacity offered for booking (0..1); NULL: 50 %.
Service.online_share = mapped_column("online_share", Float, nullable=True)
# A ticket issued by an appointment's check-in (the clerk sees "appointment"), and the instant
# the line places it at (its slot's start): the routing's urgency counts from there too.
Ticket.appointment = mapped_column(
    "appointment", Boolean, default=False, server_default=sa_false(), nullable=False
)
Ticket.placed_at = mapped_column("placed_at", UTCDateTime, nullable=True)

BOOKING_STATUSES = ("held", "confirmed", "checked_in", "no_show", "cancelled", "expired")


class Booking(Base):
    """A citizen's place in a time slot of a service, booked ahead (``/book``).

    ``held`` until the one-time code is confirmed (or ``hold_until`` passes: ``expired``);
    ``confirmed``; then ``checked_in`` (``ticket_id``: the ticket the check-in issued, an
    appointment or, late, a walk-in), ``no_show`` (not checked in by the end of the check-in
    window) or ``cancelled`` (its place comes back at ``released_at``, after a quarantine).
    The page's secret is kept as ``token_hash``; the ID number as a keyed hash (``id_hash``,
    what the kiosk's ID card scan looks up) and its last 4 digits. Personal data: the phone
    number is removed by retention (``purged_at``). Centre-owned."""

    __tablename__ = "bookings"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code: Mapped[str] = mapped_column(String(6))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    procedure_id: Mapped[int | None] = mapped_column(ForeignKey("procedures.id"))
    slot_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    slot_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    business_day: Mapped[dt.date] = mapped_column(Date)
    id_hash: Mapped[str] = mapped_column(String(64))
    id_last4: Mapped[str] = mapped_column(String(4))
    phone: Mapped[str | None] = mapped_column(String(20))
    lang: Mapped[str] = mapped_column(String(2), default="vi")
    status: Mapped[str] = mapped_column(String(16), default="held")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    hold_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A cancelled booking's place is free again from here (the cancel quarantine).
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    no_show_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # "citizen" (from the booking's page), "day_closed" (a holiday added or the site closed
    # that day after the booking was made: listed for the supervisor, the citizen messaged).
    cancel_reason: Mapped[str | None] = mapped_column(String(16))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    otp_hash: Mapped[str | None] = mapped_column(String(64))
    otp_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    otp_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship()
    service: Mapped[Service] = relationship()

    __table_args__ = (
        UniqueConstraint("site_id", "business_day", "code"),
        CheckConstraint(f"status IN {BOOKING_STATUSES!r}", name="status"),
        Index("ix_bookings_service_slot", "service_id", "slot_start", "status"),
        Index("ix_bookings_site_day", "site_id", "business_day", "status"),
        Index("ix_bookings_person", "id_hash", "business_day"),
        Index("ix_bookings_ticket", "ticket_id"),
        AUTOINCREMENT,
    )


class BookingSlot(Base):
    """The lock row of one (service, slot start): every hold of the slot takes it first, so
    counting the slot's places and adding a hold is one step under concurrency. ``holds``
    counts the holds ever made (for the record; the places are counted from ``bookings``)."""

    __tablename__ = "booking_slots"
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    slot_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    holds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class BookingPerson(Base):
    """The lock row of one (ID number hash, business day): the per-person limits are counted
    and a hold added under it, so racing requests from one ID number keep them."""

    __tablename__ = "booking_people"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    holds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class BookingChallenge(Base):
    """A proof-of-work (ALTCHA) challenge whose solution was accepted once: the same solution
    is refused until the challenge expires (then the row may go)."""

    __tablename__ = "booking_challenges"
    challenge: Mapped[str] = mapped_column(String(128), primary_key=True)
    used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_booking_challenges_expires", "expires_at"),)
