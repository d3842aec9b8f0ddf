"""loyalty ledger: accounts, entries, orders

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "loyalty_accounts",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("card_number", sa.String(length=40), nullable=True),
        sa.Column("tier", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
        sa.UniqueConstraint("card_number"),
    )
    op.create_table(
        "loyalty_entries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("available", sa.BigInteger(), nullable=False),
        sa.Column("pending", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("shortfall", sa.BigInteger(), nullable=False),
        sa.Column("reverses", sa.String(length=20), nullable=True),
        sa.Column("order_id", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("loyalty_entries", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_entries_customer", ["customer_id", "id"], unique=False)
        batch_op.create_index("ix_loyalty_entries_order", ["order_id"], unique=False)
    op.create_table(
        "loyalty_orders",
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("bonus_spent", sa.BigInteger(), nullable=False),
        sa.Column("paid_version", sa.String(length=64), nullable=True),
        sa.Column("paid_at", sa.Float(), nullable=True),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("closed", sa.String(length=20), nullable=True),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("refunds", sa.JSON(), nullable=False),
        sa.Column("confirmed_spend", sa.BigInteger(), nullable=False),
        sa.Column("accrual", sa.BigInteger(), nullable=True),
        sa.Column("release_due_at", sa.Float(), nullable=True),
        sa.Column("released", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    with op.batch_alter_table("loyalty_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_orders_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_loyalty_orders_release", ["released", "release_due_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("loyalty_orders")
    op.drop_table("loyalty_entries")
    op.drop_table("loyalty_accounts")
