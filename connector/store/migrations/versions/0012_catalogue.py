"""catalogue (issue 17): products, variants, prices and stock across copies

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "catalogue_products",
        sa.Column("product_id", sa.String(length=100), nullable=False),
        sa.Column("master", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("image_url", sa.String(length=1000), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("modified", sa.String(length=40), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("product_id"),
    )
    op.create_index("ix_catalogue_products_modified", "catalogue_products", ["modified"])
    op.create_table(
        "catalogue_variants",
        sa.Column("product_id", sa.String(length=100), nullable=False),
        sa.Column("variant_id", sa.String(length=100), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("price", sa.String(length=32), nullable=True),
        sa.Column("sale_price", sa.String(length=32), nullable=True),
        sa.Column("sale_from", sa.String(length=40), nullable=True),
        sa.Column("sale_to", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("stock_by_warehouse", sa.JSON(), nullable=True),
        sa.Column("in_stock", sa.SmallInteger(), nullable=False),
        sa.Column("image_url", sa.String(length=1000), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "variant_id"),
    )
    op.create_index("ix_catalogue_variants_sku", "catalogue_variants", ["sku"])
    op.create_table(
        "catalogue_stock_writes",
        sa.Column("line_key", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("line_key"),
    )


def downgrade() -> None:
    op.drop_table("catalogue_stock_writes")
    op.drop_index("ix_catalogue_variants_sku", table_name="catalogue_variants")
    op.drop_table("catalogue_variants")
    op.drop_index("ix_catalogue_products_modified", table_name="catalogue_products")
    op.drop_table("catalogue_products")
