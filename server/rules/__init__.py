"""Pure decisions about configuration data: no database, no Flask."""
