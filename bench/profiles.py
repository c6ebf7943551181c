"""Where the time goes: a cProfile run summarised as the functions that cost the most."""

from __future__ import annotations

import cProfile
import io
import pstats
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_HOME = str(Path(__file__).resolve().parents[1]) + "/"


def profile(action: Callable[[], T], *, lines: int = 25) -> tuple[T, str]:
    """Run `action` under cProfile; return its result and the top functions by own time.

    The summary lists, per function, the calls, the seconds spent in it alone and with
    what it called, sorted by the former: what to make faster first. cProfile slows
    Python code down (often twice), so read the shares, not the seconds.
    """
    profiler = cProfile.Profile()
    result = profiler.runcall(action)
    return result, summarise(profiler, lines=lines)


def summarise(profiler: cProfile.Profile, *, lines: int = 25) -> str:
    """Return the top `lines` functions of `profiler` by own time, paths shortened."""
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((own, cumulative, calls, f"{_short(file)}:{line}({name})"))
    rows.sort(reverse=True)
    table = [f"total {total:.2f} s under the profiler", "   own s   cum s     calls  function"]
    for own, cumulative, calls, where in rows[:lines]:
        table.append(f"{own:8.2f} {cumulative:7.2f} {calls:9d}  {where}")
    return "\n".join(table)


def _short(file: str) -> str:
    """Return `file` relative to the repository, site-packages or the standard library."""
    if file.startswith(_HOME):
        return file[len(_HOME) :]
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1]
    standard = re.search(r"/lib/python3\.\d+/(.*)", file)
    return standard[1] if standard else file
