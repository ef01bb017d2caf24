"""Outbound message channels (SMS over HTTP, Zalo ZNS, a file for the demo).

Imports nothing else of ours, like :mod:`printers`. The interface is in :mod:`messaging.base`:
a :class:`~messaging.base.Message` goes to a :class:`~messaging.base.Channel`, which answers an
:class:`~messaging.base.Outcome` (``sent``, ``retry`` or ``failed``).

* :mod:`messaging.sms`: :class:`HttpSmsChannel`, a configurable brand-name SMS gateway;
* :mod:`messaging.zns`: :class:`ZnsChannel`, Zalo ZNS template messages;
* :mod:`messaging.file`: :class:`FileChannel`, ``messages.jsonl`` for the demo and tests;
* :mod:`messaging.phone`: numbers in a gateway's format, masked numbers for logs.
"""

from messaging.base import CHANNEL_NAMES, Channel, Message, Outcome
from messaging.file import FileChannel
from messaging.phone import formatted, masked
from messaging.sms import HttpSmsChannel
from messaging.zns import ZnsChannel

__all__ = [
    "CHANNEL_NAMES",
    "Channel",
    "FileChannel",
    "HttpSmsChannel",
    "Message",
    "Outcome",
    "ZnsChannel",
    "formatted",
    "masked",
]
