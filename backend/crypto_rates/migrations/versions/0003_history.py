"""History: hourly and daily points per code (downsampled refreshes and backfilled data).

Revision ID: 0003
Revises: 0002

The snapshots already stored stay as they are: the poller downsamples them into this table before
it prunes refreshes older than 48 h (history.py), so an upgrade keeps every point's information.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("resolution", sa.Integer, primary_key=True),  # seconds: 3600 or 86400
        sa.Column("t", sa.DateTime(timezone=True), primary_key=True),  # the hour's or day's start
        sa.Column("value", sa.Float, nullable=False),  # units per 1 BTC
    )


def downgrade() -> None:
    op.drop_table("history")
