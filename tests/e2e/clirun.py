"""Shared names for the end-to-end tests (conftest.py holds the fixtures)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).parents[2]
SAMPLE = REPO / "examples" / "agreements-2022.tsv"

#: run_cli(*args, env=None, timeout=60) -> the finished `reminder` process.
RunCli = Callable[..., subprocess.CompletedProcess[str]]
