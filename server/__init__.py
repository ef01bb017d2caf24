"""Motcua server core: app factory, models, queue engine, service layer, REST API, CLI."""
