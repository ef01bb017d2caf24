"""One module per feature, plain functions over a session inside a unit of work. Imports
``server.core`` and ``server.rules`` (and lower features), never Flask or an entry point."""
