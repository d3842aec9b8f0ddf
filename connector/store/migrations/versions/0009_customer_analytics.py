"""customer analytics (issue 15)

Revision ID: 0009
Revises: 0008
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: see the docstring


def downgrade() -> None:
    pass
