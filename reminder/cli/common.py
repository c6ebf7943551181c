"""What every command needs: the config, the database, today, JSON output."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reminder.config.schema import Config
    from reminder.store.database import Database


def load(args: argparse.Namespace) -> Config:
    from reminder.config.loading import load_config

    return load_config(args.config)


def open_db(config: Config, *, migrate: bool | None = None) -> Database:
    from reminder.config.credentials import resolve_secret
    from reminder.store.database import open_database

    password = resolve_secret(config.database.password, "database")
    return open_database(config.database.url, password=password, migrate=migrate)


def today(config: Config) -> date:
    from datetime import datetime

    return datetime.now(config.zone).date()


def print_json(data: Any) -> None:
    import json

    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
