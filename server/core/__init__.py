"""Plumbing every feature shares: the unit of work, events, audit rows, lookups, formats,
authentication, errors and migrations. Imports only ``server.rules`` and ``server.models``."""
