"""Backfill progress: which unit's market_chart ranges are stored (so a restart resumes).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backfill",
        sa.Column("unit", sa.String(16), primary_key=True),  # "*": the whole backfill is done
        sa.Column("days", sa.Integer, primary_key=True),  # 365 (daily) or 90 (hourly)
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("backfill")
