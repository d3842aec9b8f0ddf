"""promo codes and campaign attribution (issue 17)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # campaign attribution needs no table: it lives on the order's hub snapshot (custom.*)
    op.create_table(
        "promo_codes",
        sa.Column("canonical_id", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("coupon_id", sa.String(length=100), nullable=False),
        sa.Column("code_key", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=12), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("enabled", sa.SmallInteger(), nullable=False),
        sa.Column("deleted", sa.SmallInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("canonical_id"),
        sa.UniqueConstraint("source", "coupon_id", name="uq_promo_codes_coupon"),
    )
    op.create_index("ix_promo_codes_code", "promo_codes", ["code_key"])
    op.create_index("ix_promo_codes_expiry", "promo_codes", ["enabled", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_promo_codes_expiry", table_name="promo_codes")
    op.drop_index("ix_promo_codes_code", table_name="promo_codes")
    op.drop_table("promo_codes")
