"""alert incidents (issue 14): incidents and their sends, refused signatures per minute, and the
index of finished tasks by kind that the health signals read

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_state_kind_finished", "tasks", ["state", "kind", "finished_at"])
    op.create_table(
        "webhook_refusals",
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", "minute"),
    )
    op.create_table(
        "alert_incidents",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("open_key", sa.String(length=160), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.Column("cleared_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key", name="uq_alert_incidents_open"),
    )
    op.create_index("ix_alert_incidents_state", "alert_incidents", ["state", "id"])
    op.create_table(
        "alert_sends",
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.Float(), nullable=True),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", "event", "channel"),
    )
    op.create_index("ix_alert_sends_pending", "alert_sends", ["sent_at", "incident_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_sends_pending", table_name="alert_sends")
    op.drop_table("alert_sends")
    op.drop_index("ix_alert_incidents_state", table_name="alert_incidents")
    op.drop_table("alert_incidents")
    op.drop_table("webhook_refusals")
    op.drop_index("ix_tasks_state_kind_finished", table_name="tasks")
