"""Kiosk station (touch UI, ticket issue flow, citizen ID QR reading). Built on ``server/``."""
