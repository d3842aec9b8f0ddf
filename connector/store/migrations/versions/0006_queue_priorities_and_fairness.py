"""queue priorities and fairness (issue 13)

Revision ID: 0006
Revises: 0005
"""

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: see the docstring


def downgrade() -> None:
    pass
