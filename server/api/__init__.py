"""REST API v1: one module per feature, each a thin layer of ``@endpoint`` functions over
``server.features``. Importing this package registers every endpoint on ``http.bp``."""

from server.api import (  # noqa: F401  (registers the endpoints)
    admin,
    analytics,
    bookings,
    dailyops,
    dossiers,
    notifications,
    routes,
    supervision,
    webhooks,
)
from server.api.http import bp, register_error_handlers

__all__ = ["bp", "register_error_handlers"]
