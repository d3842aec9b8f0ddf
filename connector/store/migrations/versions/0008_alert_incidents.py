"""alert incidents (issue 14)

Revision ID: 0008
Revises: 0007
"""

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: see the docstring


def downgrade() -> None:
    pass
