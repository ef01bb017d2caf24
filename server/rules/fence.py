"""How far a restore fence moves a counter: pure arithmetic, no database.

After a restore the database has forgotten everything written after the restored point, but
citizens still hold the slips and receipts printed in that time. The daily ticket numbers and
dossier-code counters therefore jump by at least a margin and up to a round number (so the
first number after the jump is easy to read out: 42 with a margin of 100 goes to 200, the next
ticket is 201); ids jump by their margin.
"""

from __future__ import annotations

#: The recent pace a counter's margin is measured on, before the restored point. A
#: point-in-time recovery loses at most ``archive_timeout`` of work (deploy/ sets 60 s, its
#: test allows up to 300 s): a counter draws at most as many numbers in that time as in
#: this window at the same pace; twice that covers a burst.
RECENT_WINDOW_S = 300
RECENT_FACTOR = 2


def round_unit(margin: int) -> int:
    """The round step of a margin: its leading power of ten (100 for 100..999, 10 for 10..99)."""
    if margin < 1:
        raise ValueError("a fence margin is at least 1")
    return 10 ** (len(str(margin)) - 1)


def margin_for(margin: int, recent: int) -> int:
    """A counter's margin: the configured one, or twice what it drew in the recent window
    before the restored point when that is more (a busy service, a short margin)."""
    return max(margin, RECENT_FACTOR * max(recent, 0))


def jump_number(last: int, margin: int) -> int:
    """The new last number of a daily counter at ``last``: at least ``margin`` more, rounded up
    to the margin's round step. The next number handed out is one more."""
    if last < 0:
        raise ValueError("a counter is never negative")
    unit = round_unit(margin)
    target = last + margin
    return -(-target // unit) * unit


def jump_id(last: int, margin: int) -> int:
    """The new high-water mark of an id sequence at ``last``."""
    if margin < 1:
        raise ValueError("a fence margin is at least 1")
    return max(last, 0) + margin
