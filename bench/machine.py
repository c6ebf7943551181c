"""What the figures were measured on: the machine and the versions of everything."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path

_PACKAGES = (
    "reminder",
    "sqlalchemy",
    "alembic",
    "aiosmtplib",
    "aiosmtpd",
    "jinja2",
    "css-inline",
    "psycopg",
    "openpyxl",
)


def describe_machine() -> list[str]:
    """Return lines naming the CPU, cores, memory, kernel and Python."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kilobytes = int(meminfo.read_text().split()[1])
        memory = f"{kilobytes / 1024 / 1024:.1f} GiB"
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; memory {memory}",
        f"kernel: {platform.system()} {platform.release()} ({platform.machine()})",
        f"Python: {platform.python_implementation()} {platform.python_version()}",
    ]


def describe_versions() -> list[str]:
    """Return lines naming the versions of the packages and tools measured."""
    lines = []
    for package in _PACKAGES:
        try:
            lines.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{package}: not installed")
    lines.append(f"SQLite library (Python's sqlite3 module): {sqlite3.sqlite_version}")
    lines.append(f"sqlite3 shell: {_tool_version('sqlite3', '--version')}")
    lines.append(f"psql: {_tool_version('psql', '--version')}")
    return lines


def _tool_version(tool: str, flag: str) -> str:
    path = shutil.which(tool)
    if path is None:
        return "not installed"
    finished = subprocess.run([path, flag], capture_output=True, text=True, check=False)
    return " ".join(finished.stdout.split()[:3]) or "unknown"
