"""The wheel carries what an installed copy needs: templates, migrations and the compiled
gettext catalogs.

Built in-process with hatchling's PEP 517 hook; installing it into a fresh virtualenv
would take too long, so the wheel is unpacked and imported from there instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.support import Translations
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
renderer = Renderer(None, ("en", "tr"))
print(reminder.__file__)
print(*renderer.search_path, sep="\\n")
print(renderer.reminder(digest).subject)
turkish = ReminderDigest(Recipient("koordinator@example.edu", "", "tr"), date(2024, 3, 4),
                         (DueItem(view, 30, 7),))
print(renderer.reminder(turkish).subject)
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


def test_the_wheel_carries_every_catalog_compiled(wheel: Path) -> None:
    """Each .po of the repository is in the wheel with its .mo, built by hatch_build.py."""
    sources = sorted((REPOSITORY / "reminder" / "locale").glob("*/LC_MESSAGES/messages.po"))
    assert sources, "no catalog in the repository"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for source in sources:
            relative = source.relative_to(REPOSITORY).as_posix()
            compiled = relative.removesuffix(".po") + ".mo"
            assert {relative, compiled} <= names
            with read_po_file(source) as catalog:
                translations = Translations(io.BytesIO(archive.read(compiled)))
                # The compiled catalog translates what its source does.
                for message in catalog:
                    if message.id and isinstance(message.id, str):
                        assert translations.gettext(message.id) == message.string
    assert not list((REPOSITORY / "reminder" / "locale").rglob("*.mo")), (
        "compiled catalogs are build output, never kept in the repository"
    )


@contextlib.contextmanager
def read_po_file(path: Path) -> Iterator[Catalog]:
    with path.open("rb") as file:
        yield read_po(file)


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
    package_file, *search_path, subject, turkish = result.stdout.splitlines()
    assert Path(package_file) == unpacked / "reminder" / "__init__.py"
    assert [Path(folder) for folder in search_path] == [
        unpacked / "reminder" / "templates" / "emails"
    ]
    assert subject == "1 agreement to renew: Baku State University expires in 7 days"
    assert turkish == (
        "1 anlaşmanın yenilenmesi gerekiyor: Baku State University 7 gün içinde sona eriyor"
    )
