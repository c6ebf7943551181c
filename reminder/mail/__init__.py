"""E-mail: templates rendered, CSS inlined, MIME and calendars built, SMTP and outbox transports."""
