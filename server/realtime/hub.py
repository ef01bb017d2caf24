"""Realtime hub: Socket.IO namespaces per audience, snapshots with the site's ``seq``, events
after commit, Redis fan-out across nodes when ``MOTCUA_REDIS_URL`` is set.

Protocol (see ARCHITECTURE.md, "Realtime"):
- connect with ``auth={"token": ...}`` (``/counter`` also takes ``counter_id``; ``/supervisor``
  may take ``site``); a bad token is refused at connect;
- the server emits ``snapshot`` (with ``seq``), then ``event`` messages
  ``{"seq", "type", "data"}``; every event of the site reaches every audience (so ``seq`` has
  no holes), with ``data`` cut down to what that audience may see; except ``/track``: a phone
  gets only its service's ``queue.stats`` and its own ticket's events (see Hub.publish_track);
- the client emits ``resync`` (on a gap in ``seq`` or after reconnecting) and gets a new
  ``snapshot``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, g, request, session
from flask_socketio import ConnectionRefusedError as Refused
from flask_socketio import Namespace, SocketIO, join_room
from sqlalchemy import select

from server.core import auth
from server.core.db import unavailable_kind
from server.core.errors import AppError
from server.core.events import Event
from server.features.admin import device_presence, lapsed_access, revoked_among, touch_device
from server.features.tickets import resolve_tracking
from server.models import Counter, Site
from server.realtime import snapshots
from server.realtime.fanout import FanOut
from server.realtime.pacing import PacedWebsockets
from server.realtime.throttle import Cooldown, TokenBucket
from server.rules.eta import estimate_ranges
from server.web.client import client_address
from server.web.signin import principal_from_session

log = logging.getLogger("motcua.realtime")

AUDIENCES = ("/display", "/counter", "/kiosk", "/supervisor", "/track")
REVOKE_SWEEP_SECONDS = 10  # how soon other nodes drop a revoked device's, user's, token's sockets
DROPS_BEFORE_DISCONNECT = 10  # messages over a socket's rate limit before it is disconnected
# A connection may send this many times its socket's limit in all (its namespace connects,
# messages to namespaces it has not joined, malformed packets: what no namespace counts);
# what goes over is dropped unread, and after DROPS_BEFORE_DISCONNECT such it is cut off.
CONNECTION_ALLOWANCE = 2
FLOOD_COOLDOWN_SECONDS = 60  # a socket disconnected for flooding: its token refused this long

# What the public audiences (lobby TVs, kiosks, citizens' phones) may see of each event.
PUBLIC_TICKET_KEYS = (
    "ticket_id",
    "new_ticket_id",
    "number",
    "service",
    "from_service",
    "counter",
    "status",
    "recall_count",
    "position",
    "lang",
    "counter_site",  # a counter of another site (an extra reception point) called it
    "counter_site_name",
)
PUBLIC_STATS_KEYS = ("service", "waiting", "waiting_priority", "open_counters", "eta_new")


def _pick(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: data[k] for k in keys if k in data}


def project(audience: str, event: Event) -> dict[str, Any]:
    """The part of an event's data an audience may see."""
    t, d = event.type, event.data
    if audience in ("/counter", "/supervisor"):
        if t == "queue.stats":
            # The call order is for tracking pages; staff screens show counts.
            return {k: v for k, v in d.items() if k not in ("order", "eta_minutes")}
        return d
    if t == "ticket.reserved":  # a supervisor kept a waiting ticket for one counter: staff only
        return {}
    if t.startswith("ticket."):
        return _pick(d, PUBLIC_TICKET_KEYS)
    if t == "queue.stats":
        keys = PUBLIC_STATS_KEYS + (("order", "eta_minutes") if audience == "/track" else ())
        out = _pick(d, keys)
        if audience == "/track" and "eta_minutes" in d:
            # The range a phone shows for each place in line, as in service.track().
            out["eta_ranges"] = estimate_ranges(d["eta_minutes"])
        return out
    if t == "counter.changed":
        return _pick(d, ("number", "status"))
    if t == "ticker.changed":
        return d
    if t == "printer.changed" and audience == "/kiosk":
        return _pick(d, ("device_id", "status"))
    if t == "print.job" and audience == "/kiosk":  # a slip in doubt: the kiosk offers a reprint
        return _pick(d, ("job_id", "status", "kind", "device_id", "ticket_id", "number"))
    return {}


class _AudienceNamespace(Namespace):  # type: ignore[misc]
    """Common connect/resync logic. Subclasses say who may connect and what they see."""

    def __init__(self, namespace: str, hub: Hub) -> None:
        super().__init__(namespace)
        self.hub = hub
        self.clients: dict[str, dict[str, Any]] = {}

    # -- subclass API --
    def admit(self, session: Any, token: str, auth_data: dict[str, Any]) -> dict[str, Any]:
        """Return the client's context (``site_id``, ``rooms``, ...) or raise AppError."""
        raise NotImplementedError

    def snapshot(self, session: Any, client: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # -- handlers --
    def on_connect(self, auth_data: Any = None) -> None:
        if auth_data is None:
            auth_data = {}
        if not isinstance(auth_data, dict):
            raise Refused("unauthorized")
        address = client_address()
        if not self.hub.allow_connect(address):
            raise Refused("rate_limited")
        # No token: a signed-in person's session cookie (staff pages), see _principal.
        token = auth_data.get("token") or ""
        if not isinstance(token, str):
            raise Refused("unauthorized")
        token = token[:200]
        if self.hub.cooling(token or address):
            raise Refused("rate_limited")
        try:
            with self.hub.db.read() as s:
                client = self.admit(s, token, auth_data)
        except AppError as err:
            raise Refused(err.code) from None
        sid = request.sid  # type: ignore[attr-defined]
        client["limit_key"] = token or address
        p = g.pop("socket_principal", None)
        if p is not None and p.kind in ("user", "token"):
            # A person's socket follows their account and token: disabled, password reset,
            # revoked or expired closes it (Hub.kick_user, Hub.kick_token, Hub.sweep_revoked).
            client["user_id"] = p.user_id
            client["pw"] = session.get("pw") if p.kind == "user" else None
            client["rooms"].append(f"user:{p.user_id}")
            if p.kind == "token":
                client["token_id"] = p.id
                client["rooms"].append(f"token:{p.id}")
        self.clients[sid] = client
        if client.get("device_id"):
            self.hub.seen(client["device_id"])
        elif client.get("user_id") or client.get("token_id"):
            self.hub.watch()
        for room in client["rooms"]:
            join_room(room)
        self._send_snapshot(sid)

    def on_disconnect(self, reason: Any = None) -> None:
        sid = request.sid  # type: ignore[attr-defined]
        self.clients.pop(sid, None)
        self.hub.forget_socket(sid)

    def on_resync(self, *_args: Any) -> None:
        sid = request.sid  # type: ignore[attr-defined]
        if sid in self.clients:
            device_id = self.clients[sid].get("device_id")
            # Displays resync now and then: still here, and still allowed?
            if device_id and not self.hub.seen(device_id):
                self.disconnect(sid)
                return
            # A person's access is checked again before anything personal is sent.
            if not self.hub.still_allowed(self.clients[sid]):
                self.disconnect(sid)
                return
            self._send_snapshot(sid)

    def trigger_event(self, event: str, *args: Any) -> Any:
        if event not in ("connect", "disconnect") and not self._allowed(*args):
            return None
        # Unknown or malformed client messages are ignored, never a crash.
        try:
            return super().trigger_event(event, *args)
        except (Refused, KeyboardInterrupt):
            raise
        except Exception:
            log.exception(
                "socket handler failed", extra={"namespace": self.namespace, "event": event}
            )
            return None

    def _allowed(self, *args: Any) -> bool:
        """A client message within its socket's rate limit. One over it is dropped unanswered
        (it costs no database read); a socket that goes on flooding is disconnected."""
        sid = args[0] if args else None
        if not isinstance(sid, str) or self.hub.allow_message(sid):
            return True
        client = self.clients.get(sid)
        if client is not None:
            client["dropped"] = client.get("dropped", 0) + 1
            if client["dropped"] == DROPS_BEFORE_DISCONNECT:
                eio_sid = self.hub.socketio.server.manager.eio_sid_from_sid(sid, self.namespace)
                if eio_sid is not None:
                    self.hub.cut_off(eio_sid)
                else:  # not a connection of this node's server (none such is known)
                    self.hub.cool_down(client["limit_key"])
                    self.disconnect(sid)
        return False

    def _send_snapshot(self, sid: str) -> None:
        client = self.clients.get(sid)
        if client is None:
            return
        try:
            with self.hub.db.read() as s:
                snap = self.snapshot(s, client)
        except AppError as err:
            self.hub.to_local(sid, self.namespace, "error", {"code": err.code})
            return
        self.hub.to_local(sid, self.namespace, "snapshot", snap)


def _principal(session: Any, token: str, roles: tuple[str, ...]) -> auth.Principal:
    p = auth.principal_from_token(session, token) if token else principal_from_session(session)
    if p is None:
        raise AppError("unauthorized")
    if p.role not in roles:
        raise AppError("forbidden")
    g.socket_principal = p  # for on_connect: whose socket this is
    return p


def _site_rooms(site_id: int) -> list[str]:
    return [f"site:{site_id}"]


class DisplayNamespace(_AudienceNamespace):
    def admit(self, session: Any, token: str, auth_data: dict[str, Any]) -> dict[str, Any]:
        p = _principal(session, token, ("display", "supervisor", "admin"))
        site_id = _requested_site(session, p, auth_data)
        if p.kind == "device":  # a revoked display is disconnected (Hub.kick_device)
            return {"site_id": site_id, "device_id": p.id,
                    "rooms": [*_site_rooms(site_id), f"device:{p.id}"]}
        return {"site_id": site_id, "rooms": _site_rooms(site_id)}

    def snapshot(self, session: Any, client: dict[str, Any]) -> dict[str, Any]:
        site = session.get(Site, client["site_id"])
        return snapshots.display(session, site, self.hub.clock())


class KioskNamespace(_AudienceNamespace):
    def admit(self, session: Any, token: str, auth_data: dict[str, Any]) -> dict[str, Any]:
        p = _principal(session, token, ("kiosk",))
        assert p.site_id is not None
        return {
            "site_id": p.site_id,
            "device_id": p.id,
            "rooms": [*_site_rooms(p.site_id), f"device:{p.id}"],
        }

    def snapshot(self, session: Any, client: dict[str, Any]) -> dict[str, Any]:
        site = session.get(Site, client["site_id"])
        return {**snapshots.kiosk(session, site, self.hub.clock()),
                "device_id": client["device_id"],
                "printer": snapshots.device_printer_status(session, client["device_id"])}


class CounterNamespace(_AudienceNamespace):
    def admit(self, session: Any, token: str, auth_data: dict[str, Any]) -> dict[str, Any]:
        p = _principal(session, token, ("clerk", "supervisor", "admin"))
        counter_id = auth_data.get("counter_id", p.counter_id)
        if not isinstance(counter_id, int) or isinstance(counter_id, bool):
            raise AppError("validation_error", detail="counter_id")
        counter = session.get(Counter, counter_id)
        if counter is None:
            raise AppError("not_found", what="counter")
        if not auth.can_operate_counter(session, p, counter):
            raise AppError("forbidden")
        return {
            "site_id": counter.site_id,
            "counter_id": counter.id,
            "rooms": [*_site_rooms(counter.site_id), f"counter:{counter.id}"],
        }

    def snapshot(self, session: Any, client: dict[str, Any]) -> dict[str, Any]:
        counter = session.get(Counter, client["counter_id"])
        return snapshots.counter(session, counter, self.hub.clock(), self.hub.base_url)


class SupervisorNamespace(_AudienceNamespace):
    def admit(self, session: Any, token: str, auth_data: dict[str, Any]) -> dict[str, Any]:
        p = _principal(session, token, ("supervisor", "admin"))
        site_id = _requested_site(session, p, auth_data)
        return {"site_id": site_id, "rooms": _site_rooms(site_id)}

    def snapshot(self, session: Any, client: dict[str, Any]) -> dict[str, Any]:
        site = session.get(Site, client["site_id"])
        return snapshots.supervisor(session, site, self.hub.clock())


class TrackNamespace(_AudienceNamespace):
    def admit(self, session: Any, token: str, auth_data: dict[str, Any]) -> dict[str, Any]:

        if len(token) > 64:
            raise AppError("not_found", what="ticket")
        ticket = resolve_tracking(session, token)
        # A phone hears its own ticket and its service's line only (see Hub.publish_track).
        return {
            "site_id": ticket.site_id,
            "token": token,
            "rooms": [_track_room(ticket.site_id, ticket.service.code), f"ticket:{ticket.id}"],
        }

    def snapshot(self, session: Any, client: dict[str, Any]) -> dict[str, Any]:
        snap = snapshots.track(session, client["token"], self.hub.clock(), self.hub.base_url)
        wanted = [_track_room(client["site_id"], snap["ticket"]["service"]),
                  f"ticket:{snap['ticket_id']}"]
        for room in wanted:
            if room not in client["rooms"]:  # followed a transfer: the new ticket and line
                if room.startswith("track:"):
                    for old in [r for r in client["rooms"] if r.startswith("track:")]:
                        client["rooms"].remove(old)
                        self.leave_room(request.sid, old)  # type: ignore[attr-defined]
                client["rooms"].append(room)
                self.enter_room(request.sid, room)  # type: ignore[attr-defined]
        return snap


def _track_room(site_id: int, service_code: str) -> str:
    return f"track:{site_id}:{service_code}"


def _requested_site(session: Any, p: auth.Principal, auth_data: dict[str, Any]) -> int:
    code = auth_data.get("site")
    if code is None:
        if p.site_id is None:
            raise AppError("validation_error", detail="site")
        return p.site_id
    if not isinstance(code, str):
        raise AppError("validation_error", detail="site")
    site_id = session.scalar(select(Site.id).where(Site.code == code))
    if site_id is None:
        raise AppError("not_found", what="site")
    if not auth.in_scope(session, p, site_id):
        raise AppError("forbidden")
    return int(site_id)


NAMESPACE_CLASSES: dict[str, type[_AudienceNamespace]] = {
    "/display": DisplayNamespace,
    "/counter": CounterNamespace,
    "/kiosk": KioskNamespace,
    "/supervisor": SupervisorNamespace,
    "/track": TrackNamespace,
}


class Hub:
    """Owns the SocketIO server; subscribed to the database's after-commit events."""

    def __init__(
        self, app: Flask, async_mode: str, redis_url: str | None, channel: str = "motcua"
    ) -> None:
        ctx = app.extensions["motcua"]
        self.db = ctx.db
        self.clock: Callable[[], Any] = ctx.clock
        self.base_url: str = ctx.settings.public_base_url
        kwargs: dict[str, Any] = {
            "async_mode": async_mode,
            # Default origin check: browsers may connect only from pages this server served
            # (behind nginx the Host and X-Forwarded-Proto headers make that origin).
            # Short pings: a station notices a dead link within their sum (server/config.py).
            "ping_interval": ctx.settings.socketio_ping_interval,
            "ping_timeout": ctx.settings.socketio_ping_timeout,
            "logger": False,
            "engineio_logger": False,
            # A client's messages are handled in turn on its own connection, not each in a new
            # greenlet: a socket that floods is read only as fast as it is handled (and
            # disconnected after DROPS_BEFORE_DISCONNECT), instead of spawning a greenlet per
            # message that would starve every other client (tests/bench/bench_track_flood.py).
            "async_handlers": False,
        }
        if redis_url:
            # Every node publishes its committed events here and relays what the others publish.
            kwargs["client_manager"] = FanOut(redis_url, channel, self.db.incidents)
        self.socketio = SocketIO(app, **kwargs)
        if async_mode == "gevent":
            # Threads are preempted by the OS; greenlets take turns only where they yield.
            paced = PacedWebsockets(app.wsgi_app, lambda: self.socketio.sleep(0))
            app.wsgi_app = paced  # type: ignore[method-assign]
        self.namespaces = {name: cls(name, self) for name, cls in NAMESPACE_CLASSES.items()}
        for ns in self.namespaces.values():
            self.socketio.on_namespace(ns)
        self.db.subscribers.append(self.publish)
        self._watching = False
        settings = ctx.settings
        self.rate_limits = bool(settings.rate_limits)
        self.messages = TokenBucket(settings.rate_socket)
        self.connects = TokenBucket(settings.rate_socket_connect)
        self.cooldown = Cooldown(FLOOD_COOLDOWN_SECONDS)
        # Engine.IO connections closed for flooding: what their reader had already taken in
        # is dropped unparsed (entries lapse long after the last of it has been seen).
        self.cut = Cooldown(FLOOD_COOLDOWN_SECONDS)
        self.packets = TokenBucket(settings.rate_socket, scale=CONNECTION_ALLOWANCE)
        self.packet_drops: dict[str, int] = {}
        self._pace_messages()

    def _pace_messages(self) -> None:
        """Every client message of every namespace passes here first (Engine.IO's ``message``
        event, before Socket.IO decodes it). A message of a connection cut off for flooding,
        or over its connection's allowance (``allow_packet``), is dropped at once. After each
        message, the greenlet of its connection yields to the event loop: a websocket's
        handler takes the next message without waiting whenever one has already been read, so
        a client sending faster than it is served kept the loop to itself for tens of
        milliseconds at a time while every other client waited
        (tests/bench/bench_track_flood.py)."""
        eio = self.socketio.server.eio
        relay = eio.handlers["message"]  # Socket.IO's own dispatcher
        leave = eio.handlers["disconnect"]

        def on_message(eio_sid: str, data: Any) -> Any:
            try:
                if self.cut.active(eio_sid) or not self.allow_packet(eio_sid):
                    return None
                return relay(eio_sid, data)
            finally:
                self.socketio.sleep(0)

        def on_disconnect(eio_sid: str, reason: Any) -> Any:
            try:
                return leave(eio_sid, reason)
            finally:
                self.packets.forget(eio_sid)
                self.packet_drops.pop(eio_sid, None)

        eio.on("message", on_message)
        eio.on("disconnect", on_disconnect)

    def allow_packet(self, eio_sid: str) -> bool:
        """A message within its connection's allowance (``CONNECTION_ALLOWANCE``); one over
        it is dropped before it is decoded, and a connection that goes on is cut off."""
        if not self.rate_limits or self.packets.allow(eio_sid):
            return True
        drops = self.packet_drops[eio_sid] = self.packet_drops.get(eio_sid, 0) + 1
        if drops == DROPS_BEFORE_DISCONNECT:
            self.cut_off(eio_sid)
        return False

    def cut_off(self, eio_sid: str) -> None:
        """Disconnect a flooding connection's sockets and close the connection itself. Each
        socket's client is told why (``error`` ``{"code": "rate_limited"}``), its token (or
        address) refused for ``FLOOD_COOLDOWN_SECONDS``, and it is disconnected from its
        namespace first (a browser then does not reconnect at once, as after any server
        disconnect); closing the Engine.IO connection then stops its reader, so what the
        client sent after is never read, and what was read ahead is dropped unparsed (see
        ``_pace_messages``)."""
        server = self.socketio.server
        sockets: list[str] = []
        for name, ns in self.namespaces.items():
            sid = server.manager.sid_from_eio_sid(eio_sid, name)
            if sid is None:
                continue
            sockets.append(name)
            client = ns.clients.get(sid)
            if client is not None:
                self.cool_down(client["limit_key"])
            # The socket is on this node (its message came here): no detour through Redis.
            server.emit("error", {"code": "rate_limited"}, to=sid, namespace=name,
                        ignore_queue=True)
            server.disconnect(sid, namespace=name, ignore_queue=True)
        log.warning("socket flooding: disconnected",
                    extra={"connection": eio_sid, "namespaces": sockets})
        self.cut.add(eio_sid)
        connection = server.eio.sockets.pop(eio_sid, None)
        if connection is not None:
            # Not waiting for the goodbye to be written: this runs in the connection's own
            # greenlet, whose writer sends it as soon as this one yields.
            connection.close(wait=False, reason=server.eio.reason.SERVER_DISCONNECT)

    def allow_message(self, sid: str) -> bool:
        return not self.rate_limits or self.messages.allow(sid)

    def allow_connect(self, address: str) -> bool:
        return not self.rate_limits or self.connects.allow(address)

    def cooling(self, key: str) -> bool:
        return self.rate_limits and self.cooldown.active(key)

    def cool_down(self, key: str) -> None:
        self.cooldown.add(key)

    def forget_socket(self, sid: str) -> None:
        self.messages.forget(sid)

    def seen(self, device_id: int) -> bool:
        """A device connected or resynced: note its last-seen time for the admin console.
        False when it has been revoked meanwhile (revoked on another node)."""

        self.watch()

        try:
            now = self.clock()
            with self.db.read() as s:
                allowed, recent = device_presence(s, device_id, now)
            if allowed and not recent:
                with self.db.write() as s:
                    touch_device(s, device_id, now)
            return allowed
        except Exception:  # never refuse a display because a bookkeeping write failed
            log.warning("could not record device last-seen", exc_info=True)
            return True

    def still_allowed(self, client: dict[str, Any]) -> bool:
        """A person's socket (user or token): still an active user, same password, token
        neither revoked nor expired. Devices and phones: True (see seen())."""
        users = {client["user_id"]: client.get("pw")} if client.get("user_id") else {}
        tokens = {client["token_id"]} if client.get("token_id") else set()
        if not users and not tokens:
            return True
        with self.db.read() as s:
            bad_users, bad_tokens = lapsed_access(s, users, tokens, self.clock())
        return not bad_users and not bad_tokens

    def watch(self) -> None:
        """Started with the first device, user or token connection: every
        ``REVOKE_SWEEP_SECONDS`` drop this node's sockets of devices, users and tokens revoked
        on any node (the event reaches only the node that committed the revocation; the others
        learn it here)."""
        if self._watching:
            return
        self._watching = True

        def loop() -> None:
            # Ends when no device is connected here, or on an unexpected error; the next device
            # connection (or a display's periodic resync) starts it again. A database outage
            # does not end it: the sweep goes on by itself once the database is back.
            try:
                while self._watching:
                    self.socketio.sleep(REVOKE_SWEEP_SECONDS)
                    if not self.sweep_round():
                        break
            except Exception:
                log.warning("revoked-device sweep stopped", exc_info=True)
            finally:
                self._watching = False

        self.socketio.start_background_task(loop)

    def sweep_round(self) -> bool:
        """One round of the watch: False when it should end (nobody connected here). A database
        that cannot serve (down, restarting, a connection killed) is one incident, logged once
        by the unit of work; the round is skipped and the next one tries again."""
        try:
            return self.sweep_revoked() is not None
        except Exception as exc:
            if unavailable_kind(exc) is None:
                raise
            return True

    def sweep_revoked(self) -> list[int] | None:
        """Disconnect this node's sockets of revoked devices, of disabled users (or whose
        password was reset) and of revoked or expired tokens; the device ids dropped, or None
        when no device, user or token is connected here."""
        clients = [c for ns in self.namespaces.values() for c in list(ns.clients.values())]
        ids = {c["device_id"] for c in clients if c.get("device_id")}
        users: dict[int, str | None] = {}
        for c in clients:
            if c.get("user_id"):
                # A token's owner is checked for being active (None: no password stamp).
                users[c["user_id"]] = c.get("pw") or users.get(c["user_id"])
        tokens = {c["token_id"] for c in clients if c.get("token_id")}
        if not ids and not users and not tokens:
            return None
        with self.db.read() as s:
            gone = revoked_among(s, ids) if ids else []
            bad_users, bad_tokens = lapsed_access(s, users, tokens, self.clock())
        for device_id in gone:
            self.kick_device(device_id)
        for user_id in bad_users:
            self.kick("user_id", user_id)
        for token_id in bad_tokens:
            self.kick("token_id", token_id)
        return gone

    def kick_device(self, device_id: int) -> None:
        """A revoked device: close its sockets on this node, and tell its pages on every node
        (the ``revoked`` message reaches them through the Redis fan-out) to stop."""
        for name, ns in self.namespaces.items():
            self.socketio.emit("revoked", {}, namespace=name, to=f"device:{device_id}")
            for sid, client in list(ns.clients.items()):
                if client.get("device_id") == device_id:
                    self.socketio.server.disconnect(sid, namespace=name)

    def kick(self, key: str, value: int) -> None:
        """A disabled user (``user_id``) or a revoked token (``token_id``): close its sockets
        on this node and tell its pages on every node to stop (as kick_device)."""
        room = f"{key.removesuffix('_id')}:{value}"
        for name, ns in self.namespaces.items():
            self.socketio.emit("revoked", {}, namespace=name, to=room)
            for sid, client in list(ns.clients.items()):
                if client.get(key) == value:
                    self.socketio.server.disconnect(sid, namespace=name)

    def publish(self, events: list[Event]) -> None:
        for event in events:
            if event.type == "device.revoked":
                self.kick_device(int(event.data["device_id"]))
            elif event.type == "user.revoked":
                self.kick("user_id", int(event.data["user_id"]))
            elif event.type == "token.revoked":
                self.kick("token_id", int(event.data["token_id"]))
            room = f"site:{event.site_id}"
            for audience in AUDIENCES:
                if audience == "/track":
                    self.publish_track(event)
                    continue
                self.socketio.emit(
                    "event",
                    {"seq": event.seq, "type": event.type, "data": project(audience, event)},
                    namespace=audience,
                    to=room,
                )

    def publish_track(self, event: Event) -> None:
        """Citizens' phones get only what concerns them: their service's ``queue.stats`` (the
        call order gives each its place) and their own ticket's events. Every other event of
        the site went to every phone before: at 2,000 phones a call-next round (called, stats,
        serving, done) was 8,000 sends for ~400 useful ones (tests/bench/bench_track.py). The
        ``seq`` still orders what a phone gets, but it has gaps by design: track.js connects
        with ``sparse`` (stale events dropped, no resync on a jump); the events carry absolute
        values and a reconnect brings a snapshot."""
        d = event.data
        if event.type == "queue.stats":
            rooms = [_track_room(event.site_id, d.get("service", ""))]
        elif event.type.startswith("ticket."):
            rooms = [f"ticket:{d[k]}" for k in ("ticket_id", "new_ticket_id") if d.get(k)]
        else:
            return
        msg = {"seq": event.seq, "type": event.type, "data": project("/track", event)}
        for room in rooms:
            self.socketio.emit("event", msg, namespace="/track", to=room)

    def to_local(self, sid: str, namespace: str, event: str, data: Any) -> None:
        """A message for one client of this node: sent to it directly, not through Redis (a
        snapshot published there went to every node, tens of kB each, for nobody)."""
        self.socketio.emit(event, data, namespace=namespace, to=sid, ignore_queue=True)

    def connected(self) -> int:
        return sum(len(ns.clients) for ns in self.namespaces.values())
