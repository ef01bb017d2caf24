"""gunicorn configuration for one Motcua app node.

    MOTCUA_DATABASE_URL=postgresql+psycopg://... MOTCUA_REDIS_URL=redis://127.0.0.1:6379/0 \
    gunicorn -c deploy/gunicorn.conf.py "server.app:create_app()"

The settings are those `motcua run` uses (server/node/gunicorn_settings.py): one worker per
process, gevent unless MOTCUA_ASYNC_MODE=threading (then gthread), bind from MOTCUA_BIND,
drain on SIGTERM. Nothing here loads a database driver before the worker's gevent patch.
"""

from server.node.gunicorn_settings import gunicorn_settings

globals().update(gunicorn_settings())
