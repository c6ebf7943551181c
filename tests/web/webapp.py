"""A web app on a real database for the route tests, with users and agreements."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from factories import agreement_input
from starlette.testclient import TestClient

from reminder.cli.mail import build_context
from reminder.cli.service import web_services
from reminder.config.loading import load_config
from reminder.config.schema import Config
from reminder.store import apply_import, iter_agreements, users
from reminder.store.database import Database
from reminder.store.user_models import Role
from reminder.web import accounts
from reminder.web.app import build_app

PASSWORD = "correct horse battery"
SECRET_KEY = "k" * 48
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# A Turkish name, dotless i and all: the history must keep it as written.
CONFIG = """\
timezone = "UTC"
[reminders]
windows = [180, 90, 30, 7]
[[coordinators]]
name = "Ayşe Yılmaz"
email = "ayse@example.edu"
countries = ["GE", "AZ"]
[[coordinators]]
name = "Mehmet Demir"
email = "mehmet@example.edu"
countries = ["PK"]
[web]
trusted_proxies = ["10.0.0.1"]
{web}
"""


@dataclass
class Clock:
    """A wall clock the test moves."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Site:
    """The app, its database, config and clock, and the agreements' ids by partner."""

    config: Config
    database: Database
    clock: Clock
    ids: dict[str, int] = field(default_factory=dict)

    def client(self, address: str = "testclient") -> TestClient:
        context = build_context(self.config, self.database)
        services = web_services(lambda: context, self.database)
        app = build_app(
            self.config, self.database, services, secret_key=SECRET_KEY, clock=self.clock
        )
        return TestClient(app, base_url="http://testserver", client=(address, 50000))

    def add_user(
        self,
        email: str,
        role: Role,
        name: str,
        *,
        password: str = PASSWORD,
        language: str | None = None,
    ) -> int:
        with self.database.session() as session:
            user = users.add_user(
                session,
                email,
                name=name,
                role=role,
                set_password_digest=accounts.token_digest(accounts.new_token()),
                set_password_expires=self.clock() + timedelta(hours=1),
                now=self.clock(),
                language=language,
            )
            users.set_password(session, user.id, accounts.hash_password(password))
        return user.id


def site_with_config(database: Database, tmp_path: Path, text: str) -> Site:
    """Return a Site on `database` with the config `text` (written to a private file in
    `tmp_path`, its data folder there too), no user and no agreement yet."""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    config = load_config(str(path), {"XDG_DATA_HOME": str(tmp_path / "data")})
    return Site(config, database, Clock())


def make_site(database: Database, tmp_path: Path, web: str = "") -> Site:
    """Return a Site on `database` with an admin, two coordinators, a viewer and three
    agreements: one routed to Ayşe (GE), one to Mehmet (PK), one whose partner's name
    is markup."""
    site = site_with_config(database, tmp_path, CONFIG.format(web=web))
    site.add_user("office@example.edu", Role.ADMIN, "Office Admin")
    site.add_user("ayse@example.edu", Role.COORDINATOR, "Ayşe Yılmaz")
    site.add_user("mehmet@example.edu", Role.COORDINATOR, "Mehmet Demir")
    site.add_user("viewer@example.edu", Role.VIEWER, "Vera Viewer")
    rows = [
        agreement_input("Tbilisi State University", effective_until=date(2026, 5, 1)),
        agreement_input(
            "Lahore University",
            country="Pakistan",
            country_code="PK",
            effective_until=date(2026, 6, 1),
        ),
        agreement_input(
            "<script>alert(1)</script>", country_code="AZ", effective_until=date(2027, 1, 1)
        ),
    ]
    with database.session() as session:
        apply_import(session, rows, now=START, actor="tester")
    with database.session(read_only=True) as session:
        site.ids = {a.partner: a.id for a in iter_agreements(session)}
    return site


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form in `html`."""
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Log `client` in as `email`; fail the test if that does not work."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def history(database: Database, agreement_id: int) -> list[tuple[str, str]]:
    """Return the agreement's history as (actor, action) pairs."""
    from reminder.store import agreement_history

    with database.session(read_only=True) as session:
        return [(e.actor, e.action) for e in agreement_history(session, agreement_id)]
