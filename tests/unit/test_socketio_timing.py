"""Socket.IO heartbeat settings: short by default, so a station notices a dead link within 5 s
(interval + timeout), set from the environment within bounds."""

from __future__ import annotations

import pytest

from server.config import Settings


def test_defaults_notice_a_dead_link_within_5_s() -> None:
    s = Settings.from_env({})
    assert s.socketio_ping_interval + s.socketio_ping_timeout <= 5.0
    assert s.socketio_ping_timeout >= 2.0  # a 300 ms round trip behind a busy link still answers


def test_set_from_the_environment_within_bounds() -> None:
    s = Settings.from_env({"MOTCUA_SOCKETIO_PING_INTERVAL": "5",
                           "MOTCUA_SOCKETIO_PING_TIMEOUT": "7.5"})
    assert (s.socketio_ping_interval, s.socketio_ping_timeout) == (5.0, 7.5)
    for variable, value in (("MOTCUA_SOCKETIO_PING_INTERVAL", "0.2"),
                            ("MOTCUA_SOCKETIO_PING_TIMEOUT", "600")):
        with pytest.raises(ValueError, match=variable):
            Settings.from_env({variable: value})
