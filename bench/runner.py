"""One benchmark run: generate, import, select, deliver, measure; report after each step.

The report is rewritten after every size, so a long run that is stopped still leaves
what it measured.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from bench import databases
from bench.databases import Target
from bench.delivery import measure_delivery, run_day, running_sink
from bench.idle import measure_idle, serve_available
from bench.importing import FLOOR_TABLE, floor_tool, measure_import
from bench.machine import describe_machine, describe_versions
from bench.memory import measure_run_once_memory, memory_breakdown
from bench.portfolio import REFERENCE_DAY, Portfolio, generate, write_config
from bench.profiles import profile
from bench.report import write_report
from bench.results import Results, SizeResults
from bench.selection import measure_selection
from bench.startup import measure_startup
from bench.web import measure_web, wrk_available
from reminder.cli.mail import build_context
from reminder.config.loading import load_config
from reminder.store import count_agreements

T = TypeVar("T")
PARTS = ("import", "select", "deliver", "memory", "startup", "idle", "web")


@dataclass(frozen=True)
class Options:
    """What to measure, and where."""

    command: str
    sizes: tuple[int, ...]
    repeat: int
    large_repeat: int  # for sizes of LARGE or more: the runs there take minutes
    postgres_url: str | None
    postgres_sizes: tuple[int, ...]
    parts: tuple[str, ...]
    workdir: Path
    results_path: Path
    idle_seconds: float
    web_seconds: float
    profile_size: int
    keep: bool


LARGE = 500_000


def run(options: Options) -> Results:
    """Run every part asked for; write the report as it goes; return the results."""
    options.workdir.mkdir(parents=True, exist_ok=True)
    results = Results(
        command=options.command,
        started=_now(),
        machine=describe_machine(),
        versions=describe_versions(),
    )
    _explain(results, options)
    with running_sink() as port:
        if "startup" in options.parts:
            _say("start-up")
            results.startup = measure_startup(options.workdir, repeat=max(options.repeat, 20))
            write_report(results, options.results_path)
        for size in options.sizes:
            path = options.workdir / f"portfolio-{size}.csv"
            portfolio = _timed_step(f"generating {size:,} rows", partial(generate, path, size))
            kinds = ["sqlite"]
            if options.postgres_url and size in options.postgres_sizes:
                kinds.append("postgresql")
            for kind in kinds:
                results.sizes.append(_measure_size(options, portfolio, kind, port, results))
                write_report(results, options.results_path)
    if "idle" in options.parts:
        _measure_idle(options, results)
    results.finished = _now()
    write_report(results, options.results_path)
    return results


def _measure_size(
    options: Options, portfolio: Portfolio, kind: str, port: int, results: Results
) -> SizeResults:
    size = portfolio.rows
    repeat = options.large_repeat if size >= LARGE else options.repeat
    if kind == "sqlite":
        target = databases.sqlite_target(options.workdir / f"reminder-{size}.sqlite3")
    else:
        assert options.postgres_url is not None
        target = databases.create_postgres(options.postgres_url, str(size))
    config_path = write_config(
        options.workdir / f"config-{kind}-{size}.toml",
        database_url=target.url,
        countries=portfolio.countries,
        smtp_port=port,
        outbox=options.workdir / "outbox",
    )
    figures = SizeResults(size, kind)
    try:
        if kind != "sqlite":
            figures.database_version = databases.server_version(target)
            line = f"database server: {figures.database_version}"
            if line not in results.versions:
                results.versions.append(line)
        label = f"{kind}, N={size:,}"
        if "import" in options.parts:
            figures.importing = _timed_step(
                f"(a) import, {label}",
                lambda: measure_import(
                    portfolio.csv_path, target, config_path, repeat=repeat, scratch=options.workdir
                ),
            )
        config = load_config(str(config_path))
        if "import" not in options.parts and _is_empty(target):
            # The other parts measure a database holding the portfolio: a run of those
            # parts alone imports it first, unmeasured.
            _timed_step(
                f"importing the portfolio (not measured), {label}",
                lambda: _import_in_process(portfolio.csv_path, config),
            )
        if "select" in options.parts:
            figures.selection = _timed_step(
                f"(b) selection, {label}",
                lambda: measure_selection(target, config, REFERENCE_DAY, repeat=options.repeat),
            )
        if "deliver" in options.parts:
            figures.delivery = _timed_step(
                f"(c) delivery, {label}",
                lambda: measure_delivery(target, config, REFERENCE_DAY, repeat=repeat),
            )
        if "memory" in options.parts and kind == "sqlite":
            figures.run_once_rss = _timed_step(
                f"(d) run-once memory, {label}",
                lambda: measure_run_once_memory(target, config_path, REFERENCE_DAY, repeat=repeat),
            )
        if "web" in options.parts:
            sqlite_file = Path(target.url.removeprefix("sqlite:///")) if kind == "sqlite" else None
            figures.web = _timed_step(
                f"(g) web page, {label}",
                lambda: measure_web(
                    config_path,
                    sqlite_file,
                    repeat=options.repeat,
                    seconds=options.web_seconds,
                    scratch=options.workdir,
                ),
            )
        if size == options.profile_size:
            _profile(options, portfolio, target, config_path, results, label)
        if "memory" in options.parts and kind == "sqlite" and size == max(options.sizes):
            results.profiles[f"(d) memory of the backlog run, {label}"] = _timed_step(
                f"(d) memory breakdown, {label}",
                lambda: memory_breakdown(target, config_path, REFERENCE_DAY),
            )
    finally:
        if kind != "sqlite" or not options.keep:
            databases.drop(target)
    return figures


def _profile(
    options: Options,
    portfolio: Portfolio,
    target: Target,
    config_path: Path,
    results: Results,
    label: str,
) -> None:
    """Profile what the parts measured: the selection (select), the backlog and the
    steady day (deliver) on `target`, and an import into a scratch file (import)."""
    from bench.databases import clear_ledger
    from reminder.runs.planning import plan_reminders

    config = load_config(str(config_path))
    database = target.open()
    try:
        context = build_context(config, database)
        if "select" in options.parts:
            _, text = profile(lambda: plan_reminders(context, REFERENCE_DAY))
            results.profiles[f"(b) plan_reminders, {label}"] = text
        if "deliver" in options.parts:
            clear_ledger(database)
            _, text = profile(lambda: run_day(context, REFERENCE_DAY - timedelta(days=1)))
            results.profiles[f"(c) run_job on the backlog day, {label}"] = text
            _, text = profile(lambda: run_day(context, REFERENCE_DAY))
            results.profiles[f"(c) run_job on the steady day, {label}"] = text
    finally:
        database.close()
    if "import" in options.parts and target.kind == "sqlite":
        scratch = databases.sqlite_target(options.workdir / "profile-import.sqlite3")
        databases.drop(scratch)
        scratch_database = config.database.model_copy(update={"url": scratch.url})
        scratch_config = config.model_copy(update={"database": scratch_database})
        _, text = profile(lambda: _import_in_process(portfolio.csv_path, scratch_config))
        results.profiles[f"(a) import (open_tables + import_tables), {label}"] = text
        databases.drop(scratch)


def _is_empty(target: Target) -> bool:
    """Return whether `target` holds no agreement (or no schema yet)."""
    database = target.open()
    try:
        with database.session(read_only=True) as session:
            return count_agreements(session) == 0
    finally:
        database.close()


def _import_in_process(csv_path: Path, config: object) -> None:
    from reminder.config.schema import Config
    from reminder.importing.pipeline import import_tables, open_tables
    from reminder.store.database import open_database

    assert isinstance(config, Config)
    # As `reminder import` does it: every file and header checked first, then the rows
    # read and written a batch at a time.
    database = open_database(config.database.url)
    try:
        tables = open_tables([csv_path], config)
        import_tables(database, tables, now=datetime.now(UTC), skip_invalid=False, dry_run=False)
    finally:
        database.close()


def _measure_idle(options: Options, results: Results) -> None:
    if not serve_available():
        results.idle_note = "serve not available: this reminder has no `serve` command yet"
        _say(results.idle_note)
        return
    target = databases.sqlite_target(options.workdir / "idle.sqlite3")
    config_path = write_config(
        options.workdir / "config-idle.toml",
        database_url=target.url,
        countries=(),
        smtp_port=25,
        outbox=options.workdir / "outbox",
    )
    results.idle, output = _timed_step(
        "(f) idle serve",
        lambda: measure_idle(config_path, samples=options.repeat, seconds=options.idle_seconds),
    )
    # What serve logged, with this machine's folders left out.
    results.idle_note = output.replace(str(options.workdir), options.workdir.name)
    databases.drop(target)


def _explain(results: Results, options: Options) -> None:
    tool = floor_tool("sqlite")
    results.notes += [
        f"sizes {', '.join(f'{size:,}' for size in options.sizes)}; {options.repeat} runs "
        f"of each figure ({options.large_repeat} for the import, the delivery and run-once "
        f"at {LARGE:,} rows or more); start-up: {max(options.repeat, 20)} runs",
        f"portfolio: `bench/portfolio.py`, judged as of {REFERENCE_DAY.isoformat()}; the "
        "files and databases are in the work folder "
        f"`{options.workdir.name}/` (portfolio-N.csv, config-KIND-N.toml)",
        "(a) ours: `python -m reminder --config config-KIND-N.toml import portfolio-N.csv` "
        "into an empty database with the schema in place",
        '(a) floor: `sqlite3 floor.sqlite3 "CREATE TABLE '
        f'{FLOOR_TABLE} (7 columns); 2 indexes" ".import --csv --skip 1 portfolio-N.csv '
        f'{FLOOR_TABLE}"`' + ("" if tool else " -- sqlite3 shell NOT INSTALLED, floor skipped"),
        "(b) ours: `planning.plan_reminders(context, as_of)` in-process; floor: the query in "
        "`bench/selection.py` through the driver (sqlite3 / psycopg), fetchall()",
        "(c) ours: `run_job(context, 'reminders', ...)` in-process, to `bench.sink` "
        "(aiosmtpd, separate process, plain SMTP); floor: `bench.delivery.plain_loop` on the "
        "same digests: Jinja2, css-inline, EmailMessage + icalendar, aiosmtplib, no ledger",
        "(d) `python -m reminder --config config-sqlite-N.toml run-once --as-of DAY` "
        "on the backlog day (empty ledger), then on the steady day after it; the peak RSS "
        "of each, read by bench.childrusage (getrusage(RUSAGE_CHILDREN) in a small parent)",
        "(e) each a fresh `python` process, bytecode cached (PYTHONDONTWRITEBYTECODE unset); "
        "the everyday commands with config.example.toml on a database holding "
        'examples/agreements-2022.tsv, against `python -c "import sqlalchemy"`',
        f"PostgreSQL: {options.postgres_url or 'not measured'} "
        f"(sizes {', '.join(f'{s:,}' for s in options.postgres_sizes)}), a database "
        "created for the run and dropped after it",
    ]
    if "web" in options.parts:
        results.notes.append(
            "(g) `python -m reminder --config config-KIND-N.toml web` ([web] auth = "
            '"proxy", an admin named in X-Remote-User); page: GET / sequentially over one '
            f"connection; throughput: `wrk -t1 -c20 -d{options.web_seconds:g}s` against it "
            "and against `bench/web_floor.py` (Starlette + Jinja2 writing the same page, the "
            "same 50 rows, from a list in memory; checked to be the same size), in turn"
            + ("" if wrk_available() else " -- wrk NOT INSTALLED, throughput skipped")
        )


def _timed_step(label: str, action: Callable[[], T]) -> T:
    _say(f"{label} ...")
    start = time.perf_counter()
    result = action()
    _say(f"{label}: done in {time.perf_counter() - start:.1f} s")
    return result


def _say(text: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


logging.getLogger("reminder").setLevel(logging.WARNING)
