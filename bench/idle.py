"""(f) Idle: the CPU time an idle `reminder serve` uses, read from /proc.

Measured only once `reminder serve` exists; otherwise the report says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from bench.processes import child_environment, reminder_command, run
from bench.stats import Samples

SETTLE_SECONDS = 10.0


def serve_available() -> bool:
    """Return whether this reminder has a `serve` command."""
    import sys

    finished = run([sys.executable, "-m", "reminder", "--help"])
    return finished.returncode == 0 and " serve " in finished.stdout + finished.stderr


def measure_idle(config: Path, *, samples: int, seconds: float) -> tuple[Samples, str]:
    """Return the CPU seconds per minute of an idle serve, one sample per `seconds`.

    serve is left to start up for SETTLE_SECONDS first. Returns the samples and what
    serve printed. Raises RuntimeError when serve exits by itself.
    """
    per_minute = Samples("CPU s/min")
    process = subprocess.Popen(
        reminder_command(config, "serve"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=child_environment(),
        text=True,
    )
    try:
        time.sleep(SETTLE_SECONDS)
        for _ in range(samples):
            before = _cpu_seconds(process.pid)
            time.sleep(seconds)
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}")
            per_minute.add((_cpu_seconds(process.pid) - before) * 60 / seconds)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    return per_minute, output[-2000:]


def _cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds process `pid` has used (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return ticks / os.sysconf("SC_CLK_TCK")
