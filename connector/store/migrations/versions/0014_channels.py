"""message channels (issue 16): what the channel packages keep

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op  # noqa: F401  (used once the reserved revision is filled)

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    pass  # reserved: filled by the work it is named for


def downgrade() -> None:
    pass
