"""`reminder user` and `reminder web` as a user runs them; `reminder serve` with [web]
enabled. The pages are fetched over a real socket."""

from __future__ import annotations

import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e.clirun import RunCli
from e2e.test_serve import NotifySocket, Serve

STARTUP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    port = free_port()
    path.write_text(
        f'[web]\nenabled = true\nlisten = "127.0.0.1:{port}"\n'
        f'base_url = "http://127.0.0.1:{port}"\n[schedule]\nreminders = "0 8 * * *"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def base_url(config: Path) -> str:
    found = re.search(r'base_url = "([^"]+)"', config.read_text(encoding="utf-8"))
    assert found is not None
    return found.group(1)


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


def start(command: str, config: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "reminder", "--config", str(config), command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def test_user_commands(run_cli: RunCli, config: Path) -> None:
    added = run_cli("--config", config, "user", "add", "Office@Example.edu", "--role", "admin")
    assert added.returncode == 0, added.stderr
    assert "user office@example.edu added as admin" in added.stdout
    assert re.search(rf"{re.escape(base_url(config))}/set-password/[\w-]{{43}}\n", added.stdout)

    again = run_cli("--config", config, "user", "add", "office@example.edu", "--role", "viewer")
    assert again.returncode == 2
    assert again.stderr == (
        "reminder: office@example.edu: there is already a user with this e-mail\n"
    )
    bad = run_cli("--config", config, "user", "add", "not-an-address", "--role", "viewer")
    assert (bad.returncode, bad.stderr) == (
        2,
        "reminder: 'not-an-address' is not an e-mail address\n",
    )
    role = run_cli("--config", config, "user", "add", "x@example.edu", "--role", "boss")
    assert role.returncode == 2 and "invalid choice: 'boss'" in role.stderr
    # A language without a catalog: one line, exit 2, and no user added.
    language = run_cli(
        "--config", config, "user", "add", "x@example.edu", "--role", "viewer", "--language", "xx"
    )
    assert (language.returncode, language.stderr.count("\n")) == (2, 1), language.stderr
    assert language.stderr.startswith("reminder: --language: no catalog for language 'xx'")
    assert (
        "'tr'" in language.stderr
        and "x@example.edu" not in run_cli("--config", config, "user", "list").stdout
    )

    run_cli(
        "--config",
        config,
        "user",
        "add",
        "c@example.edu",
        "--role",
        "coordinator",
        "--name",
        "Ayşe",
        "--language",
        "tr",
    )
    listed = run_cli("--config", config, "user", "list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == [
        f"{'c@example.edu':<32} {'coordinator':<12} {'no password yet':<16} tr   Ayşe",
        f"{'office@example.edu':<32} {'admin':<12} {'no password yet':<16} -    office@example.edu",
    ]
    as_json = run_cli("--config", config, "user", "list", "--json")
    assert '"language": "tr"' in as_json.stdout and '"language": null' in as_json.stdout
    first_link = added.stdout.split()[-1]
    passwd = run_cli("--config", config, "user", "passwd", "office@example.edu")
    assert passwd.returncode == 0 and passwd.stdout.split()[-1] != first_link
    unknown = run_cli("--config", config, "user", "passwd", "nobody@example.edu")
    assert unknown.returncode == 2
    assert "nobody@example.edu: no such user" in unknown.stderr
    disabled = run_cli("--config", config, "user", "disable", "c@example.edu")
    assert disabled.returncode == 0
    states = run_cli("--config", config, "user", "list", "--json")
    assert '"state": "disabled"' in states.stdout


def set_password_and_log_in(client: httpx.Client, link: str, email: str) -> None:
    """Set a password at the one-time `link`, then log `client` in as `email` with it."""
    page = client.get(link)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    password = "a long enough password"
    data = {"password": password, "repeated": password, "csrf_token": token.group(1)}
    assert client.post(link, data=data).status_code == 303
    login = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    data = {"email": email, "password": password, "csrf_token": token.group(1)}
    assert client.post("/login", data=data).status_code == 303


def test_new_admin_sets_a_password_and_logs_in(
    run_cli: RunCli, config: Path, cli_env: dict[str, str], tmp_path: Path, notify: NotifySocket
) -> None:
    added = run_cli("--config", config, "user", "add", "office@example.edu", "--role", "admin")
    link = added.stdout.split()[-1]
    env = {**cli_env, "NOTIFY_SOCKET": notify.name}
    process = start("web", config, env, tmp_path / "web.log")
    try:
        notify.wait_for("READY=1")
        with httpx.Client(base_url=base_url(config)) as client:
            # Listening as soon as READY=1 arrived.
            set_password_and_log_in(client, link, "office@example.edu")
            assert "Agreements" in client.get("/").text
    finally:
        assert stop(process) == 0
    key = tmp_path / "data" / "reminder" / "web-secret-key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_serve_listens_before_ready(
    config: Path, cli_env: dict[str, str], tmp_path: Path, notify: NotifySocket
) -> None:
    env = {**cli_env, "NOTIFY_SOCKET": notify.name}
    process = start("serve", config, env, tmp_path / "serve.log")
    try:
        notify.wait_for("READY=1")
        response = httpx.get(f"{base_url(config)}/login")
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
    finally:
        assert stop(process) == 0


def serve_config(port: int, coordinator: str, reminders: str, web: str = "") -> str:
    """Return a config serving the pages on `port`, with GE routed to `coordinator`."""
    return (
        f'[web]\nenabled = true\nlisten = "127.0.0.1:{port}"\n'
        f'base_url = "http://127.0.0.1:{port}"\n{web}'
        f'[schedule]\nreminders = "{reminders}"\n'
        f'[[coordinators]]\nname = "Coordinator"\nemail = "{coordinator}"\ncountries = ["GE"]\n'
    )


@pytest.mark.parametrize("command", ["serve", "web"])
def test_pages_follow_a_reload_except_a_changed_web_table(
    run_cli: RunCli,
    config: Path,
    cli_env: dict[str, str],
    tmp_path: Path,
    notify: NotifySocket,
    command: str,
) -> None:
    # `reminder serve` with [web] enabled, and `reminder web` alone: SIGHUP reaches the
    # pages the same way.
    port = int(base_url(config).rsplit(":", 1)[1])
    config.write_text(serve_config(port, "ayse@example.edu", "0 8 * * *"), encoding="utf-8")
    added = run_cli("--config", config, "user", "add", "office@example.edu", "--role", "admin")
    assert added.returncode == 0, added.stderr
    env = {**cli_env, "NOTIFY_SOCKET": notify.name}
    serve = Serve(config, env, tmp_path / f"{command}.log", command)

    def reload_with(text: str, logged: str) -> None:
        config.write_text(text, encoding="utf-8")
        serve.process.send_signal(signal.SIGHUP)
        serve.wait_for_log(logged)

    try:
        notify.wait_for("READY=1")
        with httpx.Client(base_url=base_url(config)) as client:
            set_password_and_log_in(client, added.stdout.split()[-1], "office@example.edu")
            # The list's coordinator filter offers the configured ones (the app's
            # state); the status page shows the schedule (`status --json`'s report).
            assert '<option value="ayse@example.edu">' in client.get("/").text
            assert "<code>0 8 * * *</code>" in client.get("/status").text

            # Refused: neither the runs nor the pages take any of it.
            reload_with(
                serve_config(port, "nadia@example.edu", "at eight"),
                r"reload refused, the running configuration stays: .*schedule\.reminders",
            )
            listing = client.get("/").text
            assert '<option value="ayse@example.edu">' in listing
            assert "nadia@example.edu" not in listing
            assert "<code>0 8 * * *</code>" in client.get("/status").text

            reload_with(
                serve_config(port, "nadia@example.edu", "30 9 * * *"), "configuration reloaded"
            )
            listing = client.get("/").text
            assert '<option value="nadia@example.edu">' in listing
            assert "ayse@example.edu" not in listing
            assert "<code>30 9 * * *</code>" in client.get("/status").text

            # A changed [web] is said, and the pages go on with the running one: the
            # session (signed and timed by the start's [web]) still opens the list.
            reload_with(
                serve_config(port, "omar@example.edu", "30 9 * * *", "session_idle_minutes = 5\n"),
                r"(?s)configuration reloaded.*configuration reloaded",
            )
            listing_response = client.get("/")
            assert listing_response.status_code == 200
            assert '<option value="omar@example.edu">' in listing_response.text

            # Another database is said too, and the pages go on with the one they opened.
            other = tmp_path / "other.sqlite3"
            reload_with(
                serve_config(port, "omar@example.edu", "30 9 * * *")
                + f'[database]\nurl = "sqlite:///{other}"\n',
                r"database\.url changed: restart",
            )
            assert client.get("/").status_code == 200
    finally:
        assert serve.stop() == 0
    assert serve.log.count("SIGHUP: [web] changed: restart the service to use it") == 1
    assert serve.log.count("SIGHUP: database.url changed") == 1
    assert "Traceback" not in serve.log


def test_a_busy_port_is_one_line(run_cli: RunCli, config: Path) -> None:
    port = int(base_url(config).rsplit(":", 1)[1])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        started = time.monotonic()
        result = run_cli("--config", config, "web", timeout=STARTUP_SECONDS)
    assert time.monotonic() - started < STARTUP_SECONDS
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("reminder:")]
    assert problems == [
        f"reminder: web.listen: cannot listen on 127.0.0.1:{port}: Address already in use"
    ], result.stderr
