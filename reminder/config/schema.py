"""The configuration's types: every section as a frozen value the rest of the code reads."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SecretRef:
    """Where a password comes from; reading it is credentials.resolve's job.

    `inline` is a password written in the config file itself, accepted only when the
    file is not readable by other users.
    """

    inline: str | None = None
    file: Path | None = None
    credential: str | None = None
    env: str | None = None

    @property
    def is_set(self) -> bool:
        """Return True when any source is configured."""
        return any(v is not None for v in (self.inline, self.file, self.credential, self.env))


@dataclass(frozen=True)
class DatabaseConfig:
    url: str
    password: SecretRef


@dataclass(frozen=True)
class AgreementsConfig:
    term_years: int
    default_programme: str


@dataclass(frozen=True)
class RemindersConfig:
    windows: tuple[int, ...]  # days before effective-until, largest first
    notify_expired: bool
    expired_lookback_days: int
    default_recipient: str | None


@dataclass(frozen=True)
class Coordinator:
    name: str
    email: str
    countries: tuple[str, ...]  # ISO alpha-2 codes, upper case, or ("*",)
    programmes: tuple[str, ...]  # programme names as written, or ("*",)


@dataclass(frozen=True)
class DigestConfig:
    send_when_empty: bool
    office_summary_to: tuple[str, ...]


@dataclass(frozen=True)
class EscalationConfig:
    at_window: int | None
    cc: tuple[str, ...]


@dataclass(frozen=True)
class MailConfig:
    transport: str  # "outbox" | "smtp"
    sender: str
    reply_to: str | None
    outbox_dir: Path
    templates_dir: Path | None


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # "starttls" | "tls" | "none"
    username: str | None
    password: SecretRef
    ca_file: Path | None
    timeout_seconds: float


@dataclass(frozen=True)
class ScheduleConfig:
    reminders: str
    digest: str
    timezone: str
    retry_minutes: int


@dataclass(frozen=True)
class HaConfig:
    takeover_seconds: int


@dataclass(frozen=True)
class HealthConfig:
    max_failing_hours: int
    grace_hours: int


@dataclass(frozen=True)
class Config:
    """The effective configuration. `source` is the file it came from, None for defaults."""

    source: Path | None
    timezone: str
    state_dir: Path
    database: DatabaseConfig
    agreements: AgreementsConfig
    reminders: RemindersConfig
    coordinators: tuple[Coordinator, ...]
    digest: DigestConfig
    escalation: EscalationConfig
    mail: MailConfig
    smtp: SmtpConfig
    schedule: ScheduleConfig
    ha: HaConfig
    health: HealthConfig

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """Return the configured time zone."""
        return zoneinfo.ZoneInfo(self.timezone)
