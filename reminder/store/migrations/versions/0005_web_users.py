"""Web users and their login attempts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Column types are spelled out here rather than imported from reminder.store, so this
revision keeps creating the same schema when the models move on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision: str = "0005"
down_revision: str | None = "0004"
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
        "web_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("session_generation", sa.Integer(), nullable=False),
        sa.Column("calendar_token", sa.String(64), nullable=False),
        sa.Column("set_password_digest", sa.String(64), nullable=True),
        sa.Column("set_password_expires", _utc_timestamp(), nullable=True),
        sa.Column("created_at", _utc_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_users")),
        sa.UniqueConstraint("email", name=op.f("uq_web_users_email")),
        sa.UniqueConstraint("calendar_token", name=op.f("uq_web_users_calendar_token")),
        sa.UniqueConstraint("set_password_digest", name=op.f("uq_web_users_set_password_digest")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "web_login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _utc_timestamp(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("address", sa.String(45), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_login_attempts")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_web_login_attempts_email_at", "web_login_attempts", ["email", "at"])
    op.create_index("ix_web_login_attempts_address_at", "web_login_attempts", ["address", "at"])


def downgrade() -> None:
    op.drop_table("web_login_attempts")
    op.drop_table("web_users")
