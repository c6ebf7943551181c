"""One active `serve` per database: the others wait as standbys.

The lock: SQLite: an exclusive flock on a file next to the database. PostgreSQL and MariaDB: a
lock held by a database connection of its own (store.ServerLock). The operating
system or the database server releases the lock when its holder dies, so a standby
can take over. The lock only saves wasted work: the ledger's unique constraints and
the message claims are what keep a reminder from going out twice.

The role (Role) is built on the lock: active while holding it, standby otherwise,
and written to service_instances as a heartbeat for `reminder status`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from reminder import store
from reminder.errors import StoreError
from reminder.store.database import Database, sqlite_file

log = logging.getLogger(__name__)

#: A stopped instance's row is deleted by the active instance after this long.
FORGET_INSTANCES_AFTER = timedelta(days=1)


class InstanceLock(Protocol):
    """A lock that at most one process holds; it is released when its holder dies."""

    @property
    def description(self) -> str:
        """Return what kind of lock this is, for logs."""
        ...

    def try_acquire(self) -> bool:
        """Take the lock without waiting; return whether this process holds it.

        Raises StoreError if the lock cannot be reached.
        """
        ...

    def is_held(self) -> bool:
        """Return whether this process still holds the lock."""
        ...

    def release(self) -> None:
        """Give the lock up."""
        ...


class FileLock:
    """An exclusive flock on `path`, held while the file stays open.

    flock is advisory and local: it keeps two processes on one machine apart, which is
    what an SQLite file allows anyway (SQLite on a network share is not supported).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None

    @property
    def description(self) -> str:
        """Return what kind of lock this is, for logs."""
        return f"lock file {self.path}"

    def try_acquire(self) -> bool:
        """Take the lock without waiting; return whether this process holds it.

        Raises StoreError if the lock file cannot be opened.
        """
        if self._descriptor is not None:
            return True
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise StoreError(
                f"cannot open the lock file {self.path}: {error.strerror or error}"
            ) from error
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        except OSError as error:
            os.close(descriptor)
            raise StoreError(f"cannot lock {self.path}: {error.strerror or error}") from error
        # Who holds it, for a person looking at the file; the lock itself is the flock.
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{socket.gethostname()} {os.getpid()}\n".encode())
        self._descriptor = descriptor
        return True

    def is_held(self) -> bool:
        """Return whether this process holds the lock (a flock lasts while the file is open)."""
        return self._descriptor is not None

    def release(self) -> None:
        """Give the lock up by closing the file; the file itself stays."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


class NoLock:
    """For an in-memory SQLite database, which no other process can open anyway."""

    description = "no lock (in-memory database)"

    def try_acquire(self) -> bool:
        """Return True: there is nobody to share with."""
        return True

    def is_held(self) -> bool:
        """Return True."""
        return True

    def release(self) -> None:
        """Do nothing."""


def instance_lock(database: Database, url: str) -> InstanceLock:
    """Return the single-instance lock for the database at `url`, not yet taken.

    SQLite "x.sqlite3" is locked through "x.sqlite3.serve.lock" beside it.
    Raises StoreError if `url` cannot be parsed.
    """
    if database.dialect_name == "sqlite":
        path = sqlite_file(url)
        if path is None:
            return NoLock()
        return FileLock(path.with_name(path.name + ".serve.lock"))
    with database.session(read_only=True) as session:
        lock = store.server_lock(session)
    assert lock is not None, "only SQLite has no server lock"
    return lock


class Role:
    """This process's role: "active" while it holds `lock`, "standby" otherwise."""

    def __init__(self, lock: InstanceLock, database: Database, *, now: datetime) -> None:
        self.lock = lock
        self.database = database
        self.active = False
        self.instance = store.InstanceView(
            secrets.token_hex(8), socket.gethostname(), os.getpid(), "standby", now, now
        )
        self._standby_announced = False

    @property
    def name(self) -> str:
        """Return "active" or "standby"."""
        return "active" if self.active else "standby"

    def update(self) -> Literal["active", "standby"] | None:
        """Keep, lose or take the lock; return the new role when it changed, else None.

        Raises StoreError if a server lock cannot be reached.
        """
        if self.active:
            return None if self.lock.is_held() else self._stand_by("lost the lock")
        if self.lock.try_acquire():
            self.active = True
            log.info(
                "active instance (holding the %s): running the schedule", self.lock.description
            )
            self._forget_other_active()
            return "active"
        if not self._standby_announced:
            return self._stand_by(f"another instance holds the {self.lock.description}")
        return None

    def confirm(self) -> bool:
        """Return whether this process may run jobs now: it is active and holds the lock.

        Checked before each run, so a process that lost its lock turns standby.
        """
        if self.active and not self.lock.is_held():
            self._stand_by("lost the lock")
        return self.active

    def beat(self, now: datetime) -> None:
        """Write this instance's row with its role; the active one forgets long-dead ones.

        Raises StoreError if the database cannot be reached.
        """
        with self.database.session() as session:
            store.record_heartbeat(
                session, replace(self.instance, role=self.name, heartbeat_at=now)
            )
            if self.active:
                store.prune_instances(session, before=now - FORGET_INSTANCES_AFTER)

    def leave(self) -> None:
        """Delete this instance's row and give the lock up (the process is stopping)."""
        try:
            with self.database.session() as session:
                store.remove_instance(session, self.instance.instance)
        except StoreError as error:
            log.warning("cannot remove this instance from service_instances: %s", error)
        self.lock.release()
        self.active = False

    def _forget_other_active(self) -> None:
        """Delete the rows of other instances that said they were active: the lock says
        they are not (they died, or will write their row again as standbys)."""
        with self.database.session() as session:
            for other in store.live_instances(session, since=datetime.min.replace(tzinfo=UTC)):
                if other.role == "active" and other.instance != self.instance.instance:
                    store.remove_instance(session, other.instance)

    def _stand_by(self, reason: str) -> Literal["standby"]:
        self.active, self._standby_announced = False, True
        log.warning("standby: %s; taking over when the active instance stops", reason)
        return "standby"
