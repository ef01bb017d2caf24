"""Devices (kiosks and lobby displays): the one place a device row is made.

A device is born without a usable token: its token is given once, later, by whoever registers
it (``motcua device add`` through ``seed.add_device``, the pairing flow of the admin console),
never read back from a file. Presence, pairing and revocation are still in ``admin.py``.
"""

from __future__ import annotations

import datetime as dt

from server.core import auth
from server.models import Device


def new_device(site_id: int, kind: str, name: str, now: dt.datetime,
               printer_uri: str | None = None) -> Device:
    """A device row (not yet added to a session) whose token nobody knows."""
    return Device(site_id=site_id, kind=kind, name=name, printer_uri=printer_uri,
                  created_at=now, token_hash=auth.hash_token(auth.new_token("dev")))
