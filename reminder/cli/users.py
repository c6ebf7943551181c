"""`reminder user`: the web page's users (add, list, disable, passwd) and `reminder web`.

No password ever passes through the command line: `add` and `passwd` print a one-time
link (valid for SET_PASSWORD_VALIDITY) at which the user sets one in the browser.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from reminder.cli.common import load, open_db, print_json
from reminder.config.languages import language_reason
from reminder.errors import InputError


def _now() -> datetime:
    return datetime.now(UTC)


def _email(text: str) -> str:
    local, at, domain = text.strip().partition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>,@" for c in domain):
        raise InputError(f"{text!r} is not an e-mail address")
    return text.strip().lower()


def cmd_user_add(args: argparse.Namespace) -> int:
    """`reminder user add EMAIL --role ROLE [--name NAME] [--language LANG]`: print the
    set-password link. Raises InputError for a language without a catalog."""
    from reminder.store import users
    from reminder.store.user_models import Role
    from reminder.web import accounts

    email = _email(args.email)
    name = (args.name or "").strip() or email
    language = args.language
    if language is not None and (reason := language_reason(language)) is not None:
        raise InputError(f"--language: {reason}")
    config = load(args)
    token, now = accounts.new_token(), _now()
    with open_db(config) as database, database.session() as session:
        users.add_user(
            session,
            email,
            name=name,
            role=Role(args.role),
            set_password_digest=accounts.token_digest(token),
            set_password_expires=accounts.set_password_expiry(now),
            now=now,
            language=language,
        )
    expires = accounts.set_password_expiry(now).isoformat(timespec="minutes")
    print(f"user {email} added as {args.role}; the password is set at this link until {expires}:")
    print(accounts.set_password_link(config.web.base_url, token))
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    """`reminder user list`: every user, role, state and page language ("-": none set,
    the browser's or the office's is used)."""
    from reminder.store import users

    config = load(args)
    with open_db(config) as database, database.session(read_only=True) as session:
        listed = users.list_users(session)
    rows = [
        {
            "email": user.email,
            "name": user.name,
            "role": user.role.value,
            "language": user.language,
            "state": "disabled"
            if user.disabled
            else ("active" if user.password_hash else "no password yet"),
        }
        for user in listed
    ]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no users: add one with `reminder user add EMAIL --role admin`")
    for row in rows:
        language = row["language"] or "-"
        print(
            f"{row['email']:<32} {row['role']:<12} {row['state']:<16} {language:<4} {row['name']}"
        )
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    """`reminder user disable EMAIL`: no more logins; sessions and the feed end."""
    from reminder.store import users

    config = load(args)
    with open_db(config) as database, database.session() as session:
        user = users.disable_user(session, args.email)
    print(f"user {user.email} disabled: logged out everywhere, calendar feed closed")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    """`reminder user passwd EMAIL`: print a new one-time link to set the password."""
    from reminder.store import users
    from reminder.web import accounts

    config = load(args)
    token, now = accounts.new_token(), _now()
    with open_db(config) as database, database.session() as session:
        user = users.issue_set_password(
            session,
            args.email,
            digest=accounts.token_digest(token),
            expires=accounts.set_password_expiry(now),
        )
    expires = accounts.set_password_expiry(now).isoformat(timespec="minutes")
    print(f"{user.email} sets a new password at this link until {expires}:")
    print(accounts.set_password_link(config.web.base_url, token))
    return 0
