"""Alembic environment: runs the packaged migrations on the connection reminder hands in.

reminder.store.database builds the Alembic configuration in code and passes its own connection in
`config.attributes["connection"]`, so migrations run with the same engine settings
(SQLite pragmas, BEGIN IMMEDIATE) as the program. Logging is deliberately left alone:
no fileConfig(), the program's logging setup stays as it is.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from reminder.store.models import Base


def run_migrations(connection: Connection) -> None:
    """Run the migrations on `connection`."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: autogenerate writes batch operations for it.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


given_connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(given_connection, Connection):
    raise RuntimeError(
        "reminder's migrations run through reminder.store.database.Database, "
        "which passes a connection"
    )
run_migrations(given_connection)
