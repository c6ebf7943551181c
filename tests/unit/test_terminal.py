"""Terminal niceties: the import progress bar and journald-friendly logs."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reminder.cli.progress import MIN_LINES_FOR_BAR, progress_bar
from reminder.service.logs import JournalFormatter, configure_logging, under_journald


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_not_a_terminal() -> None:
    with progress_bar(io.StringIO(), label="reading") as update:
        assert update is None


def test_bar_only_for_large_tables_and_cleared_at_the_end() -> None:
    small = Terminal()
    with progress_bar(small, label="reading") as update:
        assert update is not None
        update(10, MIN_LINES_FOR_BAR - 1)
    assert small.getvalue() == ""

    large = Terminal()
    total = MIN_LINES_FOR_BAR * 3
    with progress_bar(large, label="reading") as update:
        assert update is not None
        update(total, total)
    drawn = large.getvalue()
    assert f"100% {total}/{total}" in drawn
    assert drawn.endswith("\r\033[K")


def test_journal_lines_carry_priority_and_no_timestamp() -> None:
    formatter = JournalFormatter("%(name)s: %(message)s")
    record = logging.LogRecord(
        "reminder.runs.reminder_run", logging.ERROR, __file__, 1, "two\nlines", None, None
    )
    assert formatter.format(record) == "<3>reminder.runs.reminder_run: two | lines"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, ours = logging.getLogger(), logging.getLogger("reminder")
    handlers, root_level, our_level = root.handlers[:], root.level, ours.level
    yield
    root.handlers[:] = handlers
    root.setLevel(root_level)
    ours.setLevel(our_level)


@pytest.mark.usefixtures("restore_logging")
def test_under_journald_checks_the_stream_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert not under_journald()
    with (tmp_path / "stream").open("w") as stream:
        stat = os.fstat(stream.fileno())
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setenv("JOURNAL_STREAM", f"{stat.st_dev}:{stat.st_ino}")
        assert under_journald()
        configure_logging(verbose=True)
        logging.getLogger("reminder.test").info("hello")
        stream.flush()
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        assert not under_journald()
    assert (tmp_path / "stream").read_text() == "<6>reminder.test: hello\n"
