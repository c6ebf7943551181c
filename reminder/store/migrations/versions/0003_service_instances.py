"""Service instances: each running `reminder serve`, its role and heartbeat.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

Column types are spelled out here rather than imported from reminder.store.models, so this
revision keeps creating the same schema when the models move on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _utc_timestamp() -> sa.DateTime:
    """Return the column type of reminder.store.models.UTCDateTime on every database."""
    return (
        sa.DateTime()
        .with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
        .with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    )


def upgrade() -> None:
    op.create_table(
        "service_instances",
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("started_at", _utc_timestamp(), nullable=False),
        sa.Column("heartbeat_at", _utc_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("instance", name=op.f("pk_service_instances")),
        # utf8mb4 whatever the default character set of the MariaDB/MySQL database is.
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("service_instances")
