"""columns that may hold an email are 320 characters wide (PostgreSQL refused long addresses)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WIDENED = (("links", "external_id"), ("identity_keys", "value"), ("audit", "external_id"))


def upgrade() -> None:
    for table, column in WIDENED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, type_=sa.String(320), existing_type=sa.String(200))


def downgrade() -> None:
    for table, column in WIDENED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, type_=sa.String(200), existing_type=sa.String(320))
