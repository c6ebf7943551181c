"""Agreements and their history.

Revision ID: 0001
Revises:
Create Date: 2025-11-27

Column types are spelled out here rather than imported from reminder.store.models, so this
revision keeps creating the same schema when the models move on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _utc_timestamp() -> sa.DateTime:
    """Return the column type of reminder.store.models.UTCDateTime on every database."""
    return (
        sa.DateTime()
        .with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
        .with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    )


def _key_string(length: int) -> sa.String:
    """Return the type of an identity key column: binary collation on MariaDB/MySQL."""
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner", sa.String(300), nullable=False),
        sa.Column("partner_key", _key_string(300), nullable=False),
        sa.Column("country", sa.String(120), nullable=False),
        sa.Column("country_code", sa.String(2), nullable=True),
        sa.Column("country_match", sa.String(12), nullable=False),
        sa.Column("programme", sa.String(120), nullable=False),
        sa.Column("programme_key", _key_string(120), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("concluded", sa.Date(), nullable=False),
        sa.Column("concluded_precision", sa.String(5), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=False),
        sa.Column("effective_until_source", sa.String(5), nullable=False),
        sa.Column("approximate", sa.Boolean(), nullable=False),
        sa.Column("lifecycle", sa.String(12), nullable=False),
        sa.Column("coordinator_email", sa.String(320), nullable=True),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("source_line", sa.Integer(), nullable=False),
        sa.Column("data_warnings", sa.Text(), nullable=False),
        sa.Column("retired_reason", sa.Text(), nullable=True),
        sa.Column("snoozed_until", sa.Date(), nullable=True),
        sa.Column("superseded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _utc_timestamp(), nullable=False),
        sa.Column("updated_at", _utc_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"],
            ["agreements.id"],
            name=op.f("fk_agreements_superseded_by_id_agreements"),
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint(
            "partner_key", "programme_key", "concluded", name=op.f("uq_agreement_identity")
        ),
        # utf8mb4 whatever the default character set of the MariaDB/MySQL database is.
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index(
        op.f("ix_agreements_lifecycle_until"), "agreements", ["lifecycle", "effective_until"]
    )
    op.create_index(op.f("ix_agreements_effective_until"), "agreements", ["effective_until"])
    op.create_index(op.f("ix_agreements_superseded_by_id"), "agreements", ["superseded_by_id"])

    op.create_table(
        "agreement_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc_timestamp(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_events")),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_events_agreement_id_agreements"),
            ondelete="CASCADE",
        ),
        # utf8mb4 whatever the default character set of the MariaDB/MySQL database is.
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index(
        op.f("ix_agreement_events_agreement_at"), "agreement_events", ["agreement_id", "at"]
    )


def downgrade() -> None:
    op.drop_table("agreement_events")
    op.drop_table("agreements")
