"""(e) Start-up: `reminder --help` and `reminder due` on an empty database against
`python -c pass`, and the everyday commands on the sample database against
`python -c "import sqlalchemy"`; each a fresh interpreter, bytecode already cached."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.portfolio import write_config
from bench.processes import reminder_command, run
from bench.stats import Samples

REPOSITORY = Path(__file__).resolve().parents[1]
#: The commands an office types every day, run on the sample database.
EVERYDAY_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("agreements",),
    ("due",),
    ("show", "1"),
    ("status",),
    ("outbox",),
)


@dataclass
class StartupFigures:
    """Seconds per start."""

    python: Samples = field(default_factory=lambda: Samples("s"))
    help: Samples = field(default_factory=lambda: Samples("s"))
    due_empty: Samples = field(default_factory=lambda: Samples("s"))
    sqlalchemy: Samples = field(default_factory=lambda: Samples("s"))
    #: `reminder COMMAND` on the sample database, by the command line after `reminder`.
    everyday: dict[str, Samples] = field(default_factory=dict)


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
    sample = _sample_config(scratch)
    commands = {
        "python": [sys.executable, "-c", "pass"],
        "help": [sys.executable, "-m", "reminder", "--help"],
        "due_empty": reminder_command(config, "due"),
        "sqlalchemy": [sys.executable, "-c", "import sqlalchemy"],
    }
    everyday = {" ".join(words): reminder_command(sample, *words) for words in EVERYDAY_COMMANDS}
    figures = StartupFigures(everyday={name: Samples("s") for name in everyday})
    for command in [*commands.values(), *everyday.values()]:  # caches the bytecode
        run(command, measure=False).check(" ".join(command))
    for _ in range(repeat):
        for name, command in commands.items():
            getattr(figures, name).add(run(command, measure=False).check(name).seconds)
        for name, command in everyday.items():
            figures.everyday[name].add(run(command, measure=False).check(name).seconds)
    return figures


def _sample_config(scratch: Path) -> Path:
    """Write config.example.toml with a database in `scratch`, holding the sample table.

    The database is made as the README's quick start makes it: `reminder import` of
    examples/agreements-2022.tsv. Returns the config's path.
    """
    database = scratch / "sample.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    text = (REPOSITORY / "config.example.toml").read_text(encoding="utf-8")
    # The example leaves the URL to its default: the sample gets its own database.
    config = scratch / "sample.toml"
    config.write_text(
        text.replace("[database]\n", f'[database]\nurl = "sqlite:///{database}"\n', 1),
        encoding="utf-8",
    )
    table = REPOSITORY / "examples" / "agreements-2022.tsv"
    run(reminder_command(config, "import", str(table)), measure=False).check("sample import")
    return config
