"""message channels (issue 16): what the channel packages keep

Revision ID: 0014
Revises: 0013

`telegram_crm_links`: the start link written into each unbound customer's Bitrix24 contact
(CONNECTOR_TELEGRAM_CRM_FIELD), one row per customer, so the hourly job renews only the links
about to expire.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telegram_crm_links",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("written_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_telegram_crm_links_expires", "telegram_crm_links", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_telegram_crm_links_expires", table_name="telegram_crm_links")
    op.drop_table("telegram_crm_links")
