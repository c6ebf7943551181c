"""The configuration schema: the whole Config, made of the tables in sections.py.

pydantic models are the one definition of every key: its type, default, description
and example. loading.py reads a file into a Config; example.py writes the commented
example config and the reference from these same models.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from reminder.config.cron import CronSchedule, wall_clock_trigger
from reminder.config.environment import is_time_zone, surroundings, system_timezone
from reminder.config.fields import (
    Check,
    Table,
    TimeZoneName,
    between,
    setting,
    tuple_from_list,
)
from reminder.config.secrets import SecretRef
from reminder.config.sections import (
    AgreementsConfig,
    Coordinator,
    CountriesConfig,
    DatabaseConfig,
    DigestConfig,
    EscalationConfig,
    HaConfig,
    HealthConfig,
    ImportConfig,
    MailConfig,
    RemindersConfig,
    SmtpConfig,
    WebConfig,
)

__all__ = [
    "AgreementsConfig",
    "Config",
    "Coordinator",
    "CountriesConfig",
    "DatabaseConfig",
    "DigestConfig",
    "EscalationConfig",
    "HaConfig",
    "HealthConfig",
    "ImportConfig",
    "MailConfig",
    "RemindersConfig",
    "ScheduleConfig",
    "SecretRef",
    "SmtpConfig",
    "WebConfig",
]


def _cron_line_reason(line: str) -> str | None:
    # The part of the scheduler's trigger (CronSchedule) that can refuse a line; the
    # zone only places its wall-clock times, so it cannot make a line good or bad.
    try:
        wall_clock_trigger(line)
    except ValueError as error:
        return str(error)
    return None


CronLine = Annotated[
    str,
    AfterValidator(Check("a cron line: minute hour day month weekday", _cron_line_reason)),
]


class ScheduleConfig(Table):
    """When `reminder serve` runs each job."""

    reminders: CronLine = setting(
        "0 8 * * *",
        "When `reminder serve` runs the reminder job: a cron line (minute hour day month "
        "weekday), read as cron reads it; weekday 0 and 7 are Sunday. Restricting both "
        "the day and the weekday is refused, as is a line that never fires.",
    )
    digest: CronLine = setting(
        "0 8 * * mon", "When `reminder serve` sends the weekly digest: a cron line, as above."
    )
    timezone: TimeZoneName = setting(
        None,
        "Time zone the cron lines are read in.",
        example="Europe/Istanbul",
        default_text="the top-level timezone",
    )
    retry_minutes: Annotated[int, AfterValidator(between(1, 1440))] = setting(
        15, "Minutes between sweeps that retry messages a server deferred."
    )

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """Return the zone the cron lines are read in."""
        return zoneinfo.ZoneInfo(self.timezone)

    def trigger(self, job: str) -> CronSchedule:
        """Return the scheduler's trigger for "reminders" or "digest"."""
        line = self.reminders if job == "reminders" else self.digest
        return CronSchedule(line, self.zone, key=f"schedule.{job}")


class Config(Table):
    """The effective configuration.

    `source` is the file it came from (None for the built-in defaults) and `state_dir`
    where the default database and outbox live: both come from where it was read, not
    from the file.
    """

    timezone: TimeZoneName = setting(
        None,
        'IANA time zone in which "today" and the schedule are read.',
        example="Europe/Istanbul",
        in_example_config=True,
        default_text="the system's time zone",
    )
    database: DatabaseConfig
    agreements: AgreementsConfig
    # `import` is a Python keyword: the attribute has a trailing underscore.
    import_: ImportConfig = Field(validation_alias="import")
    reminders: RemindersConfig
    coordinators: Annotated[tuple[Coordinator, ...], BeforeValidator(tuple_from_list)] = setting(
        (),
        "One [[coordinators]] table per person. Each receives every agreement whose country "
        "and programme match. An agreement's own coordinator email, when the table gives "
        "one, is used instead.",
        example=[
            {
                "name": "Ayşe Yılmaz",  # noqa: RUF001  # a Turkish name, dotless i and all
                "email": "ayse.yilmaz@example.edu",
                "countries": ["AZ", "GE", "KZ", "KG", "MN", "RU", "UA"],
                "programmes": ["*"],
                "language": "tr",
            },
            {
                "name": "Mehmet Demir",
                "email": "mehmet.demir@example.edu",
                "countries": ["PK", "IN", "AF", "IR", "JP", "KR", "HK", "MY"],
                "programmes": ["Mevlana"],
            },
        ],
        in_example_config=True,
    )
    countries: CountriesConfig
    digest: DigestConfig
    escalation: EscalationConfig
    mail: MailConfig
    smtp: SmtpConfig
    schedule: ScheduleConfig
    ha: HaConfig
    health: HealthConfig
    web: WebConfig

    _source: Path | None = PrivateAttr(None)
    _state_dir: Path = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any, info: ValidationInfo) -> Any:
        """Fill what depends on the surroundings: every table (a missing one is read as
        empty, so that its own defaults are filled), the time zone, and the schedule's
        zone from it."""
        if not isinstance(data, dict):
            return data
        data = {key: {} for key in TABLES} | data
        if "timezone" not in data:
            data["timezone"] = system_timezone(surroundings(info.context).environ)
        schedule, zone = data["schedule"], data["timezone"]
        if isinstance(schedule, dict) and "timezone" not in schedule:
            # A bad top-level zone is reported there, once; UTC stands in meanwhile.
            valid = isinstance(zone, str) and is_time_zone(zone)
            data["schedule"] = {**schedule, "timezone": zone if valid else "UTC"}
        return data

    @model_validator(mode="after")
    def _remember_surroundings(self, info: ValidationInfo) -> Config:
        where = surroundings(info.context)
        self._source, self._state_dir = where.source, where.state_dir
        return self

    @property
    def source(self) -> Path | None:
        """Return the config file this came from, or None for the built-in defaults."""
        return self._source

    @property
    def state_dir(self) -> Path:
        """Return where the default database and outbox live."""
        return self._state_dir

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """Return the configured time zone."""
        return zoneinfo.ZoneInfo(self.timezone)

    def language_of(self, coordinator: Coordinator) -> str:
        """Return the language of a coordinator's mail: their own, else the office's."""
        return coordinator.language or self.mail.language

    @property
    def languages(self) -> tuple[str, ...]:
        """Return every language mail may be written in under this config."""
        found = {self.mail.language, *(self.language_of(c) for c in self.coordinators)}
        return tuple(sorted(found))


#: The config's [tables], in the order the example and reference show them.
#: A table's name in the file is its alias when it has one (keys.file_name reads aliases
#: the same way, for every key; it needs this module, so cannot be used here).
TABLES = tuple(
    field.validation_alias if isinstance(field.validation_alias, str) else name
    for name, field in Config.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Table)
)
