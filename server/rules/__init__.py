"""The queue engine: plain Python, no Flask.

- ``states``: the ticket state machine.
- ``routing``: who is called next (a pure function of the counter's profile and the waiting heads).
- ``eta``: estimated wait.
- ``calendar``: business days in the site's time zone.
"""
