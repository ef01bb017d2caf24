"""Wall display station (board UI, announcement audio). Built on ``server/``."""
