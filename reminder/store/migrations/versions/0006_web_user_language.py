"""The language of a web user's pages.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Nullable: the users added before it read the pages in their browser's language, else
the office's, as every user without one does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.drop_column("language")
