"""(e) Start-up: `reminder --help` and `reminder due` on an empty database against
`python -c pass`, each a fresh interpreter, bytecode already cached."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.portfolio import write_config
from bench.processes import reminder_command, run
from bench.stats import Samples


@dataclass
class StartupFigures:
    """Seconds per start."""

    python: Samples = field(default_factory=lambda: Samples("s"))
    help: Samples = field(default_factory=lambda: Samples("s"))
    due_empty: Samples = field(default_factory=lambda: Samples("s"))


def measure_startup(scratch: Path, *, repeat: int) -> StartupFigures:
    """Time each command `repeat` times, interleaved, after one untimed start of each.

    Raises RuntimeError when a command fails.
    """
    database = scratch / "empty.sqlite3"
    config = write_config(
        scratch / "empty.toml",
        database_url=f"sqlite:///{database}",
        countries=(),
        smtp_port=25,
        outbox=scratch / "outbox",
    )
    commands = {
        "python": [sys.executable, "-c", "pass"],
        "help": [sys.executable, "-m", "reminder", "--help"],
        "due_empty": reminder_command(config, "due"),
    }
    figures = StartupFigures()
    for command in commands.values():  # caches the bytecode and creates the database
        run(command, measure=False).check(" ".join(command))
    for _ in range(repeat):
        for name, command in commands.items():
            getattr(figures, name).add(run(command, measure=False).check(name).seconds)
    return figures
