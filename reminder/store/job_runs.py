"""What the service and its status commands read and write beside the ledger.

- job runs: starting and finishing one, the last run of a job, the last successful one,
  the latest day run for, pruning the retry sweeps;
- service instances: each running `serve`, its role and heartbeat;
- failing messages, for `reminder health`;
- the database lock that keeps a second `serve` on PostgreSQL or MariaDB in standby.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, delete, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from reminder.errors import StoreError
from reminder.store.models import REFUSED_STATES, JobRun, Message, MessageState, ServiceInstance

log = logging.getLogger(__name__)

#: The outcomes of a run that happened: it decided and recorded, even if some mail is
#: still pending ("incomplete"). A "failed" run decided nothing that can be trusted.
SUCCESS_OUTCOMES = ("ok", "incomplete")


@dataclass(frozen=True)
class JobRunView:
    """One row of job_runs."""

    job: str
    as_of: date
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    summary: str


@dataclass(frozen=True)
class InstanceView:
    """One running (or lately running) `serve` process."""

    instance: str
    hostname: str
    pid: int
    role: str
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class FailingMessage:
    """A message that has been failing since `failing_since`."""

    message_id: str
    state: str
    failing_since: datetime
    last_error: str | None


# --- job runs ----------------------------------------------------------------------------


def start_job_run(session: Session, job: str, as_of: date, *, now: datetime) -> int:
    """Record that a job run started; returns its id."""
    run = JobRun(job=job, as_of=as_of, started_at=now, outcome="running", summary="")
    session.add(run)
    session.flush()
    return run.id


def finish_job_run(
    session: Session, run_id: int, *, outcome: str, summary: str, now: datetime
) -> None:
    """Record how a job run ended: ok, incomplete (work left pending) or failed."""
    run = session.get_one(JobRun, run_id)
    run.finished_at, run.outcome, run.summary = now, outcome, summary


def last_job_run(
    session: Session, job: str, *, outcomes: Collection[str] | None = None
) -> JobRunView | None:
    """Return the latest run of `job` (by start), only among `outcomes` if given."""
    query = select(JobRun).where(JobRun.job == job)
    if outcomes is not None:
        query = query.where(JobRun.outcome.in_(list(outcomes)))
    run = session.scalars(query.order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1))
    row = run.first()
    if row is None:
        return None
    return JobRunView(row.job, row.as_of, row.started_at, row.finished_at, row.outcome, row.summary)


def last_successful_run(session: Session, job: str) -> JobRunView | None:
    """Return the latest run of `job` that ended ok or incomplete."""
    return last_job_run(session, job, outcomes=SUCCESS_OUTCOMES)


def last_finished_run(session: Session, job: str) -> JobRunView | None:
    """Return the latest run of `job` that has ended, however it ended."""
    return last_job_run(session, job, outcomes=(*SUCCESS_OUTCOMES, "failed"))


def latest_run_day(session: Session, job: str, *, not_after: date | None = None) -> date | None:
    """Return the latest day a run of `job` was for among those that ended ok or
    incomplete (not after `not_after` when given), or None when there is none.

    Runs are judged by the day they were for, not by when they happened: a run for
    an old day (`run-once --as-of`) done today does not stand for today's.
    """
    query = select(func.max(JobRun.as_of)).where(
        JobRun.job == job, JobRun.outcome.in_(SUCCESS_OUTCOMES)
    )
    if not_after is not None:
        query = query.where(JobRun.as_of <= not_after)
    day: date | None = session.scalar(query)
    return day


def prune_job_runs(session: Session, job: str, *, before: datetime) -> int:
    """Delete the runs of `job` that started before `before`; return how many."""
    result = session.execute(
        delete(JobRun)
        .where(JobRun.job == job, JobRun.started_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- service instances ---------------------------------------------------------------------


def record_heartbeat(session: Session, instance: InstanceView) -> None:
    """Write `instance`'s row: its role and heartbeat time (insert or update)."""
    row = session.get(ServiceInstance, instance.instance)
    if row is None:
        session.add(
            ServiceInstance(
                instance=instance.instance,
                hostname=instance.hostname,
                pid=instance.pid,
                role=instance.role,
                started_at=instance.started_at,
                heartbeat_at=instance.heartbeat_at,
            )
        )
        return
    row.role, row.heartbeat_at = instance.role, instance.heartbeat_at


def remove_instance(session: Session, instance: str) -> None:
    """Delete the row of `instance` (it is stopping)."""
    session.execute(
        delete(ServiceInstance)
        .where(ServiceInstance.instance == instance)
        .execution_options(synchronize_session=False)
    )


def live_instances(session: Session, *, since: datetime) -> list[InstanceView]:
    """Return the instances whose heartbeat is at or after `since`, active ones first."""
    rows = session.scalars(
        select(ServiceInstance)
        .where(ServiceInstance.heartbeat_at >= since)
        .order_by(ServiceInstance.role, ServiceInstance.started_at)
    )
    return [
        InstanceView(r.instance, r.hostname, r.pid, r.role, r.started_at, r.heartbeat_at)
        for r in rows
    ]


def prune_instances(session: Session, *, before: datetime) -> int:
    """Delete the rows of instances silent since before `before`; return how many."""
    result = session.execute(
        delete(ServiceInstance)
        .where(ServiceInstance.heartbeat_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- failing messages ----------------------------------------------------------------------


def oldest_failing_message(session: Session) -> FailingMessage | None:
    """Return the pending, failed or partly failed message that has been failing the
    longest, if any."""
    row = session.execute(
        select(Message.message_id, Message.state, Message.failing_since, Message.last_error)
        .where(
            Message.state.in_([MessageState.PENDING, *REFUSED_STATES]),
            Message.failing_since.is_not(None),
        )
        .order_by(Message.failing_since, Message.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    message_id, state, failing_since, last_error = row
    assert failing_since is not None  # the query asked for it
    return FailingMessage(message_id, str(state), failing_since, last_error)


# --- the single-instance lock on a database server -----------------------------------------

# pg_try_advisory_lock(int, int) keys: "remi" as a number, and 1 for `serve`. Advisory
# locks belong to one database, so two databases on one server do not meet.
_PG_LOCK_KEYS = {"class_key": 0x72656D69, "object_key": 1}
_PG_TRY = text("SELECT pg_try_advisory_lock(:class_key, :object_key)")
_PG_HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = CAST(:class_key AS oid)"
    " AND objid = CAST(:object_key AS oid) AND objsubid = 2"
)
_PG_RELEASE = text("SELECT pg_advisory_unlock(:class_key, :object_key)")


class ServerLock:
    """A lock held by a database connection of its own, for as long as it is open.

    PostgreSQL: a session-level advisory lock. MariaDB/MySQL: GET_LOCK, whose names are
    server-wide, so the name carries the database's. Either way the server releases
    the lock when the connection ends, also when the process holding it is killed.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._mysql_name: str | None = None

    @property
    def description(self) -> str:
        """Return what kind of lock this is, for logs."""
        if self._engine.dialect.name == "postgresql":
            return "PostgreSQL advisory lock"
        return "MariaDB/MySQL named lock (GET_LOCK)"

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; return whether this process holds it now.

        Raises StoreError if the database cannot be reached.
        """
        if self.is_held():
            return True
        try:
            connection = self._connect()
            if self._engine.dialect.name == "postgresql":
                taken = bool(connection.execute(_PG_TRY, _PG_LOCK_KEYS).scalar())
            else:
                taken = (
                    connection.execute(
                        text("SELECT GET_LOCK(:name, 0)"), {"name": self._lock_name(connection)}
                    ).scalar()
                    == 1
                )
        except DBAPIError as error:
            self._drop_connection()
            raise StoreError(f"cannot take the single-instance lock: {_reason(error)}") from error
        if not taken:
            # Keep no idle connection open while another instance is active.
            self._drop_connection()
        return taken

    def is_held(self) -> bool:
        """Return whether this process still holds the lock (False if the connection died)."""
        if self._connection is None:
            return False
        try:
            if self._engine.dialect.name == "postgresql":
                held = self._connection.execute(_PG_HELD, _PG_LOCK_KEYS).scalar() == 1
            else:
                held = (
                    self._connection.execute(
                        text("SELECT IS_USED_LOCK(:name) = CONNECTION_ID()"),
                        {"name": self._lock_name(self._connection)},
                    ).scalar()
                    == 1
                )
        except DBAPIError as error:
            log.warning(
                "the connection holding the single-instance lock failed: %s", _reason(error)
            )
            held = False
        if not held:
            self._drop_connection()
        return held

    def release(self) -> None:
        """Give the lock up (closing its connection); nothing happens if it is not held."""
        if self._connection is None:
            return
        try:
            if self._engine.dialect.name == "postgresql":
                self._connection.execute(_PG_RELEASE, _PG_LOCK_KEYS)
            else:
                self._connection.execute(
                    text("SELECT RELEASE_LOCK(:name)"), {"name": self._lock_name(self._connection)}
                )
        except DBAPIError as error:
            log.debug("releasing the single-instance lock failed: %s", _reason(error))
        self._drop_connection()

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            )
        return self._connection

    def _drop_connection(self) -> None:
        """Close the lock's connection for good: a pooled one would keep the lock alive."""
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        try:
            connection.invalidate()
            connection.close()
        except DBAPIError:
            pass  # the connection is gone either way

    def _lock_name(self, connection: Connection) -> str:
        if self._mysql_name is None:
            database = str(connection.execute(text("SELECT DATABASE()")).scalar() or "")
            name = f"reminder serve {database}"
            if len(name) > 64:  # the longest lock name MariaDB and MySQL accept
                name = "reminder serve " + hashlib.sha256(database.encode()).hexdigest()[:40]
            self._mysql_name = name
        return self._mysql_name


def server_lock(session: Session) -> ServerLock | None:
    """Return the single-instance lock for the database `session` is bound to.

    Returns None for SQLite, which is locked by a file next to the database instead.
    """
    engine = session.get_bind()
    assert isinstance(engine, Engine), "sessions of reminder.store.database are bound to an Engine"
    if engine.dialect.name == "sqlite":
        return None
    return ServerLock(engine)


def _reason(error: DBAPIError) -> str:
    return " ".join(str(error.orig).split()) or type(error.orig).__name__
