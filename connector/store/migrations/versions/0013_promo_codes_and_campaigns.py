"""promo codes and campaign attribution (issue 17)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op  # noqa: F401  (used once the reserved revision is filled)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    pass  # reserved: filled by the work it is named for


def downgrade() -> None:
    pass
