"""Running one app node: serve, graceful shutdown, health checks, metrics, logs, backups."""
