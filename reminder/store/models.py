"""SQLAlchemy 2.0 typed models of the agreements and their history; no queries here.

The schema is kept portable across SQLite, PostgreSQL and MariaDB: enums are short
strings (no native ENUM types, so a new value never needs a migration), every string
has a length (MariaDB needs one to index it), and constraints are named by one
convention so migrations name them the same way on every database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final

from sqlalchemy import (
    TIMESTAMP,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from reminder.domain.records import CountryMatch, Lifecycle, Precision, UntilSource

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: Longest value each string column of `agreements` holds (in characters); the store
#: checks imported rows against these so that every database refuses the same rows.
AGREEMENT_STRING_LENGTHS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "partner": 300,
        "partner_key": 300,
        "country": 120,
        "country_code": 2,
        "programme": 120,
        "programme_key": 120,
        "coordinator_email": 320,
        "source_file": 500,
    }
)
# The tables are made by the migrations, which also give MySQL and MariaDB their engine
# and character set (InnoDB, utf8mb4). Those options are not repeated here: SQLAlchemy
# imports the MySQL dialect to check them, 50 ms of every command's start on any database.


class Base(DeclarativeBase):
    """Declarative base whose metadata names every constraint by NAMING_CONVENTION."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every model here is mapped to a Table: the store inserts in bulk through it.
    __table__: ClassVar[Table]


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and always read back as an aware UTC datetime.

    PostgreSQL keeps it in a `timestamp with time zone`; SQLite and MariaDB have no zone
    in their column types, so the UTC wall time is stored without one. Naive datetimes
    are refused on the way in (ValueError): time is always zone-aware in this project.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Return the column type used on `dialect`."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(TIMESTAMP(timezone=True))
        if dialect.name in ("mysql", "mariadb"):
            # Imported here: the MySQL dialect package imports asyncio and its async
            # drivers, which every command would pay for at start-up.
            from sqlalchemy.dialects.mysql import DATETIME

            # MariaDB's DATETIME drops the fraction of a second unless asked to keep it.
            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return `value` converted to UTC (naive except on PostgreSQL).

        Raises ValueError for a naive datetime.
        """
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give a time zone")
        in_utc = value.astimezone(UTC)
        return in_utc if dialect.name == "postgresql" else in_utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _string(column: str) -> String:
    """Return the String type of the `agreements` column named `column`."""
    return String(AGREEMENT_STRING_LENGTHS[column])


def _key_string(column: str) -> String:
    """Return the String type of an identity key column, compared byte for byte.

    MariaDB's default collations ignore case and accents, so "Universite" and
    "Université" would collide there but not on SQLite or PostgreSQL; a binary
    collation makes the unique constraint mean the same on every database.
    """
    return _binary_collated(AGREEMENT_STRING_LENGTHS[column])


def _binary_collated(length: int) -> String:
    """Return a String of `length` that MariaDB/MySQL compare byte for byte (utf8mb4_bin)."""
    # The generic String with a collation, which only the MySQL dialect writes out.
    return String(length).with_variant(String(length, collation="utf8mb4_bin"), "mysql", "mariadb")


class LongBinary(TypeDecorator[bytes]):
    """Bytes of any size: a LONGBLOB on MariaDB/MySQL, whose BLOB stops at 64 KiB."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Return the column type used on `dialect`."""
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import LONGBLOB  # see UTCDateTime

            return dialect.type_descriptor(LONGBLOB())
        return dialect.type_descriptor(LargeBinary())


def _string_enum(enum_class: type[enum.StrEnum], length: int) -> Enum:
    """Return a column type keeping `enum_class` values as plain short strings.

    No native ENUM and no CHECK constraint: adding a value later needs no migration.
    """
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class EventAction(enum.StrEnum):
    """What happened to an agreement; kept as a plain string in `agreement_events`."""

    IMPORTED = "imported"
    UPDATED = "updated"
    SUPERSEDED = "superseded"
    # An agreement that was superseded became the current one again.
    CURRENT_AGAIN = "current_again"
    RENEWED = "renewed"
    RETIRED = "retired"
    REINSTATED = "reinstated"
    SNOOZED = "snoozed"
    # The effective-until date was changed by hand (`reminder renew ID --until DATE`).
    AMENDED = "amended"


class Agreement(Base):
    """One agreement with a partner in a programme, as imported and as it lives on.

    `partner_key` + `programme_key` + `concluded` identify it across imports.
    """

    __tablename__ = "agreements"
    __table_args__ = (
        UniqueConstraint("partner_key", "programme_key", "concluded", name="uq_agreement_identity"),
        # "Which active agreements end between A and B" is then a range scan.
        Index("ix_agreements_lifecycle_until", "lifecycle", "effective_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(_string("partner"))
    partner_key: Mapped[str] = mapped_column(_key_string("partner_key"))
    country: Mapped[str] = mapped_column(_string("country"))
    country_code: Mapped[str | None] = mapped_column(_string("country_code"))
    country_match: Mapped[CountryMatch] = mapped_column(_string_enum(CountryMatch, 12))
    programme: Mapped[str] = mapped_column(_string("programme"))
    programme_key: Mapped[str] = mapped_column(_key_string("programme_key"))
    notes: Mapped[str] = mapped_column(Text, default="")
    concluded: Mapped[date] = mapped_column(Date)
    concluded_precision: Mapped[Precision] = mapped_column(_string_enum(Precision, 5))
    effective_until: Mapped[date] = mapped_column(Date, index=True)
    effective_until_source: Mapped[UntilSource] = mapped_column(_string_enum(UntilSource, 5))
    approximate: Mapped[bool] = mapped_column(Boolean)
    lifecycle: Mapped[Lifecycle] = mapped_column(
        _string_enum(Lifecycle, 12), default=Lifecycle.ACTIVE
    )
    coordinator_email: Mapped[str | None] = mapped_column(_string("coordinator_email"))
    source_file: Mapped[str] = mapped_column(_string("source_file"))
    source_line: Mapped[int] = mapped_column(Integer)
    # One warning per line: the importer's remarks about doubtful data in this row.
    data_warnings: Mapped[str] = mapped_column(Text, default="")
    retired_reason: Mapped[str | None] = mapped_column(Text)
    snoozed_until: Mapped[date | None] = mapped_column(Date)
    superseded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreements.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Return the data warnings, one string per warning."""
        return tuple(line for line in self.data_warnings.split("\n") if line)

    def __repr__(self) -> str:
        return (
            f"<Agreement #{self.id} {self.partner_key!r} {self.programme_key!r} "
            f"{self.concluded} until {self.effective_until} {self.lifecycle}>"
        )


class AgreementEvent(Base):
    """One line of an agreement's history: who did what, when."""

    __tablename__ = "agreement_events"
    __table_args__ = (Index("ix_agreement_events_agreement_at", "agreement_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    # An EventAction value; a plain string so that new actions need no migration.
    action: Mapped[str] = mapped_column(String(40))
    details: Mapped[str] = mapped_column(Text, default="")


# --- the ledger: reminders decided, messages that carry them, job runs ---------------------


class MessageState(enum.StrEnum):
    """Where a message of the outbox stands."""

    PENDING = "pending"  # recorded, not yet accepted by the server (or deferred)
    SENT = "sent"  # accepted for every recipient that was not refused for good
    FAILED = "failed"  # refused for good for every recipient
    # Accepted for some recipients and refused for good by at least one: as undelivered
    # as a failed message for whoever was refused, so listed, counted and retried alike.
    PARTIAL = "partial"


#: The states of a message that a recipient refused for good: `outbox` lists them,
#: `status` and `health` count them, `outbox retry` queues them again.
REFUSED_STATES = (MessageState.FAILED, MessageState.PARTIAL)


class ReminderState(enum.StrEnum):
    """What a ledger entry records."""

    QUEUED = "queued"  # carried by a message (see the message's state)
    SKIPPED = "skipped"  # a window jumped over: recorded so it is never sent late


class Message(Base):
    """One e-mail in the outbox: rendered once, sent as these exact bytes on every attempt."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("dedup_key_hash", name="uq_messages_dedup_key_hash"),
        UniqueConstraint("message_id", name="uq_messages_message_id"),
        Index("ix_messages_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # reminder | weekly | office
    # What makes the message unique ("weekly|addr|2022-W03"); hashed for the index,
    # since a digest's key lists every agreement in it.
    dedup_key: Mapped[str] = mapped_column(Text)
    dedup_key_hash: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(250))
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LongBinary)
    as_of: Mapped[date] = mapped_column(Date)
    state: Mapped[MessageState] = mapped_column(_string_enum(MessageState, 8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A process that is sending the message holds it until then (claim before send).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MessageRecipient(Base):
    """One envelope recipient of a message, settled one by one."""

    __tablename__ = "message_recipients"
    __table_args__ = (
        UniqueConstraint("message_pk", "address", name="uq_message_recipients_address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    state: Mapped[MessageState] = mapped_column(_string_enum(MessageState, 8))
    last_error: Mapped[str | None] = mapped_column(Text)


class Reminder(Base):
    """A ledger entry: agreement X at its effective-until date, window W, recipient R.

    The unique constraint is what makes a second reminder impossible, also when two
    processes decide at once.
    """

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint(
            "agreement_id", "effective_until", "window_days", "recipient", name="uq_reminders_key"
        ),
        # Each digest asks which events its recipient was sent that a renewal replaced
        # (store.replaced_events): without this, one scan of the whole ledger a digest.
        Index("ix_reminders_recipient_until", "recipient", "effective_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"))
    effective_until: Mapped[date] = mapped_column(Date)
    window_days: Mapped[int] = mapped_column(Integer)  # 0: the expiry notice
    recipient: Mapped[str] = mapped_column(_binary_collated(320))
    state: Mapped[ReminderState] = mapped_column(_string_enum(ReminderState, 8))
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    decided_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobRun(Base):
    """One run of a job, for `status`, `health` and the catch-up after downtime."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(20))  # reminders | digest | retry
    as_of: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(12))  # running | ok | incomplete | failed
    summary: Mapped[str] = mapped_column(Text, default="")


class ServiceInstance(Base):
    """A running `reminder serve` process and its role, for `reminder status`.

    Each instance rewrites its row every few seconds (the heartbeat) and deletes it when
    it stops; a row whose heartbeat is old belongs to a process that died.
    """

    __tablename__ = "service_instances"

    instance: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(8))  # active | standby
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
