"""Supervisor station (live dashboard, rebalancing, reports). Built on ``server/``."""
