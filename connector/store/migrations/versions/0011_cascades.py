"""cascades (issue 16): scenario runs, their sends, opt-outs, Telegram start tokens

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cascade_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("scenario", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("trigger_key", sa.String(length=300), nullable=False),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("stop_reason", sa.String(length=200), nullable=True),
        sa.Column("converted_step", sa.Integer(), nullable=True),
        sa.Column("converted_ref", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scenario", "trigger_key", name="uq_cascade_runs_trigger"),
    )
    op.create_index("ix_cascade_runs_customer", "cascade_runs", ["customer_id", "state"])
    op.create_index("ix_cascade_runs_scenario", "cascade_runs", ["scenario", "state"])
    op.create_table(
        "cascade_sends",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("idem_key", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("medium", sa.String(length=20), nullable=False),
        sa.Column("marketing", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=True),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("status_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idem_key"),
    )
    op.create_index("ix_cascade_sends_run_id", "cascade_sends", ["run_id"])
    op.create_index("ix_cascade_sends_provider", "cascade_sends", ["channel", "provider_id"])
    op.create_index("ix_cascade_sends_cap", "cascade_sends", ["customer_id", "medium", "sent_at"])
    op.create_table(
        "channel_optouts",
        sa.Column("medium", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("medium", "address"),
    )
    op.create_table(
        "telegram_tokens",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.Column("chat_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("token"),
    )
    op.create_index("ix_telegram_tokens_customer_id", "telegram_tokens", ["customer_id"])


def downgrade() -> None:
    op.drop_table("telegram_tokens")
    op.drop_table("channel_optouts")
    op.drop_table("cascade_sends")
    op.drop_table("cascade_runs")
