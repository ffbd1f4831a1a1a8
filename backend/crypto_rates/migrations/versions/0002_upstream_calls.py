"""Upstream calls per UTC calendar month, shared by every replica (the plan's monthly budget).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstream_calls",
        sa.Column("month", sa.String(7), primary_key=True),  # "2026-12"
        sa.Column("calls", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upstream_calls")
