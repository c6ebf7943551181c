"""Show the effective configuration as TOML, with every secret redacted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reminder.config.redact import MASK, redact_url
from reminder.config.schema import Config, SecretRef

#: What a secret reads as: the same mask as a password inside a database URL.
REDACTED = MASK


def effective_document(config: Config) -> dict[str, Any]:
    """Return the effective configuration as TOML-ready data, every secret redacted.

    Secret *sources* (file path, credential name, variable name) are shown; the password
    itself, and one embedded in a database URL, never is.
    """

    def secret(ref: SecretRef) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        if ref.inline is not None:
            shown[ref.KEY] = REDACTED
        if ref.file is not None:
            shown[f"{ref.KEY}_file"] = str(ref.file)
        if ref.credential is not None:
            shown[f"{ref.KEY}_credential"] = ref.credential
        if ref.env is not None:
            shown[f"{ref.KEY}_env"] = ref.env
        return shown

    def optional(**values: Any) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None}

    url = redact_url(config.database.url)
    return {
        "timezone": config.timezone,
        "database": {"url": url, **secret(config.database.password)},
        "agreements": {
            "term_years": config.agreements.term_years,
            "default_programme": config.agreements.default_programme,
        },
        "reminders": optional(
            windows=list(config.reminders.windows),
            notify_expired=config.reminders.notify_expired,
            expired_lookback_days=config.reminders.expired_lookback_days,
            default_recipient=config.reminders.default_recipient,
        ),
        "countries": {"aliases": dict(config.countries.aliases)},
        "digest": {
            "send_when_empty": config.digest.send_when_empty,
            "office_summary_to": list(config.digest.office_summary_to),
        },
        "escalation": optional(
            at_window=config.escalation.at_window, cc=list(config.escalation.cc)
        ),
        "mail": optional(
            transport=config.mail.transport,
            **{"from": config.mail.sender},
            reply_to=config.mail.reply_to,
            outbox_dir=str(config.mail.outbox_dir),
            templates_dir=str(config.mail.templates_dir) if config.mail.templates_dir else None,
            language=config.mail.language,
        ),
        "smtp": optional(
            host=config.smtp.host,
            port=config.smtp.port,
            security=config.smtp.security,
            username=config.smtp.username,
            **secret(config.smtp.password),
            ca_file=str(config.smtp.ca_file) if config.smtp.ca_file else None,
            timeout_seconds=config.smtp.timeout_seconds,
        ),
        "schedule": {
            "reminders": config.schedule.reminders,
            "digest": config.schedule.digest,
            "timezone": config.schedule.timezone,
            "retry_minutes": config.schedule.retry_minutes,
        },
        "ha": {"takeover_seconds": config.ha.takeover_seconds},
        "health": {
            "max_failing_hours": config.health.max_failing_hours,
            "grace_hours": config.health.grace_hours,
        },
        "web": {
            "enabled": config.web.enabled,
            "listen": config.web.listen,
            "base_url": config.web.base_url,
            "trusted_proxies": list(config.web.trusted_proxies),
            "auth": config.web.auth,
            "user_header": config.web.user_header,
            "session_idle_minutes": config.web.session_idle_minutes,
            "max_upload_megabytes": config.web.max_upload_megabytes,
            **secret(config.web.secret_key),
        },
        "coordinators": [
            optional(
                name=c.name,
                email=c.email,
                countries=list(c.countries),
                programmes=list(c.programmes),
                language=c.language,
            )
            for c in config.coordinators
        ],
    }


def to_toml(document: Mapping[str, Any]) -> str:
    """Return `document` (scalars, lists of scalars, tables, lists of tables) as TOML text."""
    lines: list[str] = []
    scalars = {
        k: v for k, v in document.items() if not isinstance(v, dict | list) or _is_scalar_list(v)
    }
    for key, value in scalars.items():
        lines.append(f"{key} = {toml_value(value)}")
    for key, value in document.items():
        if isinstance(value, dict):
            lines += ["", f"[{key}]"] + [f"{k} = {toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and not _is_scalar_list(value):
            for item in value:
                lines += ["", f"[[{key}]]"] + [f"{k} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _is_scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, dict) for v in value)


def toml_value(value: Any) -> str:
    """Return a scalar, a list of scalars or a table of them, as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }" if pairs else "{}"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
