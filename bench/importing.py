"""(a) Import: `reminder import FILE` against the database's own bulk loader.

Ours is the real command in a child process, into a database with the schema in place
and no rows. The floor loads the same CSV into a table of the same shape (the table's
seven columns, the identity index and the effective-until index): the sqlite3 shell's
.import for SQLite, psql's \\copy for PostgreSQL. Each repetition starts from an empty
database; the last one leaves the portfolio imported for the parts that follow.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from bench.databases import ALL_TABLES, Target, drop
from bench.processes import Finished, reminder_command, run
from bench.stats import Samples

FLOOR_TABLE = "agreements_floor"
_FLOOR_SCHEMA = (
    f"CREATE TABLE {FLOOR_TABLE} (partner TEXT, country TEXT, concluded DATE, "
    "effective_until DATE, programme TEXT, coordinator_email TEXT, notes TEXT);"
    f"CREATE UNIQUE INDEX {FLOOR_TABLE}_identity ON {FLOOR_TABLE} (partner, programme, concluded);"
    f"CREATE INDEX {FLOOR_TABLE}_until ON {FLOOR_TABLE} (effective_until);"
)


@dataclass
class ImportFigures:
    """Seconds per import: ours, the floor (None when its tool is missing), and our memory."""

    ours: Samples = field(default_factory=lambda: Samples("s"))
    floor: Samples | None = field(default_factory=lambda: Samples("s"))
    peak_rss_mb: Samples = field(default_factory=lambda: Samples("MB"))
    floor_tool: str = ""
    summary: str = ""  # what the last import printed


def floor_tool(kind: str) -> str | None:
    """Return the path of the floor's command-line tool for `kind`, None when absent."""
    return shutil.which("sqlite3" if kind == "sqlite" else "psql")


def measure_import(
    csv_path: Path, target: Target, config: Path, *, repeat: int, scratch: Path
) -> ImportFigures:
    """Import `csv_path` `repeat` times each way; return the figures.

    Raises RuntimeError when an import fails.
    """
    figures = ImportFigures()
    tool = floor_tool(target.kind)
    if tool is None:
        figures.floor = None
    else:
        figures.floor_tool = tool
    for _ in range(repeat):
        if tool is not None and figures.floor is not None:
            figures.floor.add(_floor_import(tool, csv_path, target, scratch).seconds)
        finished = _our_import(csv_path, target, config)
        figures.ours.add(finished.seconds)
        figures.peak_rss_mb.add(finished.peak_rss_mb)
        figures.summary = finished.stdout.strip()
    return figures


def _our_import(csv_path: Path, target: Target, config: Path) -> Finished:
    _empty_schema(target)
    return run(reminder_command(config, "import", str(csv_path))).check("reminder import")


def _empty_schema(target: Target) -> None:
    """Leave `target` empty with the schema in place (migrations are not what is timed)."""
    if target.sqlite_path is not None:
        drop(target)
    database = target.open()
    try:
        if target.kind == "postgresql":
            with database.session() as session:
                session.execute(text(f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY"))
    finally:
        database.close()


def _floor_import(tool: str, csv_path: Path, target: Target, scratch: Path) -> Finished:
    if target.kind == "sqlite":
        database = scratch / "floor.sqlite3"
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        load = f".import --csv --skip 1 {csv_path} {FLOOR_TABLE}"
        command = [tool, str(database), _FLOOR_SCHEMA, load]
        finished = run(command).check("sqlite3 .import")
        database.unlink()
        return finished
    url = target.url.replace("postgresql+psycopg://", "postgresql://")
    command = [
        tool,
        "--quiet",
        "--set=ON_ERROR_STOP=1",
        url,
        "-c",
        f"DROP TABLE IF EXISTS {FLOOR_TABLE}",
        "-c",
        _FLOOR_SCHEMA,
        "-c",
        f"\\copy {FLOOR_TABLE} FROM '{csv_path}' WITH (FORMAT csv, HEADER true)",
    ]
    finished = run(command).check("psql \\copy")
    run([tool, "--quiet", url, "-c", f"DROP TABLE {FLOOR_TABLE}"]).check("psql drop")
    return finished
