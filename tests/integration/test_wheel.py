"""The wheel carries what an installed copy needs: templates and migrations.

Built in-process with hatchling's PEP 517 hook; installing it into a fresh virtualenv
would take too long, so the wheel is unpacked and imported from there instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hatchling.build import build_wheel

REPOSITORY = Path(__file__).resolve().parents[2]

# Renders a reminder from the unpacked package and reports where package and templates
# were found, one per line, then the subject.
CHECK_SCRIPT = """
from datetime import date
import reminder
from reminder.domain.reminder_digest import DueItem, Recipient, ReminderDigest
from reminder.domain.records import AgreementView, CountryMatch, Lifecycle, Precision, UntilSource
from reminder.mail.render import Renderer

view = AgreementView(
    id=1, partner="Baku State University", country="Azerbaijan", country_code="AZ",
    country_match=CountryMatch.EXACT, programme="Erasmus+", notes="",
    concluded=date(2019, 3, 11), concluded_precision=Precision.DAY,
    effective_until=date(2024, 3, 11), effective_until_source=UntilSource.GIVEN,
    approximate=False, lifecycle=Lifecycle.ACTIVE, coordinator_email=None,
)
digest = ReminderDigest(Recipient("coordinator@example.edu"), date(2024, 3, 4),
                        (DueItem(view, 30, 7),))
renderer = Renderer()
print(reminder.__file__)
print(*renderer.search_path, sep="\\n")
print(renderer.reminder(digest).subject)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the path of a wheel built from the repository."""
    output = tmp_path_factory.mktemp("dist")
    # The build hook reads pyproject.toml from the working directory.
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(REPOSITORY)
        name = build_wheel(str(output))
    return output / name


def test_the_wheel_carries_templates_and_migrations(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    packaged_templates = {
        f"reminder/templates/emails/{path.name}"
        for path in (REPOSITORY / "templates" / "emails").iterdir()
        if path.suffix in (".html", ".txt", ".css")
    }
    assert {
        "reminder/templates/emails/reminder-subject.txt",
        "reminder/templates/emails/reminder-body.txt",
        "reminder/templates/emails/reminder-body.html",
        "reminder/templates/emails/weekly-subject.txt",
        "reminder/templates/emails/weekly-body.txt",
        "reminder/templates/emails/weekly-body.html",
        "reminder/templates/emails/base.html",
        "reminder/templates/emails/base.txt",
    } <= packaged_templates
    assert packaged_templates <= names
    migrations = {
        f"reminder/store/migrations/versions/{path.name}"
        for path in (REPOSITORY / "reminder" / "store" / "migrations" / "versions").glob("*.py")
    }
    assert migrations
    assert migrations <= names
    assert "reminder/store/migrations/script.py.mako" in names
    web_files = {
        path.relative_to(REPOSITORY).as_posix()
        for folder in ("templates", "static")
        for path in (REPOSITORY / "reminder" / "web" / folder).iterdir()
    }
    assert {"reminder/web/templates/base.html", "reminder/web/static/style.css"} <= web_files
    assert web_files <= names
    assert not any("__pycache__" in name for name in names)


def test_an_unpacked_wheel_finds_its_own_templates(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    # The unpacked wheel comes first on the path; the dependencies still come from this
    # environment's site-packages (so no -I), and the working directory is not the
    # repository, so its copy of the package cannot be imported instead.
    environment = {**os.environ, "PYTHONPATH": str(unpacked)}
    result = subprocess.run(
        [sys.executable, "-c", CHECK_SCRIPT],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    package_file, *search_path, subject = result.stdout.splitlines()
    assert Path(package_file) == unpacked / "reminder" / "__init__.py"
    assert [Path(folder) for folder in search_path] == [
        unpacked / "reminder" / "templates" / "emails"
    ]
    assert subject == "1 agreement to renew: Baku State University expires in 7 days"
