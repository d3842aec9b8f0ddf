"""catalogue (issue 17): products, variants, prices and stock across copies

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op  # noqa: F401  (used once the reserved revision is filled)

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    pass  # reserved: filled by the work it is named for


def downgrade() -> None:
    pass
