"""The Redis fan-out between app nodes (python-socketio's ``RedisManager``), made calm about a
Redis outage: the node goes on serving its own clients (events are delivered here before they
are published), the outage is one incident (one log line when it begins, one when it ends,
counted for ``/metrics`` and shown on the supervisor's screen) instead of an ERROR line per
event, and the listener tries again every ``RETRY_MAX_S`` at most, so events between nodes
resume within about a second of Redis coming back (upstream's backoff grows to 60 s).

Every event that could not be published after both tries is counted in ``dropped`` (the
``motcua_realtime_events_dropped_total`` metric): the clients of the other nodes missed it and
catch up only through their next snapshot (a ``seq`` gap or a reconnect).

python-socketio starts the listener at a node's first client connection, in the background,
while that connection's handler goes on to read the snapshot. An event another node published
between that read and the listener's SUBSCRIBE never reached the client (a ``seq`` gap, healed
only by its resync a second later). ``initialize`` therefore waits, at most
``SUBSCRIBE_WAIT_S``, until the listener has subscribed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import socketio

from server.core.incidents import Incidents

RETRY_FIRST_S = 0.25
RETRY_MAX_S = 1.0  # a connection attempt a second is nothing; events resume within ~1 s
CONNECT_TIMEOUT_S = 1.0  # a Redis host that does not answer must not hold a request
SUBSCRIBE_WAIT_S = 2.0  # the first client of a node waits this long for the listener at most


class FanOut(socketio.RedisManager):  # type: ignore[misc]
    def __init__(self, url: str, channel: str, incidents: Incidents) -> None:
        super().__init__(url, channel=channel,
                         redis_options={"socket_connect_timeout": CONNECT_TIMEOUT_S})
        self.incidents = incidents
        self.dropped = 0  # events other nodes never received (read by /metrics)
        self.subscribed = threading.Event()  # gevent's patched Event in a gevent worker

    def initialize(self) -> None:
        super().initialize()  # starts the listener
        # Redis down: the first client is served anyway after the wait (the outage is an
        # incident, and the listener subscribes as soon as Redis answers).
        self.subscribed.wait(SUBSCRIBE_WAIT_S)

    def _publish(self, data: Any) -> Any:
        # Two tries (the first may find a connection Redis closed while it was away); the
        # event has already reached this node's clients either way.
        for attempt in range(2):
            try:
                if not self.connected:
                    self._redis_connect()
                sent = self.redis.publish(self.channel, self.json.dumps(data))
            except Exception as exc:
                self.connected = False
                if attempt == 1:
                    self.dropped += 1
                    self.incidents.failed("redis", "unreachable", str(exc))
                continue
            self.incidents.worked("redis")
            return sent
        return None

    def _redis_listen_with_retries(self) -> Iterator[Any]:
        retry_s = RETRY_FIRST_S
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    subscribed = True
                    self.subscribed.set()
                    retry_s = RETRY_FIRST_S
                    # Subscribed again: other nodes' events reach this node from now on.
                    self.incidents.worked("redis", quiet_s=0)
                yield from self.pubsub.listen()
            except Exception as exc:
                self.incidents.failed("redis", "unreachable", str(exc))
                subscribed = False
                time.sleep(retry_s)  # gevent's patched sleep in a gevent worker
                retry_s = min(retry_s * 2, RETRY_MAX_S)
