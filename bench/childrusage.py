"""Run one command and write what it cost as JSON: `python -m bench.childrusage REPORT CMD...`.

The peak memory of a child has to be read by a small parent. Linux starts a child's
peak RSS from its parent's when the child is spawned (vfork, then exec), so a child of
the benchmark, which holds whole portfolios in memory, would inherit the benchmark's
peak. This process is small, so its children's peak is their own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def main(arguments: list[str]) -> int:
    """Run arguments[1:], write {returncode, seconds, cpu_seconds, peak_rss_kb} to
    arguments[0], and return the command's exit status."""
    report, command = Path(arguments[0]), arguments[1:]
    start = time.perf_counter()
    finished = subprocess.run(command, check=False)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report.write_text(
        json.dumps(
            {
                "returncode": finished.returncode,
                "seconds": seconds,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "peak_rss_kb": usage.ru_maxrss,  # Linux reports kilobytes
            }
        )
    )
    return finished.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
