"""The web page's security, on SQLite, PostgreSQL and MariaDB: sessions, CSRF, headers,
escaping, login limits, roles, upload size, proxy authentication."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.routing import Route
from web.webapp import PASSWORD, Site, csrf_of, history, log_in, make_site

from reminder.store import users
from reminder.store.database import Database
from reminder.web import accounts
from reminder.web.app import SESSION_COOKIE, routes
from reminder.web.guards import CONTENT_SECURITY_POLICY


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Site:
    return make_site(db, tmp_path)


def test_session_cookie_is_httponly_lax_and_rotated_at_login(site: Site) -> None:
    client = site.client()
    before = client.get("/login")
    cookie_before = client.cookies[SESSION_COOKIE]
    token_before = csrf_of(before.text)
    header = before.headers["set-cookie"]
    assert "httponly" in header.lower()
    assert "samesite=lax" in header.lower()
    assert "secure" not in header.lower()  # base_url is http:// here

    log_in(client, "office@example.edu")

    assert client.cookies[SESSION_COOKIE] != cookie_before
    page = client.get("/")
    assert page.status_code == 200
    assert csrf_of(page.text) != token_before, "the CSRF token planted before login survived"


def test_cookie_is_secure_when_base_url_is_https(db: Database, tmp_path: Path) -> None:
    site = make_site(db, tmp_path, web='base_url = "https://reminder.example.edu"')
    response = site.client().get("/login")
    assert "; secure" in response.headers["set-cookie"].lower()


def test_logout_ends_the_session_even_for_a_replayed_cookie(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    stolen = client.cookies[SESSION_COOKIE]
    token = csrf_of(client.get("/").text)

    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)

    assert response.status_code == 303
    assert SESSION_COOKIE not in client.cookies
    replay = site.client()
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_session_ends_after_idle_time(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    site.clock.advance(timedelta(minutes=59))
    assert client.get("/", follow_redirects=False).status_code == 200  # used: idle restarts
    site.clock.advance(timedelta(minutes=59))
    assert client.get("/", follow_redirects=False).status_code == 200
    site.clock.advance(timedelta(minutes=61))
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_pages_need_a_login(site: Site) -> None:
    response = site.client().get(
        f"/agreements/{site.ids['Lahore University']}", follow_redirects=False
    )
    assert response.status_code == 303
    assert (
        response.headers["location"] == f"/login?next=/agreements/{site.ids['Lahore University']}"
    )


def post_routes() -> list[str]:
    return [
        route.path
        for route in routes()
        if isinstance(route, Route) and "POST" in (route.methods or ())
    ]


def test_every_post_without_the_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    number = site.ids["Tbilisi State University"]
    before = history(site.database, number)
    paths = {
        path.replace("{agreement_id}", str(number))
        .replace("{action}", "retire")
        .replace("{token}", "whatever")
        for path in post_routes()
    }
    assert f"/agreements/{number}/retire" in paths and "/logout" in paths and "/login" in paths
    for path in sorted(paths):
        for data in ({"reason": "no"}, {"reason": "no", "csrf_token": "forged"}):
            response = client.post(path, data=data, follow_redirects=False)
            assert response.status_code == 403, path
    assert history(site.database, number) == before
    assert client.get("/", follow_redirects=False).status_code == 200  # still logged in


def test_security_headers_on_every_response(site: Site) -> None:
    client = site.client()
    for path in ("/login", "/static/style.css", "/no-such-page"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src" not in headers["content-security-policy"]  # default-src 'none'
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_pages_have_no_inline_script_or_style(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    for path in ("/", f"/agreements/{site.ids['Lahore University']}", "/login"):
        text = client.get(path).text.lower()
        assert "<script" not in text.replace("&lt;script", "")
        assert " style=" not in text and "<style" not in text


def test_a_partner_named_as_markup_shows_as_text(site: Site) -> None:
    client = site.client()
    log_in(client, "office@example.edu")
    number = site.ids["<script>alert(1)</script>"]
    for path in ("/", f"/agreements/{number}", "/?q=script"):
        text = client.get(path).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path
        assert "<script>alert(1)</script>" not in text, path


def attempt(client: object, email: str, password: str) -> int:
    from starlette.testclient import TestClient

    assert isinstance(client, TestClient)
    token = csrf_of(client.get("/login").text)
    data = {"email": email, "password": password, "csrf_token": token}
    return client.post("/login", data=data, follow_redirects=False).status_code


def test_login_is_limited_per_account_with_the_same_answer_for_unknown_users(site: Site) -> None:
    client = site.client("192.0.2.1")
    wrong = [attempt(client, "office@example.edu", "nope") for _ in range(5)]
    unknown = [attempt(client, "nobody@example.edu", "nope") for _ in range(5)]
    assert wrong == unknown == [401] * 5
    assert attempt(client, "office@example.edu", "nope") == 429
    assert attempt(client, "nobody@example.edu", "nope") == 429
    # The right password does not get through the limit either ...
    assert attempt(client, "office@example.edu", PASSWORD) == 429
    # ... until the window has passed.
    site.clock.advance(timedelta(minutes=16))
    assert attempt(client, "office@example.edu", PASSWORD) == 303


def test_a_login_attempt_counts_before_its_password_is_checked(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Requests sent together must each see the others: an attempt recorded only after
    # argon2 (tens of milliseconds) let a burst of guesses all pass the limit.
    seen: list[int] = []
    verify = accounts.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        with site.database.session(read_only=True) as session:
            since = site.clock() - timedelta(minutes=15)
            seen.append(users.failed_logins(session, since=since, email="office@example.edu"))
        return verify(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", counting)
    client = site.client("192.0.2.3")
    assert attempt(client, "office@example.edu", "nope") == 401
    assert attempt(client, "office@example.edu", PASSWORD) == 303
    # Each attempt was counted while its password was checked; the good one is then
    # marked as such and no longer counts against the account.
    assert seen == [1, 2]
    with site.database.session(read_only=True) as session:
        since = site.clock() - timedelta(minutes=15)
        assert users.failed_logins(session, since=since, email="office@example.edu") == 1


def test_login_is_limited_per_address(site: Site) -> None:
    client = site.client("192.0.2.7")
    codes = [attempt(client, f"guess{index}@example.edu", "nope") for index in range(20)]
    assert codes == [401] * 20
    assert attempt(client, "office@example.edu", PASSWORD) == 429
    assert attempt(site.client("192.0.2.8"), "office@example.edu", PASSWORD) == 303


def test_forwarded_address_believed_only_from_a_trusted_proxy(site: Site) -> None:
    spoofer = site.client("192.0.2.9")
    for index in range(20):
        token = csrf_of(spoofer.get("/login").text)
        spoofer.post(
            "/login",
            data={"email": f"g{index}@example.edu", "password": "x", "csrf_token": token},
            headers={"x-forwarded-for": f"198.51.100.{index}"},
        )
    # The header was ignored: all twenty failures count against 192.0.2.9.
    assert attempt(spoofer, "office@example.edu", PASSWORD) == 429
    proxy = site.client("10.0.0.1")
    token = csrf_of(proxy.get("/login").text)
    response = proxy.post(
        "/login",
        data={"email": "office@example.edu", "password": PASSWORD, "csrf_token": token},
        headers={"x-forwarded-for": "198.51.100.77"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_coordinator_cannot_act_on_someone_elses_agreement(site: Site) -> None:
    client = site.client()
    log_in(client, "ayse@example.edu")
    theirs = site.ids["Lahore University"]  # routed to Mehmet (PK)
    before = history(site.database, theirs)
    page = client.get(f"/agreements/{theirs}")
    assert page.status_code == 200
    assert f'action="/agreements/{theirs}/renew"' not in page.text
    token = csrf_of(page.text)
    for action, data in (
        ("renew", {"concluded": "2026-03-01"}),
        ("retire", {"reason": "no"}),
        ("amend", {"until": "2030-01-01"}),
        ("snooze", {"until": "2026-04-01"}),
    ):
        response = client.post(f"/agreements/{theirs}/{action}", data={**data, "csrf_token": token})
        assert response.status_code == 403, action
    assert history(site.database, theirs) == before

    own = site.ids["Tbilisi State University"]  # GE: routed to Ayşe
    page = client.get(f"/agreements/{own}")
    assert f'action="/agreements/{own}/renew"' in page.text
    response = client.post(
        f"/agreements/{own}/retire",
        data={"reason": "partner closed", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert history(site.database, own)[-1] == ("Ayşe Yılmaz", "retired")


def test_viewer_only_reads(site: Site) -> None:
    client = site.client()
    log_in(client, "viewer@example.edu")
    number = site.ids["Tbilisi State University"]
    page = client.get(f"/agreements/{number}")
    assert page.status_code == 200 and "/retire" not in page.text
    response = client.post(
        f"/agreements/{number}/retire", data={"reason": "x", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 403


def test_upload_size_is_bounded(db: Database, tmp_path: Path) -> None:
    site = make_site(db, tmp_path, web="max_upload_megabytes = 1")
    client = site.client()
    log_in(client, "office@example.edu")
    token = csrf_of(client.get("/").text)
    big = b"x" * (1024 * 1024 + 1)
    response = client.post(
        "/login", data={"csrf_token": token}, files={"table": ("big.tsv", big, "text/plain")}
    )
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:
        yield from (b"y" * 65536 for _ in range(17))  # no Content-Length: counted as read

    form = {"content-type": "application/x-www-form-urlencoded"}
    response = client.post("/logout", content=chunks(), headers=form)
    assert response.status_code == 413


def test_proxy_auth_believed_only_from_trusted_proxies(db: Database, tmp_path: Path) -> None:
    site = make_site(db, tmp_path, web='auth = "proxy"\nuser_header = "X-Remote-User"')
    header = {"X-Remote-User": "office@example.edu"}
    assert site.client("10.0.0.1").get("/", headers=header).status_code == 200
    assert site.client("192.0.2.1").get("/", headers=header).status_code == 403
    unknown = {"X-Remote-User": "stranger@example.edu"}
    assert site.client("10.0.0.1").get("/", headers=unknown).status_code == 403
    # No password login in proxy mode.
    assert site.client("192.0.2.1").get("/login").status_code == 403


def test_a_page_without_a_form_sends_no_session_cookie(db: Database, tmp_path: Path) -> None:
    # Behind a single sign-on proxy a reader needs no session until a page has a form:
    # the CSRF token is made when a form writes it, and then it works.
    site = make_site(db, tmp_path, web='auth = "proxy"\nuser_header = "X-Remote-User"')
    header = {"X-Remote-User": "office@example.edu"}
    client = site.client("10.0.0.1")
    listed = client.get("/", headers=header)
    assert listed.status_code == 200 and "set-cookie" not in listed.headers
    number = site.ids["Tbilisi State University"]
    page = client.get(f"/agreements/{number}", headers=header)
    assert "reminder_session=" in page.headers["set-cookie"]
    response = client.post(
        f"/agreements/{number}/snooze",
        data={"until": "2026-04-01", "csrf_token": csrf_of(page.text)},
        headers=header,
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_set_password_link_works_once(site: Site) -> None:
    from reminder.store import users
    from reminder.web import accounts

    token = accounts.new_token()
    with site.database.session() as session:
        users.issue_set_password(
            session,
            "viewer@example.edu",
            digest=accounts.token_digest(token),
            expires=site.clock() + timedelta(hours=1),
        )
    client = site.client()
    page = client.get(f"/set-password/{token}")
    assert page.status_code == 200
    data = {"password": "a new password", "repeated": "a new password"}
    short = client.post(
        f"/set-password/{token}",
        data={"password": "short", "repeated": "short", "csrf_token": csrf_of(page.text)},
    )
    assert short.status_code == 400
    response = client.post(
        f"/set-password/{token}",
        data={**data, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert client.get(f"/set-password/{token}").status_code == 404
    log_in(site.client(), "viewer@example.edu", "a new password")
    assert attempt(site.client(), "viewer@example.edu", PASSWORD) == 401


def test_set_password_link_expires(site: Site) -> None:
    from reminder.store import users
    from reminder.web import accounts

    token = accounts.new_token()
    with site.database.session() as session:
        users.issue_set_password(
            session,
            "viewer@example.edu",
            digest=accounts.token_digest(token),
            expires=site.clock() + timedelta(hours=1),
        )
    site.clock.advance(timedelta(hours=1, seconds=1))
    assert site.client().get(f"/set-password/{token}").status_code == 404


def test_disabled_user_is_logged_out(site: Site) -> None:
    from reminder.store import users

    client = site.client()
    log_in(client, "mehmet@example.edu")
    with site.database.session() as session:
        users.disable_user(session, "mehmet@example.edu")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert attempt(site.client(), "mehmet@example.edu", PASSWORD) == 401


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "https://evil.example/"])
def test_login_never_redirects_to_another_host(site: Site, target: str) -> None:
    client = site.client()
    token = csrf_of(client.get("/login").text)
    data = {"email": "office@example.edu", "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", data={**data, "next": target}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_login_returns_to_the_page_asked_for(site: Site) -> None:
    client = site.client()
    token = csrf_of(client.get("/login?next=/status").text)
    data = {"email": "office@example.edu", "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", data={**data, "next": "/status"}, follow_redirects=False)
    assert response.headers["location"] == "/status"
