"""Workers bindings (KV, R2, secrets) for outbound handlers, backed by SQLite and files."""
