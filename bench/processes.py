"""Child processes measured one by one: wall time, CPU time and peak memory of each.

A measured command runs under bench.childrusage, a small process of its own that reads
the command's usage with getrusage(RUSAGE_CHILDREN): asked from the benchmark itself,
the peak would be that of the largest child so far, or the benchmark's own (see there).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Finished:
    """A child process that ended: what it printed and what it cost."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float

    def check(self, what: str) -> Finished:
        """Return self; raise RuntimeError with its output when it did not exit 0."""
        if self.returncode != 0:
            raise RuntimeError(
                f"{what} exited {self.returncode}:\n{self.stdout[-2000:]}\n{self.stderr[-4000:]}"
            )
        return self


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for measured children: bytecode caching on, as installed.

    A developer shell may set PYTHONDONTWRITEBYTECODE, which makes every start compile
    the package afresh; an installed program never runs like that.
    """
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment.update(extra or {})
    return environment


def reminder_command(config: Path, *arguments: str) -> list[str]:
    """Return the command line of `reminder --config CONFIG ARGUMENTS...`."""
    return [sys.executable, "-m", "reminder", "--config", str(config), *arguments]


def run(
    command: Sequence[str],
    *,
    environment: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600.0,
    measure: bool = True,
) -> Finished:
    """Run `command` to the end; return its output and costs.

    With `measure`, the command runs under bench.childrusage, which times it and reads
    its CPU time and peak memory; without, only the wall time is taken (of the command
    itself, for start-up times) and the other costs are nan.
    Raises RuntimeError when it runs longer than `timeout` seconds (it is killed).
    """
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "usage.json"
        wrapped = [sys.executable, "-m", "bench.childrusage", str(report), *command]
        finished = _run(wrapped if measure else command, environment, cwd, timeout)
        if not measure:
            return finished
        if not report.exists():
            raise RuntimeError(f"{' '.join(command[:5])}: no usage report\n{finished.stderr}")
        usage = json.loads(report.read_text())
        return dataclasses.replace(
            finished,
            seconds=usage["seconds"],
            cpu_seconds=usage["cpu_seconds"],
            peak_rss_mb=usage["peak_rss_kb"] / 1024,
        )


def _run(
    command: Sequence[str],
    environment: Mapping[str, str] | None,
    cwd: Path | None,
    timeout: float,
) -> Finished:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(environment) if environment is not None else child_environment(),
            cwd=cwd,
        )
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            _, status, _ = os.wait4(process.pid, 0)
        except BaseException:  # interrupted: the child must not outlive the bench
            process.kill()
            process.wait()
            raise
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - start
        # Reaped by hand: tell Popen, so that it does not wait for the process again.
        process.returncode = os.waitstatus_to_exitcode(status)
        if seconds >= timeout:
            raise RuntimeError(f"{' '.join(command[:5])} ran longer than {timeout:g} s")
        out.seek(0)
        err.seek(0)
        return Finished(
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            float("nan"),
            float("nan"),
        )
