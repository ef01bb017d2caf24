"""The browser's realtime client (server/static/js/realtime.js) on its own, in Chromium, with a
scripted socket: events overtaken by a later one are put back in order; a real loss resyncs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCRIPT = (Path(__file__).resolve().parents[2] / "server/static/js/realtime.js").read_text()

FAKE_IO = """
window.fake = {handlers: {}, emitted: [], seen: [], snapshots: 0};
window.io = function () {
  return {
    on: function (name, fn) { fake.handlers[name] = fn; },
    emit: function (name) { fake.emitted.push(name); },
    connect: function () {}, disconnect: function () {}, close: function () {},
  };
};
"""

START = """
window.rt = MotcuaRealtime.connect("/display", {token: "t"}, {
  snapshot: function (s) { fake.snapshots += 1; },
  event: function (type, data, seq) { fake.seen.push(seq); },
}, {reorderMs: 300});
fake.handlers.snapshot({seq: 10});
"""


def _setup(page: Any) -> None:
    page.set_content("<!doctype html><title>rt</title>")
    page.add_script_tag(content=FAKE_IO)
    page.add_script_tag(content=SCRIPT)
    page.evaluate(START)


def _event(page: Any, seq: int) -> None:
    page.evaluate(f"fake.handlers.event({{seq: {seq}, type: 'ticket.called', data: {{}}}})")


def test_overtaken_events_are_played_in_order_without_a_resync(page: Any) -> None:
    _setup(page)
    for seq in (11, 13, 14, 12, 15):
        _event(page, seq)
    page.wait_for_timeout(500)  # past the window: nothing pending, so nothing to resync
    assert page.evaluate("fake.seen") == [11, 12, 13, 14, 15]
    assert page.evaluate("fake.emitted") == []


def test_a_gap_that_stays_open_resyncs_once_and_drops_the_held_events(page: Any) -> None:
    _setup(page)
    _event(page, 11)
    _event(page, 13)  # 12 never comes
    _event(page, 14)
    assert page.evaluate("fake.emitted") == []
    page.wait_for_timeout(600)
    assert page.evaluate("fake.emitted") == ["resync"]
    assert page.evaluate("fake.seen") == [11]
    _event(page, 15)  # waiting for the snapshot: ignored
    page.evaluate("fake.handlers.snapshot({seq: 15})")
    _event(page, 16)
    assert page.evaluate("fake.seen") == [11, 16]
    assert page.evaluate("fake.snapshots") == 2


def test_events_before_the_snapshot_are_played_after_it(page: Any) -> None:
    """The server joins a socket to its rooms, then reads and sends the snapshot: an event
    committed in between arrives first. It is kept, and played if the snapshot lacks it;
    dropped (it was waited for with nothing after it, the board stayed stale) no more."""
    page.set_content("<!doctype html><title>rt</title>")
    page.add_script_tag(content=FAKE_IO)
    page.add_script_tag(content=SCRIPT)
    page.evaluate(START.replace("fake.handlers.snapshot({seq: 10});", ""))
    _event(page, 10)  # already in the snapshot below
    _event(page, 11)
    assert page.evaluate("fake.seen") == []
    page.evaluate("fake.handlers.snapshot({seq: 10})")
    _event(page, 12)
    assert page.evaluate("fake.seen") == [11, 12]
    page.wait_for_timeout(400)
    assert page.evaluate("fake.emitted") == []


def test_duplicates_are_dropped(page: Any) -> None:
    _setup(page)
    for seq in (11, 11, 10, 12):
        _event(page, seq)
    assert page.evaluate("fake.seen") == [11, 12]


def test_sparse_clients_get_overtaken_events_late_but_once(page: Any) -> None:
    """/track receives only its own service's and ticket's events, so jumps are normal; an
    event overtaken by a later one still arrives (the page keeps the newest per kind)."""
    page.set_content("<!doctype html><title>rt</title>")
    page.add_script_tag(content=FAKE_IO)
    page.add_script_tag(content=SCRIPT)
    page.evaluate(START.replace("{reorderMs: 300}", "{sparse: true}"))
    for seq in (12, 15, 13, 15, 9, 10, 20):
        _event(page, seq)
    assert page.evaluate("fake.seen") == [12, 15, 13, 20]
    page.wait_for_timeout(400)
    assert page.evaluate("fake.emitted") == []
