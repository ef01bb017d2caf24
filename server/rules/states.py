"""Ticket state machine. Every move is checked here; an illegal one raises."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    PARKED = "parked"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    TRANSFERRED = "transferred"
    # Terminal: the site closed while the ticket was still waiting or parked.
    UNSERVED_AT_CLOSE = "unserved_at_close"


class Action(StrEnum):
    CALL = "call"
    RECALL = "recall"
    START = "start"
    FINISH = "finish"
    NO_SHOW = "no_show"
    PARK = "park"
    RESUME = "resume"
    CANCEL = "cancel"
    TRANSFER = "transfer"
    CLOSE_DAY = "close_day"


S, A = Status, Action

# (from status, action) -> to status
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (S.WAITING, A.CALL): S.CALLED,
    (S.WAITING, A.CANCEL): S.CANCELLED,
    (S.WAITING, A.TRANSFER): S.TRANSFERRED,
    (S.CALLED, A.RECALL): S.CALLED,
    (S.CALLED, A.START): S.SERVING,
    (S.CALLED, A.NO_SHOW): S.NO_SHOW,
    (S.CALLED, A.PARK): S.PARKED,
    (S.CALLED, A.CANCEL): S.CANCELLED,
    (S.CALLED, A.TRANSFER): S.TRANSFERRED,
    (S.SERVING, A.FINISH): S.DONE,
    (S.SERVING, A.PARK): S.PARKED,
    (S.SERVING, A.TRANSFER): S.TRANSFERRED,
    (S.PARKED, A.RESUME): S.CALLED,
    (S.PARKED, A.CANCEL): S.CANCELLED,
    (S.PARKED, A.TRANSFER): S.TRANSFERRED,
    # Closing the day ends what is still in the queue. A ticket that is called or being
    # served stays with its clerk, who finishes it (or marks no-show) as usual.
    (S.WAITING, A.CLOSE_DAY): S.UNSERVED_AT_CLOSE,
    (S.PARKED, A.CLOSE_DAY): S.UNSERVED_AT_CLOSE,
}

# At a site whose call starts the service ("call starts service"), the clerk finishes a
# called ticket directly: call-next then finish, two requests per citizen. Every move of
# TRANSITIONS stays legal there (start, recall, no-show, park).
CALL_STARTS_SERVICE: dict[tuple[Status, Action], Status] = {
    (S.CALLED, A.FINISH): S.DONE,
}

# Still in the queue when the site closes: these become UNSERVED_AT_CLOSE.
OPEN_AT_CLOSE = frozenset({S.WAITING, S.PARKED})

AT_COUNTER = frozenset({S.CALLED, S.SERVING})


class IllegalTransition(Exception):
    def __init__(self, status: str, action: str) -> None:
        super().__init__(f"cannot {action} a ticket that is {status}")
        self.status = status
        self.action = action


def next_status(status: str, action: str, call_starts_service: bool = False) -> Status:
    try:
        key = (Status(status), Action(action))
    except ValueError:
        raise IllegalTransition(status, action) from None
    found = TRANSITIONS.get(key)
    if found is None and call_starts_service:
        found = CALL_STARTS_SERVICE.get(key)
    if found is None:
        raise IllegalTransition(status, action)
    return found

