"""The config commands: check (and its alias check-config), example, reference."""

from __future__ import annotations

import argparse

from reminder.cli.common import load


def cmd_check(args: argparse.Namespace) -> int:
    """`reminder config check`: validate, then print the effective config (redacted)."""
    from reminder.config.effective import effective_document, to_toml

    config = load(args)
    source = config.source or "built-in defaults (no config file found)"
    print(f"# effective configuration from {source}")
    print(to_toml(effective_document(config)), end="")
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    """`reminder config example`: print the commented example config."""
    from reminder.config.example import example_config

    print(example_config(), end="")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    """`reminder config reference`: print the Markdown reference of every key."""
    from reminder.config.example import reference

    print(reference(), end="")
    return 0
