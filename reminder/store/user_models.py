"""SQLAlchemy models of the web page's users and login attempts; no queries here.

They live beside models.py (same Base, same conventions: the migration gives MySQL
and MariaDB their engine and character set) and are imported by the package's
__init__, so Base.metadata always holds them. Nothing about a session is
kept here: sessions are signed cookies; `session_generation` lets the server end every
session of a user at once (new password, disabled) without keeping any of them.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from reminder.store.models import Base, UTCDateTime


class Role(enum.StrEnum):
    """What a web user may do: admins everything, coordinators act on the agreements
    routed to them, viewers only read."""

    ADMIN = "admin"
    COORDINATOR = "coordinator"
    VIEWER = "viewer"


class WebUser(Base):
    """A person who logs in to the web page."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(12))  # a Role value
    # argon2id, in the PHC string format argon2-cffi writes; None until a password is set.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    # SHA-256 of the private calendar feed's token, the way set_password_digest is kept:
    # a leaked database or backup gives no one the feed URLs. None until the user makes
    # a feed address on the calendar page.
    calendar_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    # SHA-256 of the one-time set-password token: a leaked database lets no one in.
    set_password_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    set_password_expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The language of the user's pages ("tr"); None: the browser's, else the office's.
    language: Mapped[str | None] = mapped_column(String(16))


class LoginAttempt(Base):
    """One try at logging in, kept in the database so that every web process sharing it
    counts the same attempts."""

    __tablename__ = "web_login_attempts"
    __table_args__ = (
        Index("ix_web_login_attempts_email_at", "email", "at"),
        Index("ix_web_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    email: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(45))
    succeeded: Mapped[bool] = mapped_column(Boolean)
