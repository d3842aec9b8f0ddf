"""shared request limits (issue 13): one bucket per portal for every process

Revision ID: 0015
Revises: 0014

`rate_buckets`: the level of a leaky bucket and when it was last drained, so several worker
processes (or machines) that talk to one Bitrix24 portal take their request slots from one
bucket instead of each spending the portal's whole rate (connector/store/buckets.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
