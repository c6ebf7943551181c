"""Web users and login attempts: the queries and writes the web page and `reminder user`
share. Passwords arrive here already hashed, tokens as their digests; time is `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select, update
from sqlalchemy.orm import Session

from reminder.errors import InputError
from reminder.store.agreements import require_aware
from reminder.store.user_models import LoginAttempt, Role, WebUser

_USER_TABLE = WebUser.__table__


@dataclass(frozen=True)
class UserView:
    """A web user as the pages and the CLI see one."""

    id: int
    email: str
    name: str
    role: Role
    disabled: bool
    password_hash: str | None
    session_generation: int
    # Whether the user has a calendar feed address (only its digest is kept).
    has_calendar_feed: bool = False
    # The language of the user's pages (a catalog's); None: the browser's, else the office's.
    language: str | None = None

    @property
    def is_admin(self) -> bool:
        """Return whether the user is an admin (the office)."""
        return self.role is Role.ADMIN


def _view(user: WebUser | Row[Any]) -> UserView:
    return UserView(
        id=user.id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        disabled=user.disabled,
        password_hash=user.password_hash,
        session_generation=user.session_generation,
        has_calendar_feed=user.calendar_token_digest is not None,
        language=user.language,
    )


def normalise_email(email: str) -> str:
    """Return `email` as users are keyed: trimmed, lower case."""
    return email.strip().lower()


def add_user(
    session: Session,
    email: str,
    *,
    name: str,
    role: Role,
    set_password_digest: str,
    set_password_expires: datetime,
    now: datetime,
    language: str | None = None,
) -> UserView:
    """Add a user with no password yet, only a one-time set-password token, whose pages
    are in `language` (None: the browser's, else the office's). The user has no calendar
    feed until they make one on the calendar page.

    Raises InputError when a user with that e-mail exists.
    """
    require_aware(now)
    email = normalise_email(email)
    if session.scalar(select(WebUser.id).where(WebUser.email == email)) is not None:
        raise InputError(f"{email}: there is already a user with this e-mail")
    user = WebUser(
        email=email,
        name=name,
        role=role.value,
        password_hash=None,
        disabled=False,
        session_generation=0,
        calendar_token_digest=None,
        set_password_digest=set_password_digest,
        set_password_expires=set_password_expires,
        created_at=now,
        language=language,
    )
    session.add(user)
    session.flush()
    return _view(user)


def _require(session: Session, email: str) -> WebUser:
    user = session.scalar(select(WebUser).where(WebUser.email == normalise_email(email)))
    if user is None:
        raise InputError(f"{email}: no such user (see `reminder user list`)")
    return user


def list_users(session: Session) -> list[UserView]:
    """Return every user, by e-mail."""
    return [_view(user) for user in session.scalars(select(WebUser).order_by(WebUser.email))]


def _one_user(session: Session, condition: ColumnElement[bool]) -> UserView | None:
    # Every page asks who is asking: the row is read through the session's connection,
    # as a plain row (a third of the time of loading a WebUser object), and the page
    # needs nothing of the object but its values.
    row = session.connection().execute(select(_USER_TABLE).where(condition)).first()
    return None if row is None else _view(row)


def user_by_email(session: Session, email: str) -> UserView | None:
    """Return the user with `email`, or None."""
    return _one_user(session, WebUser.email == normalise_email(email))


def user_by_id(session: Session, user_id: int) -> UserView | None:
    """Return the user with `user_id`, or None."""
    return _one_user(session, WebUser.id == user_id)


def user_by_calendar_digest(session: Session, digest: str) -> UserView | None:
    """Return the enabled user whose calendar feed token has `digest`, or None."""
    user = session.scalar(
        select(WebUser).where(WebUser.calendar_token_digest == digest, WebUser.disabled.is_(False))
    )
    return None if user is None else _view(user)


def disable_user(session: Session, email: str) -> UserView:
    """Disable a user: no login, every session and the calendar feed end.

    Raises InputError for an unknown user.
    """
    user = _require(session, email)
    user.disabled = True
    user.session_generation += 1
    user.set_password_digest = None
    return _view(user)


def issue_set_password(session: Session, email: str, *, digest: str, expires: datetime) -> UserView:
    """Give a user a new one-time set-password token (the old one stops working).

    Raises InputError for an unknown user.
    """
    require_aware(expires)
    user = _require(session, email)
    user.set_password_digest, user.set_password_expires = digest, expires
    return _view(user)


def user_by_set_password_token(session: Session, digest: str, *, now: datetime) -> UserView | None:
    """Return the enabled user whose unexpired set-password token has `digest`, or None."""
    user = session.scalar(
        select(WebUser).where(
            WebUser.set_password_digest == digest,
            WebUser.set_password_expires > now,
            WebUser.disabled.is_(False),
        )
    )
    return None if user is None else _view(user)


def set_password(
    session: Session, user_id: int, password_hash: str, *, used_digest: str | None = None
) -> bool:
    """Store a new password hash; end the user's sessions; spend the token `used_digest`.

    With `used_digest`, the write happens only if the token is still the user's (a
    conditional UPDATE: two tabs using one link set the password once). Returns
    whether the password was set.
    """
    statement = update(WebUser).where(WebUser.id == user_id)
    if used_digest is not None:
        statement = statement.where(WebUser.set_password_digest == used_digest)
    result = session.execute(
        statement.values(
            password_hash=password_hash,
            set_password_digest=None,
            set_password_expires=None,
            session_generation=WebUser.session_generation + 1,
        ).execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def end_sessions(session: Session, user_id: int) -> None:
    """End every session of a user (logout): their cookies name the old generation."""
    session.execute(
        update(WebUser)
        .where(WebUser.id == user_id)
        .values(session_generation=WebUser.session_generation + 1)
        .execution_options(synchronize_session=False)
    )


def reset_calendar_token(session: Session, user_id: int, digest: str) -> None:
    """Give a user the calendar token whose digest is `digest`: the old feed URL, if
    any, stops working."""
    session.execute(
        update(WebUser)
        .where(WebUser.id == user_id)
        .values(calendar_token_digest=digest)
        .execution_options(synchronize_session=False)
    )


def record_login_attempt(
    session: Session, *, email: str, address: str, succeeded: bool, now: datetime
) -> int:
    """Record one login attempt (the e-mail as typed, normalised; the client address).

    Returns the attempt's id, for `mark_login_succeeded`.
    """
    require_aware(now)
    attempt = LoginAttempt(
        at=now, email=normalise_email(email)[:320], address=address[:45], succeeded=succeeded
    )
    session.add(attempt)
    session.flush()
    return attempt.id


def mark_login_succeeded(session: Session, attempt_id: int) -> None:
    """Record that the attempt `attempt_id`, recorded as failed, let the user in."""
    session.execute(
        update(LoginAttempt)
        .where(LoginAttempt.id == attempt_id)
        .values(succeeded=True)
        .execution_options(synchronize_session=False)
    )


def failed_logins(
    session: Session, *, since: datetime, email: str | None = None, address: str | None = None
) -> int:
    """Return how many failed attempts for `email` (or from `address`) came after `since`."""
    query = select(func.count()).where(LoginAttempt.at > since, LoginAttempt.succeeded.is_(False))
    if email is not None:
        query = query.where(LoginAttempt.email == normalise_email(email)[:320])
    if address is not None:
        query = query.where(LoginAttempt.address == address[:45])
    return session.scalar(query) or 0


def prune_login_attempts(session: Session, *, before: datetime) -> None:
    """Delete attempts older than `before`: only recent ones count."""
    session.execute(LoginAttempt.__table__.delete().where(LoginAttempt.__table__.c.at < before))
