"""Snapshots: one row per upstream fetch, what /api/v1/rates served and /history is made of.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # Unique: two replicas writing the same fetch (after an outage) store it once.
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False, unique=True),
        sa.Column("source", sa.String(16), nullable=False),
        # CoinGecko's shape ({code: {name, unit, value, type}}), validated again when read.
        sa.Column("rates", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
