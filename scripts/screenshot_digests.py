"""Render the sample table's digests and photograph their HTML in headless Chromium.

    python scripts/screenshot_digests.py [--out DIR] [--chromium PATH] [--docs]
                                         [--docs-language LANG]

Imports examples/agreements-2022.tsv into a throwaway SQLite database, routes it by
config.example.toml's coordinators, and renders, as of 2022-01-17, every reminder
digest and weekly digest (and an office summary) to DIR/*.html. Each HTML file is
then shot at 375 px (a phone) and 1280 px (a desktop) wide, the page's full height.
With --docs, the weekly digest of the first coordinator who reads --docs-language
(default: the first coordinator's language) is also written to docs/: as
docs/weekly-digest.png for English, docs/weekly-digest-LANG.png for another language
(`--docs --docs-language tr`: docs/weekly-digest-tr.png), 1024 px wide, cut to a height
that shows the top of the digest, and compressed with optipng when it is installed.

Chromium runs as a plain headless browser with everything that phones home turned
off and a fresh profile, so the pictures show what the HTML alone draws.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import date, datetime, time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SAMPLE = REPOSITORY / "examples" / "agreements-2022.tsv"
EXAMPLE_CONFIG = REPOSITORY / "config.example.toml"
AS_OF = date(2022, 1, 17)
WIDTHS = (375, 1280)
#: A window taller than any digest: Chromium shoots the window, not the page.
FULL_HEIGHT = 6000
#: The README picture: the weekly digest down to the end of its expiring list.
DOCS_SIZE = (1024, 1318)

sys.path.insert(0, str(REPOSITORY))

from reminder.cli.mail import build_context  # noqa: E402
from reminder.config.loading import load_config  # noqa: E402
from reminder.config.schema import DigestConfig  # noqa: E402
from reminder.importing.pipeline import import_tables, open_tables  # noqa: E402
from reminder.runs.planning import ledger_address, plan_reminders  # noqa: E402
from reminder.runs.weekly_run import plan_weekly  # noqa: E402
from reminder.store.database import open_database  # noqa: E402


def render_digests(folder: Path, state: Path) -> list[Path]:
    """Write the sample's reminder and weekly digests as HTML into `folder`.

    Returns the files, the first coordinator's weekly digest first.
    """
    config = load_config(str(EXAMPLE_CONFIG), environ={})
    config = config.model_copy(
        update={
            "database": config.database.model_copy(
                update={"url": f"sqlite:///{state / 'reminder.sqlite3'}"}
            ),
            # The office summary is off in the example; shown here so it is looked at too.
            "digest": DigestConfig(
                send_when_empty=True, office_summary_to=("international@example.edu",)
            ),
        }
    )
    now = datetime.combine(AS_OF, time(8), tzinfo=config.zone)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with open_database(config.database.url, migrate=True) as database:
        tables = open_tables([SAMPLE], config)
        import_tables(database, tables, now=now, skip_invalid=False, dry_run=False)
        context = build_context(config, database)
        for digest in plan_weekly(context, AS_OF):
            kind = "office" if digest.office_wide else "weekly"
            path = folder / f"{kind}-{ledger_address(digest.recipient.email)}.html"
            path.write_text(context.renderer.weekly(digest).html, encoding="utf-8")
            written.append(path)
        for reminder in plan_reminders(context, AS_OF).digests:
            path = folder / f"reminder-{ledger_address(reminder.recipient.email)}.html"
            path.write_text(context.renderer.reminder(reminder).html, encoding="utf-8")
            written.append(path)
    first_coordinator = ledger_address(config.coordinators[0].email)
    written.sort(key=lambda path: path.name != f"weekly-{first_coordinator}.html")
    return written


def docs_digest(folder: Path, language: str | None) -> tuple[Path, str] | None:
    """Return the weekly digest (HTML file in `folder`) of the first coordinator of the
    example config who reads `language` (None: the first coordinator), and its
    language; None when no coordinator reads it."""
    config = load_config(str(EXAMPLE_CONFIG), environ={})
    for coordinator in config.coordinators:
        reads = config.language_of(coordinator)
        if language is None or reads == language:
            return folder / f"weekly-{ledger_address(coordinator.email)}.html", reads
    return None


def screenshot(chromium: str, page: Path, picture: Path, width: int, height: int) -> None:
    """Shoot `page` in a `width` x `height` window into `picture` (PNG).

    Raises subprocess.CalledProcessError when Chromium fails.
    """
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",  # runs as root in a container; the page is our own file
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={picture}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def optimise(picture: Path) -> None:
    """Compress `picture` losslessly with optipng, when it is installed."""
    optipng = shutil.which("optipng")
    if optipng is not None:
        subprocess.run([optipng, "-quiet", "-o5", "-strip", "all", str(picture)], check=True)


def main(argv: list[str] | None = None) -> int:
    """Render, shoot, and report the pictures written; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("screenshots"), help="default: ./screenshots"
    )
    parser.add_argument("--chromium", default="chromium", help="the Chromium executable")
    parser.add_argument(
        "--docs", action="store_true", help="also write docs/weekly-digest[-LANG].png"
    )
    parser.add_argument(
        "--docs-language",
        metavar="LANG",
        help="--docs shows the first coordinator who reads LANG (default: the first one)",
    )
    args = parser.parse_args(argv)
    chromium = shutil.which(args.chromium)
    if chromium is None:
        print(f"{args.chromium}: not found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="reminder-screenshots-") as state:
        pages = render_digests(args.out, Path(state))
    for page in pages:
        for width in WIDTHS:
            picture = page.with_name(f"{page.stem}-{width}.png")
            screenshot(chromium, page, picture, width, FULL_HEIGHT)
            print(picture)
    if args.docs:
        found = docs_digest(args.out, args.docs_language)
        if found is None:
            print(f"no coordinator in {EXAMPLE_CONFIG.name} reads {args.docs_language!r}")
            return 2
        page, language = found
        suffix = "" if language == "en" else f"-{language}"
        docs_picture = REPOSITORY / "docs" / f"weekly-digest{suffix}.png"
        docs_picture.parent.mkdir(exist_ok=True)
        screenshot(chromium, page, docs_picture, *DOCS_SIZE)
        optimise(docs_picture)
        print(docs_picture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
