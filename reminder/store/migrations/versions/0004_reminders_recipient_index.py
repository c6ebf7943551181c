"""Index the ledger by recipient, for the events a renewal replaced.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Every reminder digest asks which calendar events its recipient was sent that a renewal
or an amendment has since replaced; without an index that is a scan of the whole
ledger per digest, a cost that grows with every reminder ever recorded.
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_reminders_recipient_until", "reminders", ["recipient", "effective_until"])


def downgrade() -> None:
    op.drop_index("ix_reminders_recipient_until", table_name="reminders")
