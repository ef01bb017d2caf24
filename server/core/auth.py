"""Tokens and principals. No Flask here: the API extracts the bearer token and asks us."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from server.core.errors import AppError
from server.models import ApiToken, Counter, CounterService, Device, Site, Ticket, User

TOKEN_BYTES = 32  # 256 bits


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(TOKEN_BYTES)}"


def new_tracking_token() -> str:
    # 128 bits of randomness, URL-safe, short enough for a QR on a ticket.
    return secrets.token_urlsafe(16)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def check_password(stored: str, password: str) -> bool:
    return check_password_hash(stored, password)


@dataclass(frozen=True)
class Principal:
    kind: str  # device | token | user | system
    id: int | None
    role: str  # kiosk | display | clerk | supervisor | admin | system
    site_id: int | None
    counter_id: int | None = None
    user_id: int | None = None

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind


SYSTEM = Principal(kind="system", id=None, role="system", site_id=None)


TOKEN_TOUCH_EVERY = dt.timedelta(seconds=60)  # last_used_at is written at most this often


def token_usable(session: Session, api: ApiToken, now: dt.datetime,
                 owner_active: bool | None = None) -> bool:
    """Not revoked, not expired, and its owner (if any) still an active user (``owner_active``
    when the caller read it with the token already)."""
    if api.revoked_at is not None or (api.expires_at is not None and api.expires_at <= now):
        return False
    if api.user_id is not None:
        if owner_active is None:
            user = session.get(User, api.user_id)
            owner_active = user is not None and user.active
        if not owner_active:
            return False
    return True


# Built once (bound parameters), not on every request: every authenticated request runs one
# of them, and building an ORM statement costs more CPU than the database takes to answer it.
_DEVICE_BY_HASH = select(Device).where(Device.token_hash == bindparam("digest"))
# The token and its owner's state in one statement.
_TOKEN_BY_HASH = (
    select(ApiToken, User.active)
    .outerjoin(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


def principal_from_token(
    session: Session, token: str | None, now: dt.datetime | None = None
) -> Principal | None:
    if not token:
        return None
    now = now or dt.datetime.now(dt.UTC)
    digest = hash_token(token)
    # Device tokens start with "dev_" (see new_token): look in one table only.
    if token.startswith("dev_"):
        device = session.scalar(_DEVICE_BY_HASH, {"digest": digest})
        if device is None or device.revoked_at is not None:
            return None
        return Principal("device", device.id, device.kind, device.site_id)
    found = session.execute(_TOKEN_BY_HASH, {"digest": digest}).first()
    if found is None:
        return None
    api, owner_active = found
    if token_usable(session, api, now, bool(owner_active)):
        return Principal("token", api.id, api.role, api.site_id, api.counter_id, api.user_id)
    return None


def touch_token(session: Session, token_id: int, now: dt.datetime) -> None:
    """Record that a token was used, unless that was recorded less than a minute ago (one
    guarded UPDATE: several nodes never write it more often)."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .where(or_(ApiToken.last_used_at.is_(None),
                   ApiToken.last_used_at < now - TOKEN_TOUCH_EVERY))
        .values(last_used_at=now)
    )


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A password hash made once per process, checked for unknown usernames."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(secrets.token_hex(16)))
    return _DUMMY_HASH[0]


def authenticate_user(session: Session, username: str, password: str) -> User | None:
    """The active user with this password, or None. Exactly one password hash is checked
    whatever the username: an unknown one costs the same time as a wrong password."""
    user = session.scalar(select(User).where(User.username == username))
    ok = check_password(user.password_hash if user is not None else _dummy_hash(), password)
    if user is None or not user.active or not ok:
        return None
    return user


# --- scope --------------------------------------------------------------------------------


def _ancestors(session: Session, site_id: int) -> list[int]:
    chain: list[int] = []
    current: int | None = site_id
    while current is not None and current not in chain:
        chain.append(current)
        current = session.scalar(select(Site.parent_id).where(Site.id == current))
    return chain


def in_scope(session: Session, p: Principal, site_id: int) -> bool:
    """Admins act everywhere; supervisors on their site and the sites under it (reception
    points); clerks and devices on their own site only."""
    if p.role in ("admin", "system"):
        return True
    if p.site_id is None:
        return False
    if p.role == "supervisor":
        return p.site_id in _ancestors(session, site_id)
    return p.site_id == site_id


def require(condition: bool) -> None:
    if not condition:
        raise AppError("forbidden")


STAFF = ("clerk", "supervisor", "admin", "system")


def can_read_site(session: Session, p: Principal, site_id: int) -> bool:
    return in_scope(session, p, site_id)


def can_issue(session: Session, p: Principal, site_id: int) -> bool:
    return p.role in ("kiosk", *STAFF) and in_scope(session, p, site_id)


def can_operate_counter(session: Session, p: Principal, counter: Counter) -> bool:
    if p.role not in STAFF or not in_scope(session, p, counter.site_id):
        return False
    return not (p.role == "clerk" and p.counter_id is not None and p.counter_id != counter.id)


def _counter_serves(session: Session, counter_id: int, service_id: int) -> bool:
    return session.scalar(
        select(CounterService.service_id).where(
            CounterService.counter_id == counter_id, CounterService.service_id == service_id
        )
    ) is not None


def can_act_on_ticket(session: Session, p: Principal, ticket: Ticket) -> bool:
    """Staff in scope act on the site's tickets. A counter-bound clerk (token or sign-in at a
    counter) acts only on tickets at its counter, reserved for it, or waiting in a service
    its counter serves: not on other services' tickets."""
    if p.role not in STAFF:
        return False
    if not in_scope(session, p, ticket.site_id):
        # A counter of another site serving this site's queue acts on the tickets it called.
        counter = ticket.counter
        return counter is not None and can_operate_counter(session, p, counter)
    if p.role == "clerk" and p.counter_id is not None:
        if ticket.counter_id is not None:
            return ticket.counter_id == p.counter_id
        return ticket.reserved_counter_id == p.counter_id or _counter_serves(
            session, p.counter_id, ticket.service_id
        )
    return True


def can_read_applicant(session: Session, p: Principal, ticket: Ticket) -> bool:
    """The ID-card data read at the kiosk: staff in scope, but a counter-bound clerk only for
    the ticket called or served at its own counter."""
    if p.role not in STAFF:
        return False
    if p.role == "clerk" and p.counter_id is not None:
        return ticket.counter_id == p.counter_id
    return in_scope(session, p, ticket.site_id) or can_act_on_ticket(session, p, ticket)


def is_counter_tablet(session: Session, p: Principal, counter: Counter) -> bool:
    """A kiosk device bound to this counter (``motcua device add --counter``): the tablet
    facing the citizen there. A lobby kiosk is bound to no counter and rates nowhere."""
    if p.kind != "device" or p.role != "kiosk" or p.id is None:
        return False
    bound = session.scalar(select(Device.counter_id).where(Device.id == p.id))
    return bound is not None and bound == counter.id


def can_rebalance(session: Session, p: Principal, site_id: int) -> bool:
    return p.role in ("supervisor", "admin", "system") and in_scope(session, p, site_id)

