"""The web page in a real browser (Debian's chromium, driven by Playwright): the office
logs in, finds an expiring agreement, renews it and sees the history line; the CLI
confirms the database changed and the next run does not remind it; the sample table is
imported through the page; a coordinator finds no renew button on another
coordinator's agreement; the coordinator, whose language is Turkish, reads Turkish
pages.

With REMINDER_SCREENSHOTS_DIR set, every page is also photographed at 375 and 1280 px
wide into that folder (docs/web/ holds the ones the README shows).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from e2e.clirun import SAMPLE, RunCli

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTHS = (375, 1280)
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
)

if CHROMIUM.exists():
    from playwright.sync_api import Page, expect, sync_playwright


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


ZONE = "Europe/Istanbul"


def today() -> date:
    """Return today where the service runs (the config's time zone)."""
    return datetime.now(ZoneInfo(ZONE)).date()


def day(offset: int) -> str:
    return (today() + timedelta(days=offset)).strftime("%d.%m.%Y")


@pytest.fixture
def office(run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """Start `reminder web` on a database holding three agreements; yield the config path,
    the base URL and the admin's and Ayşe's set-password links."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""\
timezone = "{ZONE}"
[agreements]
default_programme = "Mevlana"
[mail]
transport = "outbox"
outbox_dir = "{tmp_path / "outbox"}"
[[coordinators]]
name = "Ayşe Yılmaz"
email = "ayse@example.edu"
countries = ["GE", "AZ"]
[[coordinators]]
name = "Mehmet Demir"
email = "mehmet@example.edu"
countries = ["PK"]
[web]
listen = "127.0.0.1:{port}"
base_url = "{base}"
""",  # a Turkish name, dotless i and all
        encoding="utf-8",
    )
    config.chmod(0o600)
    table = tmp_path / "portfolio.tsv"
    table.write_text(
        "NO.\tUNIVERSITY\tCOUNTRY\tCONCLUSION DATE\tEFFECTIVE UNTIL\n"
        f"1\tKutaisi International University\tGeorgia\t{day(-1765)}\t{day(60)}\n"
        f"2\tLahore College for Women University\tPakistan\t{day(-1780)}\t{day(45)}\n"
        f"3\tBaku Engineering University\tAzerbaijan\t{day(-300)}\t{day(1500)}\n",
        encoding="utf-8",
    )
    imported = run_cli("--config", config, "import", table.name)  # cwd: tmp_path
    assert imported.returncode == 0, imported.stderr
    links = {}
    # Ayşe reads Turkish: her pages are in her language whatever the browser asks for.
    for email, role, name, *language in (
        ("office@example.edu", "admin", "International Office"),
        ("ayse@example.edu", "coordinator", "Ayşe Yılmaz", "--language", "tr"),
    ):
        added = run_cli(
            "--config", config, "user", "add", email, "--role", role, "--name", name, *language
        )
        assert added.returncode == 0, added.stderr
        links[email] = added.stdout.split()[-1]
    log = (tmp_path / "web.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "reminder", "--config", str(config), "web"],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/login")
                break
            except httpx.TransportError:
                assert process.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < deadline, "reminder web did not start"
                time.sleep(0.1)
        yield {"config": str(config), "base": base, **links}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        log.close()


class Camera:
    """Screenshots of each page at both widths, when REMINDER_SCREENSHOTS_DIR is set."""

    def __init__(self) -> None:
        folder = os.environ.get("REMINDER_SCREENSHOTS_DIR")
        self.folder = Path(folder) if folder else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def shoot(self, page: Page, name: str) -> None:
        if self.folder is None:
            return
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            page.screenshot(path=str(self.folder / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})


def set_password_and_log_in(page: Page, base: str, link: str, email: str) -> None:
    page.goto(link)
    page.fill("#password", PASSWORD)
    page.fill("#repeated", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/login?password=set")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_office_renews_imports_and_a_coordinator_cannot_renew_anothers(
    office: dict[str, str], run_cli: RunCli
) -> None:
    base, config = office["base"], office["config"]
    camera = Camera()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/login")
        camera.shoot(page, "login")
        set_password_and_log_in(page, base, office["office@example.edu"], "office@example.edu")
        camera.shoot(page, "agreements")

        # Filter to what is expiring, open the Georgian agreement, renew it.
        page.select_option("select[name=status]", "expiring")
        page.click(".filters button[type=submit]")
        page.wait_for_url(re.compile(r".*status=expiring.*"))
        rows = page.locator("table.list tbody tr")
        expect(rows).to_have_count(2)
        page.click("text=Kutaisi International University")
        camera.shoot(page, "agreement")
        page.fill("#renew-concluded", today().isoformat())
        page.fill("#renew-years", "5")
        page.click("button[name=renew]")
        page.wait_for_url(re.compile(r".*/agreements/\d+\?done=renewed"))
        history = page.locator("table.history tbody tr").last
        expect(history).to_contain_text("International Office")
        expect(history).to_contain_text("superseded")

        # The database changed, as the CLI sees it; the next run reminds only Lahore.
        listed = run_cli("--config", config, "agreements", "--json")
        agreements = {
            a["partner"]: a for a in json.loads(listed.stdout) if a["status"] != "superseded"
        }
        renewed = agreements["Kutaisi International University"]
        assert renewed["concluded"] == today().isoformat()
        assert renewed["status"] == "active"
        ran = run_cli("--config", config, "run-once")
        assert ran.returncode == 0, ran.stderr
        sent = "".join(
            path.read_text(encoding="utf-8", errors="replace")
            for path in (Path(config).parent / "outbox").rglob("*.eml")
        )
        assert "Lahore College for Women University" in sent
        assert "Kutaisi" not in sent

        # The other pages.
        page.goto(f"{base}/mail")
        camera.shoot(page, "mail")
        page.goto(f"{base}/status")
        camera.shoot(page, "status")
        # The feed address is shown once, right after it is made.
        page.goto(f"{base}/calendar")
        page.click("form[action='/calendar/reset'] button")
        expect(page.locator("input.feed")).to_have_value(re.compile(r".*/calendar/.+\.ics$"))
        camera.shoot(page, "calendar")

        # Import the sample table: dry run first, then confirm.
        page.goto(f"{base}/import")
        camera.shoot(page, "import")
        page.set_input_files("#table", str(SAMPLE))
        page.click("main form button[type=submit]")
        expect(page.locator("h2").first).to_contain_text("What the import would do")
        camera.shoot(page, "import-report")
        page.click("form[action='/import/confirm'] button")
        expect(page.locator("h2").first).to_contain_text("Imported")
        after = json.loads(run_cli("--config", config, "agreements", "--json").stdout)
        assert any(a["partner"] == "Ivane Javakhishvili Tbilisi State University" for a in after)

        # A coordinator: no renew button on Mehmet's agreement, one on her own.
        coordinator = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        set_password_and_log_in(coordinator, base, office["ayse@example.edu"], "ayse@example.edu")
        lahore = next(a for a in after if a["partner"] == "Lahore College for Women University")
        coordinator.goto(f"{base}/agreements/{lahore['id']}")
        expect(coordinator.locator("h1")).to_contain_text("Lahore College")
        expect(coordinator.locator("button[name=renew]")).to_have_count(0)
        coordinator.goto(f"{base}/agreements/{renewed['id']}")
        expect(coordinator.locator("button[name=renew]")).to_have_count(1)
        coordinator.goto(f"{base}/mine")
        camera.shoot(coordinator, "my-agreements-tr")
        coordinator.goto(f"{base}/")
        expect(coordinator.locator("html")).to_have_attribute("lang", "tr")
        expect(coordinator.locator("h1")).to_contain_text("Anlaşmalar")
        expect(coordinator.locator("table.list thead")).to_contain_text("Geçerlilik sonu")
        camera.shoot(coordinator, "agreements-tr")
        browser.close()
