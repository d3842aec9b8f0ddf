"""queue priorities and fairness (issue 13)

Each task gets a `priority` (0 live webhooks, 1 polls, 2 bulk work) and a `lane` (the system it
belongs to), and the claim index becomes (state, priority, lane, run_at): a claim reads only the
due head of each (priority, lane), however many future-dated tasks the table holds.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("lane", sa.String(length=30), nullable=False, server_default="")
        )
        batch_op.drop_index("ix_tasks_state")
        batch_op.create_index("ix_tasks_claim", ["state", "priority", "lane", "run_at"])
    # Tasks queued before the upgrade: their lane from their kind (`push.<system>.x` or
    # `<system>.x`), as `connector.keys.lane` gives it to new ones.
    op.execute(
        "UPDATE tasks SET lane = CASE"
        " WHEN kind LIKE 'push.%'"
        " THEN substr(substr(kind, 6), 1, instr(substr(kind, 6) || '.', '.') - 1)"
        " ELSE substr(kind, 1, instr(kind || '.', '.') - 1) END"
        " WHERE state IN ('queued', 'waiting', 'running')"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE tasks SET lane = CASE"
        " WHEN kind LIKE 'push.%' THEN split_part(kind, '.', 2)"
        " ELSE split_part(kind, '.', 1) END"
        " WHERE state IN ('queued', 'waiting', 'running')"
    )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_claim")
        batch_op.create_index("ix_tasks_state", ["state", "id"])
        batch_op.drop_column("lane")
        batch_op.drop_column("priority")
