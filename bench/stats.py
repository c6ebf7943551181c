"""Repeated measurements and their summary: min, median, max."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Samples:
    """Repeated measurements of one quantity, in `unit`."""

    unit: str
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        """Record one measurement."""
        self.values.append(value)

    @property
    def low(self) -> float:
        """Return the smallest measurement (nan when there is none)."""
        return min(self.values) if self.values else float("nan")

    @property
    def median(self) -> float:
        """Return the median measurement (nan when there is none)."""
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        """Return the largest measurement (nan when there is none)."""
        return max(self.values) if self.values else float("nan")

    def text(self, digits: int = 3) -> str:
        """Return "median (min-max) unit, n=K" for a report."""
        if not self.values:
            return "not measured"
        unit = self.unit if self.unit == "x" else f" {self.unit}"
        return (
            f"{_number(self.median, digits)}{unit} "
            f"(min {_number(self.low, digits)}, max {_number(self.high, digits)}, "
            f"n={len(self.values)})"
        )


def ratio(ours: Samples, floor: Samples) -> Samples:
    """Return ours/floor run by run (the i-th of each together), as a unitless Samples."""
    pairs = zip(ours.values, floor.values, strict=False)
    return Samples("x", [mine / base for mine, base in pairs if base > 0])


def timed(action: Callable[[], T]) -> tuple[T, float]:
    """Run `action`; return its result and the wall-clock seconds it took."""
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def _number(value: float, digits: int) -> str:
    if value != value:  # nan
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"
