"""gunicorn configuration for one Motcua app node.

    MOTCUA_DATABASE_URL=postgresql+psycopg://... MOTCUA_REDIS_URL=redis://127.0.0.1:6379/0 \
    gunicorn -c deploy/gunicorn.conf.py "server.app:create_app()"

One worker per process: Socket.IO keeps each client's session in the process that accepted it,
and gunicorn cannot route a client back to the same worker. A province scales by running
several such processes (on other ports or hosts) behind nginx, sharing PostgreSQL and Redis
(Redis carries each node's committed events to the clients of every other node).

Worker class: gevent (see the realtime benchmark figures in the issue note: one greenlet per
websocket instead of one OS thread, so a node holds thousands of lobby TVs and phones).
MOTCUA_ASYNC_MODE must match: gevent here, threading with the gthread worker.
"""

from server.config import gunicorn_settings

# The environment is read in server/config.py (docs/configuration.md lists every variable).
settings = gunicorn_settings()
bind = settings.bind
workers = 1
async_mode = settings.async_mode
if async_mode == "gevent":
    worker_class = "gevent"
    worker_connections = settings.worker_connections
else:
    worker_class = "gthread"
    threads = settings.threads  # one per websocket client
    worker_connections = threads + 64  # gunicorn refuses new connections beyond this
timeout = 60
# SIGTERM drains the node in a few seconds (server/shutdown.py); this is only the upper bound.
graceful_timeout = 20
keepalive = 5
accesslog = None  # the app writes structured access logs itself
errorlog = "-"
loglevel = "warning"


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """On SIGTERM, send the socket clients to the other nodes and exit (server/shutdown.py).
    Imported here, in the worker, after gevent's monkey-patching."""
    from server.node.shutdown import post_worker_init as drain_on_sigterm

    drain_on_sigterm(worker)
