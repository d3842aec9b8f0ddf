"""admin console accounts, sessions and audit (issue 14)

Accounts with argon2 password hashes, server-side sessions, refused sign-ins (the rate limit),
the trail of every console action, and the indexes the console's pages read a big store by.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def upgrade() -> None:
    op.create_table(
        "admin_accounts",
        _id(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64)),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_admin_sessions_account_id", "admin_sessions", ["account_id"])
    op.create_index("ix_admin_sessions_expires_at", "admin_sessions", ["expires_at"])
    op.create_table(
        "admin_signin_failures",
        _id(),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )
    op.create_index("ix_admin_signin_failures_account", "admin_signin_failures", ["account", "at"])
    op.create_index("ix_admin_signin_failures_address", "admin_signin_failures", ["address", "at"])
    op.create_table(
        "admin_actions",
        _id(),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=300)),
        sa.Column("address", sa.String(length=64)),
        sa.Column("detail", sa.JSON()),
    )
    op.create_index("ix_admin_actions_at", "admin_actions", ["at"])
    op.create_index("ix_admin_actions_account", "admin_actions", ["account"])
    op.create_index("ix_tasks_state_id", "tasks", ["state", "id"])
    op.create_index("ix_task_errors_failed", "task_errors", ["failed_at"])
    # A customer's orders on the console's customer page: the hub order's customer, by index
    # (connector/admin/lookup.py writes the same expression).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_links_customer_of ON links ((data ->> 'customer_id'))")
    else:
        op.execute(
            "CREATE INDEX ix_links_customer_of ON links (json_extract(data, '$.customer_id'))"
        )


def downgrade() -> None:
    op.drop_index("ix_links_customer_of", table_name="links")
    op.drop_index("ix_task_errors_failed", table_name="task_errors")
    op.drop_index("ix_tasks_state_id", table_name="tasks")
    op.drop_table("admin_actions")
    op.drop_table("admin_signin_failures")
    op.drop_table("admin_sessions")
    op.drop_table("admin_accounts")
