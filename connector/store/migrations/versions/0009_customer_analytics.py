"""customer analytics (issue 15): order facts, figures, segment transitions, nightly runs

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analytics_orders",
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("ordered_at", sa.Float(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("counts", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=60), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index(
        "ix_analytics_orders_customer", "analytics_orders", ["customer_id", "counts"], unique=False
    )
    op.create_table(
        "customer_figures",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("first_order_at", sa.Float(), nullable=True),
        sa.Column("last_order_at", sa.Float(), nullable=True),
        sa.Column("mean_days_between", sa.Float(), nullable=True),
        sa.Column("favourite_channel", sa.String(length=60), nullable=True),
        sa.Column("favourite_category", sa.String(length=100), nullable=True),
        sa.Column("r", sa.Integer(), nullable=True),
        sa.Column("f", sa.Integer(), nullable=True),
        sa.Column("m", sa.Integer(), nullable=True),
        sa.Column("segment", sa.String(length=60), nullable=True),
        sa.Column("segment_since", sa.Float(), nullable=True),
        sa.Column("p_alive", sa.Float(), nullable=True),
        sa.Column("expected_orders", sa.Float(), nullable=True),
        sa.Column("published", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_index("ix_customer_figures_segment", "customer_figures", ["segment"], unique=False)
    op.create_table(
        "segment_transitions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("from_segment", sa.String(length=60), nullable=True),
        sa.Column("to_segment", sa.String(length=60), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("cause", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_segment_transitions_customer_id", "segment_transitions", ["customer_id"], unique=False
    )
    op.create_index("ix_segment_transitions_at", "segment_transitions", ["at"], unique=False)
    op.create_table(
        "analytics_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("cutoffs", sa.JSON(), nullable=True),
        sa.Column("model", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("analytics_runs")
    op.drop_index("ix_segment_transitions_at", table_name="segment_transitions")
    op.drop_index("ix_segment_transitions_customer_id", table_name="segment_transitions")
    op.drop_table("segment_transitions")
    op.drop_index("ix_customer_figures_segment", table_name="customer_figures")
    op.drop_table("customer_figures")
    op.drop_index("ix_analytics_orders_customer", table_name="analytics_orders")
    op.drop_table("analytics_orders")
