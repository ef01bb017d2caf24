"""REST API v1: one module per feature, each a thin layer of ``@endpoint`` functions over
``server.features``. Importing this package registers every endpoint on ``http.bp``."""

from server.api import admin, analytics, dossiers, routes  # noqa: F401  (registers endpoints)
from server.api.http import bp, register_error_handlers

__all__ = ["bp", "register_error_handlers"]
