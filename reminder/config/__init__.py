"""The configuration: its schema, loading and checking, credentials, the redacted view."""
