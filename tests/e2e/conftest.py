"""End-to-end tests run the `reminder` command as a user would: a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import RunCli


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Return an environment whose default database and outbox live under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMINDER_", "STATE_DIR"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["TZ"] = "Europe/Istanbul"
    env.pop("CONFIGURATION_DIRECTORY", None)
    env.pop("CREDENTIALS_DIRECTORY", None)
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str], tmp_path: Path) -> RunCli:
    """Return a function running `python -m reminder ARGS` and returning the result."""

    def run(
        *args: str | Path, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reminder", *map(str, args)],
            capture_output=True,
            text=True,
            env=env or cli_env,
            cwd=tmp_path,
            timeout=timeout,
            check=False,
        )

    return run
