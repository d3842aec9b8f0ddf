"""inbound events no longer point at their task (the task's dedupe key names the event)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch_op:
        batch_op.drop_column("task_id")


def downgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.BigInteger(), nullable=True))
