"""(g) The web page: the agreements list at each size, and its served throughput.

- page: `reminder web` on the size's database, GET / (the first page of the agreements
  list) again and again over one keep-alive connection; seconds per page. The target
  compares the largest size with the smallest: the page reads one page of rows, never
  the table, so it must cost nearly the same at 1,000,000 as at 10,000.
- throughput: wrk (`apt-get install wrk`), 20 connections for `seconds`, against our
  page and against `bench.web_floor` (a bare Starlette + Jinja2 app writing the same
  page, the same 50 rows, from a list in memory, under uvicorn with our settings; the
  two pages are checked to be the same size), one after the other, `repeat` times;
  requests per second and every error wrk counts.

The bench signs in the way a reverse proxy with single sign-on would: `[web] auth =
"proxy"`, 127.0.0.1 trusted, an admin named in X-Remote-User.
"""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench.processes import child_environment, reminder_command, run
from bench.stats import Samples

USER = "bench-admin@example.edu"
USER_HEADER = "X-Remote-User"
CONNECTIONS = 20
PAGE_REQUESTS = 200  # per repeat: the page is a few milliseconds
PAGE_ROWS = 50  # the rows of the list's first page, ours and the floor's


@dataclass
class WebFigures:
    """The agreements page at one size."""

    page: Samples = field(default_factory=lambda: Samples("s"))
    ours_rps: Samples = field(default_factory=lambda: Samples("req/s"))
    floor_rps: Samples = field(default_factory=lambda: Samples("req/s"))
    errors: list[str] = field(default_factory=list)


def wrk_available() -> bool:
    """Return whether the load generator is installed."""
    return shutil.which("wrk") is not None


def measure_web(
    config: Path, sqlite_file: Path | None, *, repeat: int, seconds: float, scratch: Path
) -> WebFigures:
    """Measure the page and, when `sqlite_file` is given, the throughput against the floor.

    Raises RuntimeError when a server does not start or a page is not 200.
    """
    figures = WebFigures()
    port = _free_port()
    web_config = _web_config(config, scratch / f"web-{config.stem}.toml", port)
    added = run(reminder_command(web_config, "user", "add", USER, "--role", "admin"), measure=False)
    if added.returncode != 0 and "already" not in added.stderr:
        added.check("reminder user add")
    headers = {USER_HEADER: USER}
    with _serving(reminder_command(web_config, "web"), port):
        for _ in range(repeat):
            figures.page.add(_seconds_per_page(port, headers))
        if sqlite_file is None or not wrk_available():
            return figures
        floor_port = _free_port()
        floor = [
            sys.executable,
            "-m",
            "bench.web_floor",
            str(sqlite_file),
            str(config),
            str(floor_port),
        ]
        with _serving(floor, floor_port):
            _check_same_document(port, headers, floor_port)
            for _ in range(repeat):
                figures.ours_rps.add(_throughput(port, headers, seconds, figures.errors, "ours"))
                figures.floor_rps.add(_throughput(floor_port, {}, seconds, figures.errors, "floor"))
    return figures


def _web_config(config: Path, path: Path, port: int) -> Path:
    """Write `config` with a [web] table for the bench; return the new file's path."""
    text = config.read_text(encoding="utf-8")
    path.write_text(
        text
        + "\n[web]\n"
        + f'listen = "127.0.0.1:{port}"\n'
        + 'auth = "proxy"\n'
        + f'user_header = "{USER_HEADER}"\n'
        + 'trusted_proxies = ["127.0.0.1/32"]\n',
        encoding="utf-8",
    )
    return path


@contextmanager
def _serving(command: Sequence[str], port: int) -> Iterator[None]:
    """Run the server `command` until the block ends; return once `port` answers."""
    # What the server says goes to a file: a pipe nobody reads could fill and stall it.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, env=child_environment()
        )
        try:
            _wait_until_listening(process, port, log, " ".join(command[:6]))
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_listening(
    process: subprocess.Popen[bytes], port: int, log: IO[bytes], what: str
) -> None:
    """Return once `port` accepts; raise RuntimeError if the server exits or takes 60 s."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            log.seek(0)
            said = log.read().decode("utf-8", "replace")[-2000:]
            raise RuntimeError(f"{what} exited {process.returncode}: {said}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen") from None
            time.sleep(0.1)


def _seconds_per_page(port: int, headers: dict[str, str]) -> float:
    """Return the mean seconds of PAGE_REQUESTS sequential GET / over one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        _get(connection, headers)  # warm: templates compiled, statements prepared
        start = time.perf_counter()
        for _ in range(PAGE_REQUESTS):
            _get(connection, headers)
        return (time.perf_counter() - start) / PAGE_REQUESTS
    finally:
        connection.close()


def _get(connection: http.client.HTTPConnection, headers: dict[str, str]) -> bytes:
    """Return the body of GET /; raise RuntimeError unless it is a page of 50 rows."""
    connection.request("GET", "/", headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200 or body.count(b'<a href="/agreements/') != PAGE_ROWS:
        said = f"GET / answered {response.status}, not a page of {PAGE_ROWS} rows"
        raise RuntimeError(f"{said}: {body[:500]!r}")
    return body


def _check_same_document(port: int, headers: dict[str, str], floor_port: int) -> None:
    """Raise RuntimeError unless our page and the floor's are the same size within 2%:
    the floor must write the document ours does, or the ratio compares other work."""
    sizes = []
    for each_port, each_headers in ((port, headers), (floor_port, {})):
        connection = http.client.HTTPConnection("127.0.0.1", each_port, timeout=60)
        try:
            sizes.append(len(_get(connection, each_headers)))
        finally:
            connection.close()
    ours, floor = sizes
    if abs(ours - floor) > ours * 0.02:
        raise RuntimeError(f"our page is {ours} bytes and the floor's {floor}: not the same page")


_REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_WRK_ERRORS = re.compile(r"^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$", re.MULTILINE)


def _throughput(
    port: int, headers: dict[str, str], seconds: float, errors: list[str], label: str
) -> float:
    """Return the requests per second wrk measured; add what wrk counted as errors."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    finished = run([*command, f"http://127.0.0.1:{port}/"], measure=False).check("wrk")
    found = _REQUESTS_PER_SECOND.search(finished.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{finished.stdout}")
    errors += [f"{label}: {match.group(1)}" for match in _WRK_ERRORS.finditer(finished.stdout)]
    return float(found.group(1))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
