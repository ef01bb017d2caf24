"""Dossier step machine: a pure transition table, like ``server/queue/states.py``.

    received -> transferred -> processing -> result_ready -> returned

``supplement_requested`` (from received, transferred or processing) pauses the clock; the
step ``resubmitted`` (the citizen brought the missing papers) is not a status of its own: it
takes the dossier back to the step the request interrupted, and the clock runs again.
``refused`` (a reason is required) and ``withdrawn`` end an open dossier. ``returned``,
``refused`` and ``withdrawn`` are final.
"""

from __future__ import annotations

from enum import StrEnum


class DossierStatus(StrEnum):
    RECEIVED = "received"
    TRANSFERRED = "transferred"
    PROCESSING = "processing"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    RESULT_READY = "result_ready"
    RETURNED = "returned"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


D = DossierStatus
RESUBMITTED = "resubmitted"

#: Steps a staff member may ask for: every status but ``received``, plus ``resubmitted``.
STEPS = (*(s.value for s in D if s is not D.RECEIVED), RESUBMITTED)

#: status -> the statuses it may move to (``resubmitted`` resolves to the interrupted step).
TRANSITIONS: dict[DossierStatus, frozenset[str]] = {
    D.RECEIVED: frozenset({D.TRANSFERRED, D.PROCESSING, D.SUPPLEMENT_REQUESTED, D.REFUSED,
                           D.WITHDRAWN}),
    D.TRANSFERRED: frozenset({D.PROCESSING, D.SUPPLEMENT_REQUESTED, D.REFUSED, D.WITHDRAWN}),
    D.PROCESSING: frozenset({D.RESULT_READY, D.SUPPLEMENT_REQUESTED, D.REFUSED, D.WITHDRAWN}),
    D.SUPPLEMENT_REQUESTED: frozenset({RESUBMITTED, D.REFUSED, D.WITHDRAWN}),
    D.RESULT_READY: frozenset({D.RETURNED}),
    D.RETURNED: frozenset(),
    D.REFUSED: frozenset(),
    D.WITHDRAWN: frozenset(),
}

PAUSABLE = frozenset({D.RECEIVED, D.TRANSFERRED, D.PROCESSING})
FINAL = frozenset({D.RETURNED, D.REFUSED, D.WITHDRAWN})
#: The centre's work is done: not overdue any more even if nobody collected the result.
SETTLED = FINAL | {D.RESULT_READY}


class IllegalDossierStep(Exception):
    def __init__(self, status: str, step: str) -> None:
        super().__init__(f"cannot move a dossier that is {status} to {step}")
        self.status = status
        self.step = step


def next_status(status: str, step: str, resume_status: str | None = None) -> DossierStatus:
    """The status a dossier in ``status`` takes on ``step``; raises IllegalDossierStep."""
    try:
        current = DossierStatus(status)
    except ValueError:
        raise IllegalDossierStep(status, step) from None
    if step not in TRANSITIONS[current]:
        raise IllegalDossierStep(status, step)
    if step == RESUBMITTED:
        try:
            back = DossierStatus(resume_status or "")
        except ValueError:
            back = D.RECEIVED
        return back if back in PAUSABLE else D.RECEIVED
    return DossierStatus(step)
