"""Everything one benchmark run measured, as the report needs it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.delivery import DeliveryFigures
from bench.importing import ImportFigures
from bench.memory import MemoryFigures
from bench.selection import SelectionFigures
from bench.startup import StartupFigures
from bench.stats import Samples
from bench.web import WebFigures


@dataclass
class SizeResults:
    """The figures for one portfolio size on one database."""

    size: int
    kind: str  # "sqlite" or "postgresql"
    database_version: str = ""
    importing: ImportFigures | None = None
    selection: SelectionFigures | None = None
    delivery: DeliveryFigures | None = None
    run_once_rss: MemoryFigures | None = None
    web: WebFigures | None = None


@dataclass
class Results:
    """A whole run of the benchmark."""

    command: str
    started: str
    finished: str = ""
    machine: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sizes: list[SizeResults] = field(default_factory=list)
    startup: StartupFigures | None = None
    idle: Samples | None = None
    idle_note: str = ""
    profiles: dict[str, str] = field(default_factory=dict)
