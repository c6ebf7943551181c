"""A plain progress bar on a terminal, for imports of more than a few thousand rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from reminder.importing.pipeline import ProgressCallback

#: Tables shorter than this finish before a bar would be worth reading.
MIN_LINES_FOR_BAR = 2000
_REDRAW_SECONDS = 0.1


@contextmanager
def progress_bar(
    stream: TextIO, *, label: str, width: int = 30
) -> Iterator[ProgressCallback | None]:
    """Yield a progress callback drawing on `stream`, or None when it is not a terminal.

    The bar appears only once a table is known to have MIN_LINES_FOR_BAR lines, and is
    cleared at the end so the report that follows starts on a clean line.
    """
    if not stream.isatty():
        yield None
        return
    drawn = False
    last = 0.0

    def update(done: int, total: int) -> None:
        nonlocal drawn, last
        now = time.monotonic()
        if total < MIN_LINES_FOR_BAR or (now - last < _REDRAW_SECONDS and done < total):
            return
        last = now
        share = min(done / total, 1.0)
        filled = int(share * width)
        stream.write(
            f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {share:4.0%} {done}/{total}"
        )
        stream.flush()
        drawn = True

    try:
        yield update
    finally:
        if drawn:
            stream.write("\r\033[K")
            stream.flush()
