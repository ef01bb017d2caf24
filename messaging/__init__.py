"""Outbound message channels (SMS over HTTP, Zalo ZNS, a file for the demo).

Imports nothing else of ours, like :mod:`printers`. The interface is in :mod:`messaging.base`:
a :class:`~messaging.base.Message` goes to a :class:`~messaging.base.Channel`, which answers an
:class:`~messaging.base.Outcome` (``sent``, ``retry`` or ``failed``).
"""

from messaging.base import CHANNEL_NAMES, Channel, Message, Outcome

__all__ = ["CHANNEL_NAMES", "Channel", "Message", "Outcome"]
