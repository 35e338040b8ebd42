"""Storage adapters, one module per technology: ``memory`` (the reference semantics),
``sqlite`` (the embedded default) and ``postgres`` (several app servers, one database)."""
