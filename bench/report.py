"""bench/RESULTS.md from Results: the targets first, then every figure, then profiles.

Whatever follows the NOTES_MARKER line in an existing RESULTS.md (the analysis written
by hand) is kept when the file is rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.results import Results, SizeResults
from bench.stats import ratio

NOTES_MARKER = "<!-- notes: everything below this line is kept when the bench rewrites the file -->"


def write_report(results: Results, path: Path) -> None:
    """Write `results` to `path`, keeping the hand-written notes of the file there."""
    notes = ""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if NOTES_MARKER in text:
            notes = text.split(NOTES_MARKER, 1)[1]
    body = render(results)
    path.write_text(f"{body}\n{NOTES_MARKER}{notes or chr(10)}", encoding="utf-8")


def render(results: Results) -> str:
    """Return the report as Markdown."""
    out: list[str] = ["# Benchmark results", ""]
    out += [
        f"Measured by `{results.command}`, started {results.started}, "
        f"finished {results.finished or '(still running)'}.",
        "Every figure is the median over repeated runs, with min and max and the number of "
        "runs; a ratio is taken run by run (the i-th run of ours against the i-th of the "
        "floor) and summarised the same way.",
        "",
        "## Machine and versions",
        "",
        *[f"- {line}" for line in results.machine + results.versions],
        "",
    ]
    if results.notes:
        out += ["## How it was run", "", *[f"- {note}" for note in results.notes], ""]
    out += _targets(results)
    out += _importing(results)
    out += _selection(results)
    out += _delivery(results)
    out += _memory(results)
    out += _startup(results)
    out += _idle(results)
    out += _web(results)
    if results.profiles:
        out += ["## Profiles", ""]
        for title, text in results.profiles.items():
            out += [f"### {title}", "", "```", text, "```", ""]
    return "\n".join(out)


def _largest(results: Results, kind: str, has: Callable[[SizeResults], bool]) -> SizeResults | None:
    found = [size for size in results.sizes if size.kind == kind and has(size)]
    return max(found, key=lambda size: size.size) if found else None


def _verdict(value: float, limit: float, *, at_most: bool) -> str:
    if value != value:
        return "not measured"
    met = value <= limit if at_most else value >= limit
    return "met" if met else "**NOT met**"


def _targets(results: Results) -> list[str]:
    rows = ["## Targets (SQLite, largest N measured)", ""]
    rows += ["| target | required | measured (median) | verdict |", "|---|---|---|---|"]
    found = _largest(results, "sqlite", lambda s: s.importing is not None)
    if found and found.importing and found.importing.floor is not None:
        value = ratio(found.importing.ours, found.importing.floor).median
        rows.append(
            f"| (a) import vs sqlite3 .import, N={found.size:,} | at most 10x | {value:.1f}x | "
            f"{_verdict(value, 10, at_most=True)} |"
        )
    if found and found.importing:
        value = found.importing.peak_rss_mb.median
        rows.append(
            f"| (a) peak RSS of import, N={found.size:,} | at most 200 MB | {value:.0f} MB | "
            f"{_verdict(value, 200, at_most=True)} |"
        )
    found = _largest(results, "sqlite", lambda s: s.selection is not None)
    if found and found.selection:
        value = ratio(found.selection.ours, found.selection.floor).median
        rows.append(
            f"| (b) selection vs indexed query, N={found.size:,} | at most 2x | {value:.1f}x | "
            f"{_verdict(value, 2, at_most=True)} |"
        )
    found = _largest(results, "sqlite", lambda s: s.delivery is not None)
    if found and found.delivery:
        for day in (found.delivery.steady, found.delivery.backlog):
            value = ratio(day.floor, day.ours).median
            rows.append(
                f"| (c) digests/s vs the libraries in a plain loop, {day.label}, "
                f"N={found.size:,} | at least 0.7x | {value:.2f}x | "
                f"{_verdict(value, 0.7, at_most=False)} |"
            )
    found = _largest(results, "sqlite", lambda s: s.run_once_rss is not None)
    if found and found.run_once_rss:
        for label, samples in (
            ("steady day", found.run_once_rss.steady),
            ("backlog day", found.run_once_rss.backlog),
        ):
            rows.append(
                f"| (d) peak RSS of run-once, {label}, N={found.size:,} | at most 200 MB | "
                f"{samples.median:.0f} MB | {_verdict(samples.median, 200, at_most=True)} |"
            )
    if results.startup:
        value = ratio(results.startup.help, results.startup.python).median
        rows.append(
            f"| (e) `reminder --help` vs `python -c pass` | at most 4x | {value:.1f}x | "
            f"{_verdict(value, 4, at_most=True)} |"
        )
        for command, samples in results.startup.everyday.items():
            value = ratio(samples, results.startup.sqlalchemy).median
            rows.append(
                f"| (e) `reminder {command}` on the sample vs `import sqlalchemy` | at most "
                f"1.5x | {value:.2f}x | {_verdict(value, 1.5, at_most=True)} |"
            )
    rows += _web_targets(results)
    if results.idle is not None:
        value = results.idle.median
        rows.append(
            f"| (f) idle serve | at most 0.05 CPU s/min | {value:.3f} | "
            f"{_verdict(value, 0.05, at_most=True)} |"
        )
    else:
        rows.append(f"| (f) idle serve | at most 0.05 CPU s/min | {results.idle_note} | - |")
    return [*rows, ""]


def _importing(results: Results) -> list[str]:
    rows = [
        "## (a) Import",
        "",
        "| N | database | ours: `reminder import` | floor | ratio | our peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for size in results.sizes:
        figures = size.importing
        if figures is None:
            continue
        floor = figures.floor
        rows.append(
            f"| {size.size:,} | {size.kind} | {figures.ours.text()} | "
            f"{floor.text() if floor else 'tool missing'} | "
            f"{ratio(figures.ours, floor).text(2) if floor else '-'} | "
            f"{figures.peak_rss_mb.text(3)} |"
        )
    return [*rows, ""]


def _selection(results: Results) -> list[str]:
    rows = [
        "## (b) Selection",
        "",
        "`candidates`: active agreements whose effective-until lies in the horizon; "
        "`due`: (agreement, recipient) reminders due; on a fresh ledger every candidate is due.",
        "",
        "| N | database | candidates | due | digests | ours: plan_reminders | floor: query "
        "| ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    plans: dict[str, str] = {}
    for size in results.sizes:
        figures = size.selection
        if figures is None:
            continue
        plans[size.kind] = figures.query_plan
        rows.append(
            f"| {size.size:,} | {size.kind} | {figures.candidates:,} | {figures.due:,} | "
            f"{figures.digests:,} | {figures.ours.text()} | {figures.floor.text()} | "
            f"{ratio(figures.ours, figures.floor).text(2)} |"
        )
    rows += ["", "### Sweep: time against the number due, at every N", ""]
    rows += [
        "| N | database | windows | due | ours (median) | µs per due | floor (median) | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in results.sizes:
        if size.selection is None:
            continue
        for point in size.selection.sweep:
            per_due = point.ours.median / point.due * 1e6 if point.due else float("nan")
            rows.append(
                f"| {size.size:,} | {size.kind} | {list(point.windows)} | {point.due:,} | "
                f"{point.ours.median:.4f} s | {per_due:.0f} | {point.floor.median:.4f} s | "
                f"{ratio(point.ours, point.floor).median:.1f}x |"
            )
    for kind, plan in plans.items():
        rows += ["", f"Query plan of the floor on {kind}:", "", "```", plan, "```"]
    return [*rows, ""]


def _delivery(results: Results) -> list[str]:
    rows = [
        "## (c) Delivery",
        "",
        "| N | database | day | digests | due | ours: run_job | floor: plain library loop | "
        "ours digests/s | floor digests/s | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in results.sizes:
        if size.delivery is None:
            continue
        for day in (size.delivery.backlog, size.delivery.steady):
            rows.append(
                f"| {size.size:,} | {size.kind} | {day.label} | {day.digests:,} | {day.due:,} | "
                f"{day.ours.text()} | {day.floor.text()} | {day.rate(day.ours).text()} | "
                f"{day.rate(day.floor).text()} | {ratio(day.floor, day.ours).text(2)} |"
            )
    return [*rows, ""]


def _memory(results: Results) -> list[str]:
    rows = ["## (d) Peak RSS of `reminder run-once`", ""]
    rows += ["| N | database | backlog day | steady day |", "|---|---|---|---|"]
    for size in results.sizes:
        if size.run_once_rss is not None:
            rows.append(
                f"| {size.size:,} | {size.kind} | {size.run_once_rss.backlog.text(3)} | "
                f"{size.run_once_rss.steady.text(3)} |"
            )
    return [*rows, ""]


def _startup(results: Results) -> list[str]:
    startup = results.startup
    if startup is None:
        return []
    rows = ["## (e) Start-up", "", "| command | wall time | ratio to `python -c pass` |"]
    rows.append("|---|---|---|")
    for label, samples in (
        ("`python -c pass`", startup.python),
        ("`reminder --help`", startup.help),
        ("`reminder due` (empty database)", startup.due_empty),
    ):
        rows.append(f"| {label} | {samples.text()} | {ratio(samples, startup.python).text(2)} |")
    rows += [
        "",
        "Everyday commands on the sample database (config.example.toml, "
        "examples/agreements-2022.tsv imported):",
        "",
        '| command | wall time | ratio to `python -c "import sqlalchemy"` |',
        "|---|---|---|",
        f'| `python -c "import sqlalchemy"` | {startup.sqlalchemy.text()} | 1 |',
    ]
    for command, samples in startup.everyday.items():
        rows.append(
            f"| `reminder {command}` | {samples.text()} | "
            f"{ratio(samples, startup.sqlalchemy).text(2)} |"
        )
    return [*rows, ""]


def _idle(results: Results) -> list[str]:
    rows = ["## (f) Idle `reminder serve`", ""]
    if results.idle is None:
        rows.append(results.idle_note)
    else:
        rows.append(f"CPU seconds per minute: {results.idle.text()}")
        if results.idle_note:
            rows += ["", "```", results.idle_note, "```"]
    return [*rows, ""]


def _web_targets(results: Results) -> list[str]:
    measured = [size for size in results.sizes if size.kind == "sqlite" and size.web is not None]
    if not measured:
        return []
    smallest = min(measured, key=lambda size: size.size)
    largest = max(measured, key=lambda size: size.size)
    rows: list[str] = []
    assert smallest.web is not None and largest.web is not None
    if largest is not smallest:
        value = ratio(largest.web.page, smallest.web.page).median
        rows.append(
            f"| (g) agreements page, N={largest.size:,} vs N={smallest.size:,} | at most 1.5x "
            f"| {value:.2f}x | {_verdict(value, 1.5, at_most=True)} |"
        )
    if largest.web.ours_rps.values:
        value = ratio(largest.web.ours_rps, largest.web.floor_rps).median
        errors = len(largest.web.errors)
        verdict = _verdict(value, 0.5, at_most=False) if not errors else "**NOT met**"
        rows.append(
            f"| (g) page throughput vs bare Starlette + Jinja2, N={largest.size:,}, no errors "
            f"| at least 0.5x | {value:.2f}x, {errors} error line(s) | {verdict} |"
        )
    return rows


def _web(results: Results) -> list[str]:
    measured = [size for size in results.sizes if size.web is not None]
    if not measured:
        return []
    rows = [
        "## (g) Web page",
        "",
        "| N | database | agreements page | ours | floor | ratio | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in measured:
        web = size.web
        assert web is not None
        throughput = bool(web.ours_rps.values)
        rows.append(
            f"| {size.size:,} | {size.kind} | {web.page.text()} | "
            f"{web.ours_rps.text() if throughput else '-'} | "
            f"{web.floor_rps.text() if throughput else '-'} | "
            f"{ratio(web.ours_rps, web.floor_rps).text(2) if throughput else '-'} | "
            f"{'; '.join(web.errors) or 'none'} |"
        )
    return [*rows, ""]
