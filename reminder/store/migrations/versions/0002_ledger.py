"""The ledger: reminders decided, the messages that carry them, job runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Column types are spelled out here rather than imported from reminder.store.models, so this
revision keeps creating the same schema when the models move on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision: str = "0002"
down_revision: str | None = "0001"
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
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column("dedup_key_hash", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column(
            "raw",
            sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _utc_timestamp(), nullable=False),
        sa.Column("claimed_until", _utc_timestamp(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failing_since", _utc_timestamp(), nullable=True),
        sa.Column("created_at", _utc_timestamp(), nullable=False),
        sa.Column("sent_at", _utc_timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("dedup_key_hash", name=op.f("uq_messages_dedup_key_hash")),
        sa.UniqueConstraint("message_id", name=op.f("uq_messages_message_id")),
        # utf8mb4 whatever the default character set of the MariaDB/MySQL database is.
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index(op.f("ix_messages_state_next"), "messages", ["state", "next_attempt_at"])
    op.create_table(
        "message_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_recipients")),
        sa.ForeignKeyConstraint(
            ["message_pk"],
            ["messages.id"],
            name=op.f("fk_message_recipients_message_pk_messages"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("message_pk", "address", name=op.f("uq_message_recipients_address")),
        # utf8mb4 whatever the default character set of the MariaDB/MySQL database is.
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column(
            "recipient",
            sa.String(320).with_variant(
                mysql.VARCHAR(320, collation="utf8mb4_bin"), "mysql", "mariadb"
            ),
            nullable=False,
        ),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("created_at", _utc_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_reminders_agreement_id_agreements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_pk"],
            ["messages.id"],
            name=op.f("fk_reminders_message_pk_messages"),
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint(
            "agreement_id",
            "effective_until",
            "window_days",
            "recipient",
            name=op.f("uq_reminders_key"),
        ),
        # utf8mb4 whatever the default character set of the MariaDB/MySQL database is.
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index(op.f("ix_reminders_message_pk"), "reminders", ["message_pk"])
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(20), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", _utc_timestamp(), nullable=False),
        sa.Column("finished_at", _utc_timestamp(), nullable=True),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        # utf8mb4 whatever the default character set of the MariaDB/MySQL database is.
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index(op.f("ix_job_runs_job_started"), "job_runs", ["job", "started_at"])


def downgrade() -> None:
    op.drop_table("job_runs")
    op.drop_table("reminders")
    op.drop_table("message_recipients")
    op.drop_table("messages")
