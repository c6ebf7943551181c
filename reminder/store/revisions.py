"""The schema revisions this program knows, read without importing Alembic.

Every command checks the database's revision before it works; Alembic's own reading
of the migration scripts imports Alembic and its DDL layer, most of a quick command's
start-up. The revisions are read here from the assignments `revision = ...` and
`down_revision = ...` at the top of each file of `migrations/versions` (as Alembic's
template writes them), and the database's revision from its `alembic_version` table.
A test holds these to Alembic's reading of the same scripts.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from sqlalchemy import Connection, inspect, text

VERSIONS_FOLDER = Path(__file__).with_name("migrations") / "versions"
#: The table in which Alembic keeps a database's revision.
VERSION_TABLE = "alembic_version"

# A module-level assignment, annotated or not: `revision: str = "0004"`.
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\b[^=\n]*=(.*)$", re.MULTILINE)


@functools.cache
def known_revisions() -> dict[str, str | None]:
    """Return each packaged revision with the revision it follows (None for the first).

    Raises RuntimeError when a migration file lacks either assignment.
    """
    revisions: dict[str, str | None] = {}
    for path in sorted(VERSIONS_FOLDER.glob("*.py")):
        values = {
            name: ast.literal_eval(value.strip())
            for name, value in _ASSIGNMENT.findall(path.read_text(encoding="utf-8"))
        }
        if "revision" not in values or "down_revision" not in values:
            raise RuntimeError(f"{path.name}: no revision or down_revision assignment")
        revisions[values["revision"]] = values["down_revision"]
    return revisions


def head_revision() -> str:
    """Return the newest revision: the one no other revision follows.

    Raises RuntimeError unless there is exactly one (Alembic would call it branched).
    """
    revisions = known_revisions()
    heads = set(revisions) - set(revisions.values())
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def database_revision(connection: Connection) -> str | None:
    """Return the revision recorded in the database, None when it has none (empty)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()  # noqa: S608
    found = list(versions)
    if len(found) > 1:
        raise RuntimeError(f"the database has {len(found)} revisions: {sorted(found)}")
    return found[0] if found else None
