"""The command-line parser: every command names a handler that exists, arguments are
converted as the handlers expect, and `reminder --help` imports none of the command
modules nor the heavy libraries they use.
"""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from reminder.cli import build_parser, command_handler


def _command_parsers(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Return (command words, parser) for `parser` and every parser below it."""
    found = [(words, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _command_parsers(child, (*words, name))
    return found


COMMANDS = _command_parsers(build_parser())[1:]


def test_every_command_is_reached() -> None:
    names = {" ".join(words) for words, _ in COMMANDS}
    assert {"import", "due", "db upgrade", "outbox retry", "renew", "export-ics", "health"} <= (
        names
    )
    assert {"check-config", "config check", "config example", "config reference"} <= names
    assert "db copy" in names
    assert {"web", "user add", "user list", "user disable", "user passwd"} <= names
    assert len(names) == 31


@pytest.mark.parametrize(
    "parser", [parser for _, parser in COMMANDS], ids=[" ".join(words) for words, _ in COMMANDS]
)
def test_each_command_names_a_handler_that_exists(parser: argparse.ArgumentParser) -> None:
    name = parser.get_default("handler")
    if name is None:  # `db`, `config`, `user` alone are refused by argparse: they need an action
        assert parser.prog.endswith((" db", " config", " user"))
        return
    handler = command_handler(name)
    assert callable(handler)
    assert handler.__module__ == f"reminder.cli.{name.rpartition('.')[0]}"
    assert list(inspect.signature(handler).parameters) == ["args"]


def test_check_config_is_an_alias_of_config_check() -> None:
    parser = build_parser()
    assert parser.parse_args(["check-config"]).handler == "config.cmd_check"
    assert parser.parse_args(["config", "check"]).handler == "config.cmd_check"


def test_no_command_means_no_handler() -> None:
    assert build_parser().parse_args([]).handler is None


def test_command_handler_refuses_an_unknown_name() -> None:
    with pytest.raises(AttributeError):
        command_handler("mail.cmd_nothing")
    with pytest.raises(ImportError):
        command_handler("nothing.cmd_due")


def test_paths_and_dates_are_converted_for_the_handlers() -> None:
    parser = build_parser()
    preview = parser.parse_args(["preview"])
    assert preview.out == Path("preview")
    assert isinstance(preview.out, Path)
    assert parser.parse_args(["preview", "--out", "x/y"]).out == Path("x/y")
    imported = parser.parse_args(["import", "a.tsv", "b.csv"])
    assert imported.files == [Path("a.tsv"), Path("b.csv")]
    assert parser.parse_args(["export-ics", "--out", "f.ics"]).out == Path("f.ics")
    assert parser.parse_args(["export-ics"]).out is None
    assert parser.parse_args(["due", "--as-of", "2025-02-28"]).as_of == date(2025, 2, 28)
    assert parser.parse_args(["due"]).as_of is None


def test_a_bad_date_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["agreements", "--as-of", "2025-02-30"])
    assert exit_.value.code == 2
    assert "argument --as-of: '2025-02-30' is not a date (use YYYY-MM-DD)" in (
        capsys.readouterr().err
    )


# Run in a fresh interpreter: what `reminder --help` imports beyond a bare start.
HELP_IMPORTS = """
import contextlib, io, json, sys
before = set(sys.modules)
from reminder.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
    main(["--help"])
print(json.dumps({"new": sorted(set(sys.modules) - before), "help": out.getvalue()}))
"""


def test_help_imports_no_command_module_nor_heavy_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout)
    assert report["help"].startswith("usage: reminder")
    new = set(report["new"])
    assert {name for name in new if name.startswith("reminder.")} == {"reminder.cli"}
    # Each of these costs milliseconds; a --help that pays them is no longer quick.
    heavy = {"pathlib", "typing", "datetime", "logging", "sqlalchemy", "jinja2", "asyncio"}
    assert new & heavy == set()
