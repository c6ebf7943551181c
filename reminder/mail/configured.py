"""The transport the config names ([mail] transport): SMTP or the outbox folder."""

from __future__ import annotations

from reminder.config.schema import MailConfig, SmtpConfig
from reminder.errors import ConfigError
from reminder.mail.outbox import OutboxTransport
from reminder.mail.smtp import SmtpTransport, tls_context
from reminder.mail.transport import Transport


def open_transport(mail: MailConfig, smtp: SmtpConfig, *, password: str | None) -> Transport:
    """Return the transport `mail.transport` names; nothing is connected yet.

    `password` is the resolved SMTP password (credentials.resolve_secret).
    Raises ConfigError for an unknown transport or security value, or a CA file that
    cannot be read.
    """
    if mail.transport == "outbox":
        return OutboxTransport(mail.outbox_dir)
    if mail.transport != "smtp":
        raise ConfigError(f"mail.transport: unknown transport {mail.transport!r}")
    if smtp.security not in ("starttls", "tls", "none"):
        raise ConfigError(f"smtp.security: unknown value {smtp.security!r}")
    context = None if smtp.security == "none" else tls_context(smtp.ca_file)
    return SmtpTransport(smtp, password=password, tls_context=context)
