"""Web users' calendar feed tokens kept as SHA-256 digests, not as given in the URL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

A leaked database or backup must not give anyone the feed URLs, so the database keeps
only the digest, as it already does for set-password tokens. The upgrade hashes each
existing token (in Python, the same hex SHA-256 of the token's UTF-8 bytes that
reminder.web.accounts.token_digest computes): the feed URLs calendar programs are
subscribed to keep working. The new column is nullable: a user added from now on has
no feed address until they make one on the calendar page.

The downgrade cannot turn a digest back into its token: it gives every user a new
random token, so every feed URL made before it stops working, and each user reads the
new one on the calendar page of the older version.
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

# Only the columns the data steps touch, not the model: the model moves on.
_USERS = sa.table(
    "web_users",
    sa.column("id", sa.Integer()),
    sa.column("calendar_token", sa.String(64)),
    sa.column("calendar_token_digest", sa.String(64)),
)


def _digest(token: str) -> str:
    # Spelled out here rather than imported: a migration may not import the web layer,
    # and it must keep computing what the tokens were hashed with in this revision.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.add_column(sa.Column("calendar_token_digest", sa.String(64), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(_USERS.c.id, _USERS.c.calendar_token)).all()
    for user_id, token in rows:
        connection.execute(
            _USERS.update()
            .where(_USERS.c.id == user_id)
            .values(calendar_token_digest=_digest(token))
        )
    with op.batch_alter_table("web_users") as batch:
        batch.drop_constraint(op.f("uq_web_users_calendar_token"), type_="unique")
        batch.drop_column("calendar_token")
        batch.create_unique_constraint(
            op.f("uq_web_users_calendar_token_digest"), ["calendar_token_digest"]
        )


def downgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.add_column(sa.Column("calendar_token", sa.String(64), nullable=True))
    connection = op.get_bind()
    user_ids = connection.execute(sa.select(_USERS.c.id)).scalars().all()
    for user_id in user_ids:
        # The same kind of token reminder.web.accounts.new_token makes (256 bits).
        connection.execute(
            _USERS.update()
            .where(_USERS.c.id == user_id)
            .values(calendar_token=secrets.token_urlsafe(32))
        )
    with op.batch_alter_table("web_users") as batch:
        batch.drop_constraint(op.f("uq_web_users_calendar_token_digest"), type_="unique")
        batch.drop_column("calendar_token_digest")
        batch.alter_column("calendar_token", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint(op.f("uq_web_users_calendar_token"), ["calendar_token"])
