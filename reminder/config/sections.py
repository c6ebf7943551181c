"""The config file's tables, one pydantic model each: every key, its type, default and
meaning, defined here once. schema.py gathers them into the whole Config. Models are
strict (a string is never read as a number, `true` never as 1), reject unknown keys and
are frozen: the rest of the code reads them as values. A default that depends on where
the config is read (the state directory) or on another key (the SMTP port on the
security) is filled by the table's before-validator.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo, model_validator

from reminder.config.environment import surroundings
from reminder.config.fields import (
    NOT_NEGATIVE,
    POSITIVE,
    Address,
    Addresses,
    AliasCode,
    BareAddress,
    Check,
    ConfigPath,
    Countries,
    Language,
    Names,
    NonEmpty,
    Table,
    Windows,
    between,
    one_of,
    setting,
    tuple_from_list,
)
from reminder.config.secrets import SecretKeyRef, SecretRef, gather_password


def _alias_keys(aliases: dict[str, str]) -> dict[str, str]:
    """Refuse an empty spelling: it would match an empty country cell."""
    if any(not spelling.strip() for spelling in aliases):
        raise ValueError("a country spelling must not be empty")
    return aliases


class DatabaseConfig(Table):
    """Where agreements and the ledger of sent mail are kept."""

    url: NonEmpty = setting(
        None,
        "SQLAlchemy URL of the database. PostgreSQL: "
        '"postgresql://reminder@db.example.edu/reminder" '
        "(pip install 'reminder[postgres]'); MariaDB/MySQL: "
        "\"mysql://reminder@db/reminder\" (pip install 'reminder[mysql]').",
        example="sqlite:////var/lib/reminder/reminder.sqlite3",
        default_text="an SQLite file in $STATE_DIRECTORY (under systemd) or in "
        "~/.local/share/reminder/",
    )
    password: SecretRef = setting(
        SecretRef(),
        "The database password, one way only (never in the URL of a file others can read).",
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any, info: ValidationInfo) -> Any:
        data = gather_password(data)
        if isinstance(data, dict) and "url" not in data:
            state_dir = surroundings(info.context).state_dir
            return {**data, "url": f"sqlite:///{state_dir / 'reminder.sqlite3'}"}
        return data


class AgreementsConfig(Table):
    """How imported tables are read when they leave something out."""

    term_years: Annotated[int, AfterValidator(between(1, 100))] = setting(
        5, "Years an agreement runs from its conclusion date when the table gives no end."
    )
    default_programme: NonEmpty = setting(
        "Bilateral",
        "Programme for tables without a Programme column (Mevlana, Erasmus+, Bilateral, ...).",
        example="Mevlana",
        in_example_config=True,
    )


class ImportConfig(Table):
    """Bounds on what `reminder import` reads."""

    max_table_megabytes: Annotated[int, AfterValidator(between(1, 100_000))] = setting(
        500,
        "Largest table `reminder import` reads, in megabytes (1 MB = 1,000,000 bytes); for "
        "an .xlsx workbook, the size it unpacks to. A larger one is refused, with its size, "
        "before its rows are read.",
    )

    @property
    def max_table_bytes(self) -> int:
        """Return the limit in bytes."""
        return self.max_table_megabytes * 1_000_000


class RemindersConfig(Table):
    """When reminders go out, and to whom when no coordinator matches."""

    windows: Windows = setting(
        (180, 90, 30, 7),
        "Days before the effective-until date at which a reminder goes out. An agreement "
        "is reminded at most once per window, always at the most urgent one it has reached.",
    )
    notify_expired: bool = setting(
        True, "Send one notice once an agreement has lapsed (days left < 0) ..."
    )
    expired_lookback_days: Annotated[int, AfterValidator(NOT_NEGATIVE)] = setting(
        30,
        "... but only if it lapsed within this many days; older lapses appear in the "
        "weekly digest.",
    )
    default_recipient: BareAddress | None = setting(
        None,
        "Who gets agreements that no coordinator matches. Unset: they are reported as "
        "unrouted and `run-once` exits 1; nothing is dropped silently.",
        example="international@example.edu",
        in_example_config=True,
    )


class Coordinator(Table):
    """One [[coordinators]] table per person who receives digests."""

    name: NonEmpty = setting(
        None, "The coordinator's name, as the digest greets them.", default_text="the email"
    )
    email: BareAddress = setting(..., "Where the coordinator's digests go.")
    countries: Countries = setting(
        ("*",), "Partner countries routed to this coordinator: ISO 3166-1 alpha-2 codes, or *."
    )
    programmes: Names = setting(
        ("*",), "Programmes routed to this coordinator (case, accents, punctuation aside), or *."
    )
    language: Language | None = setting(
        None,
        "The language of this coordinator's mail and calendars; unset: [mail] language.",
        example="tr",
        default_text="[mail] language",
    )

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_email(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and "email" in data:
            return {**data, "name": data["email"]}
        return data


class DigestConfig(Table):
    """The weekly status digest."""

    send_when_empty: bool = setting(
        False, "Send the weekly status digest even to a coordinator with nothing to report."
    )
    office_summary_to: Addresses = setting(
        (), "Addresses that receive an office-wide weekly digest of every portfolio."
    )


class CountriesConfig(Table):
    """How the importer reads the country column."""

    aliases: Annotated[dict[str, AliasCode], AfterValidator(_alias_keys)] = setting(
        {},
        "The office's own spellings of countries, each with its ISO 3166-1 alpha-2 code: "
        "matched exactly, without a warning, before any other name.",
        example={"Macedonia": "MK", "ABD": "US"},
    )


class EscalationConfig(Table):
    """Copies of urgent reminders."""

    at_window: Annotated[int, AfterValidator(NOT_NEGATIVE)] | None = setting(
        None,
        "Reminders at or below this window (and expiry notices) are copied to `cc`. "
        "Unset: no escalation.",
        example=7,
    )
    cc: Addresses = setting((), "Who is copied on escalated reminders.")


class MailConfig(Table):
    """How mail leaves: written to an outbox folder, or sent by SMTP."""

    transport: Annotated[str, AfterValidator(one_of("outbox", "smtp"))] = setting(
        "outbox",
        '"outbox" writes each message as an .eml file into outbox_dir (no server needed: '
        'for trying it out, previews and archives); "smtp" sends through [smtp].',
    )
    sender: Address = setting(
        "reminder@localhost",
        "Sender address; a display name is allowed.",
        example="Agreement reminders <reminder@example.edu>",
        in_example_config=True,
        alias="from",
    )
    reply_to: Address | None = setting(
        None,
        "Reply address; a display name is allowed.",
        example="international@example.edu",
        in_example_config=True,
    )
    outbox_dir: ConfigPath = setting(
        None,
        "Where the outbox transport writes messages.",
        example="/var/lib/reminder/outbox",
        default_text='an "outbox" folder next to the default database',
    )
    templates_dir: ConfigPath | None = setting(
        None,
        "A folder whose templates replace the built-in ones file by file; a subfolder "
        "named after a language (tr/) holds that language's own.",
        example="/etc/reminder/templates",
    )
    language: Language = setting(
        "en",
        "The office's language: mail to addresses that no [[coordinators]] "
        "table names (the default recipient, a table's coordinator email, the office "
        "summary) is written in it. The CLI and the logs stay English.",
        example="tr",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_outbox(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and "outbox_dir" not in data:
            return {**data, "outbox_dir": surroundings(info.context).state_dir / "outbox"}
        return data


#: The SMTP port each kind of security uses when [smtp] names none.
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class SmtpConfig(Table):
    """The SMTP server, when [mail] transport is "smtp"."""

    host: NonEmpty = setting(
        "localhost",
        "The SMTP server.",
        example="smtp.example.edu",
        in_example_config=True,
    )
    port: Annotated[int, AfterValidator(between(1, 65535))] = setting(
        None,
        "The server's port.",
        example=587,
        default_text="587 for starttls, 465 for tls, 25 for none",
    )
    security: Annotated[str, AfterValidator(one_of("starttls", "tls", "none"))] = setting(
        "starttls",
        '"starttls" (required, never opportunistic), "tls" (implicit TLS) or "none".',
    )
    username: NonEmpty | None = setting(
        None, "User name to log in with. Unset: no login.", example="reminder"
    )
    password: SecretRef = setting(
        SecretRef(), "The SMTP password, one way only, as for the database."
    )
    ca_file: ConfigPath | None = setting(
        None,
        "A CA bundle for a server whose certificate a private CA signed.",
        example="/etc/reminder/ca.pem",
        default_text="the system's CA bundle",
    )
    timeout_seconds: Annotated[float, AfterValidator(POSITIVE)] = setting(
        60.0, "Upper bound for one whole send, in seconds."
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        data = gather_password(data)
        if isinstance(data, dict) and "port" not in data:
            security = data.get("security", "starttls")
            port = DEFAULT_PORTS.get(security, 587) if isinstance(security, str) else 587
            return {**data, "port": port}
        return data


class HaConfig(Table):
    """Two `reminder serve` instances: one active, one standby."""

    takeover_seconds: Annotated[int, AfterValidator(between(5, 86400))] = setting(
        60, "Seconds after which a standby `serve` takes over from an active one that died."
    )


class HealthConfig(Table):
    """What `reminder health` counts as unhealthy."""

    max_failing_hours: Annotated[int, AfterValidator(POSITIVE)] = setting(
        24, "`reminder health` fails when a message has been failing for longer than this ..."
    )
    grace_hours: Annotated[int, AfterValidator(NOT_NEGATIVE)] = setting(
        2, "... or when the last reminder run is older than its interval plus this grace."
    )


def _listen_reason(value: str) -> str | None:
    host, colon, port = value.rpartition(":")
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{value!r} is not HOST:PORT (like 127.0.0.1:8080)"
    return None


def _base_url_reason(value: str) -> str | None:
    if not value.startswith(("http://", "https://")) or " " in value:
        return f"{value!r} is not an http:// or https:// URL"
    return None


def _network_reason(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not an IP address or network (like 10.0.0.1 or 10.0.0.0/24)"
    return None


Listen = Annotated[str, AfterValidator(Check("HOST:PORT", _listen_reason))]
BaseUrl = Annotated[
    str,
    AfterValidator(Check("an http:// or https:// URL", _base_url_reason)),
    AfterValidator(lambda url: url.rstrip("/")),
]
Networks = Annotated[
    tuple[Annotated[str, AfterValidator(Check("IP addresses or networks", _network_reason))], ...],
    BeforeValidator(tuple_from_list),
]


class WebConfig(Table):
    """The office's web page: served by `reminder web`, and by `reminder serve` when enabled."""

    enabled: bool = setting(False, "`reminder serve` serves the web page too, in the same process.")
    listen: Listen = setting("127.0.0.1:8080", "Address and port the web page listens on.")
    base_url: BaseUrl = setting(
        None,
        "The page's public URL (behind a reverse proxy), used in the links reminder writes: "
        "set-password links, calendar feeds. An https:// URL makes the session cookie Secure.",
        example="https://reminder.example.edu",
        default_text="http:// and the listen address",
    )
    trusted_proxies: Networks = setting(
        (),
        "Addresses of reverse proxies whose X-Forwarded-For and user header are believed. "
        "Empty: none is.",
        example=["127.0.0.1"],
    )
    auth: Annotated[str, AfterValidator(one_of("password", "proxy"))] = setting(
        "password",
        '"password": users log in with the password they set; "proxy": the reverse proxy '
        "logs them in and names them in user_header (believed only from trusted_proxies).",
    )
    user_header: NonEmpty = setting(
        "X-Remote-User", 'The header naming the logged-in user\'s e-mail when auth = "proxy".'
    )
    session_idle_minutes: Annotated[int, AfterValidator(between(1, 10080))] = setting(
        60, "A session unused for this many minutes ends; the user logs in again."
    )
    max_upload_megabytes: Annotated[int, AfterValidator(between(1, 1024))] = setting(
        20, "The largest table the import page accepts."
    )
    secret_key: SecretKeyRef = setting(
        SecretKeyRef(),
        "The key that signs session cookies, one way only, as for the database password. "
        "Unset: one is generated into the state directory (web-secret-key, mode 0600) on "
        "first start. Several web processes behind one load balancer need the same key.",
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        data = gather_password(data, "secret_key")
        if isinstance(data, dict) and "base_url" not in data:
            listen = data.get("listen", "127.0.0.1:8080")
            return {**data, "base_url": f"http://{listen}" if isinstance(listen, str) else ""}
        return data

    @property
    def secure(self) -> bool:
        """Return whether the page is reached over https (the cookie is then Secure)."""
        return self.base_url.startswith("https://")

    @property
    def host_and_port(self) -> tuple[str, int]:
        """Return the listen address split into host and port."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)
