"""How far a restore fence moves a counter: pure arithmetic, no database.

After a restore the database has forgotten everything written after the restored point, but
citizens still hold the slips and receipts printed in that time. The daily ticket numbers and
dossier-code counters therefore jump by at least a margin and up to a round number (so the
first number after the jump is easy to read out: 42 with a margin of 100 goes to 200, the next
ticket is 201); ids jump by their margin.
"""

from __future__ import annotations


def round_unit(margin: int) -> int:
    """The round step of a margin: its leading power of ten (100 for 100..999, 10 for 10..99)."""
    if margin < 1:
        raise ValueError("a fence margin is at least 1")
    return 10 ** (len(str(margin)) - 1)


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
