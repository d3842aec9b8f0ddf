"""admin console mapping versions and job progress (issue 14)

Every version of a mapping file saved from the console (`mapping_versions`), and the polls and
full syncs started from it with the progress of each stream (`sync_jobs`, `sync_job_streams`).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mapping_versions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("reverts_to", sa.BigInteger(), nullable=True),
        sa.Column("saved_by", sa.String(length=100), nullable=False),
        sa.Column("saved_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mapping_versions", schema=None) as batch_op:
        batch_op.create_index("ix_mapping_versions_path", ["path", "id"], unique=False)
    op.create_table(
        "sync_jobs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("system", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_sync_jobs_system", ["system", "id"], unique=False)
    op.create_table(
        "sync_job_streams",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("stream", sa.String(length=60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("enqueued", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "stream"),
    )


def downgrade() -> None:
    op.drop_table("sync_job_streams")
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_jobs_system")
    op.drop_table("sync_jobs")
    with op.batch_alter_table("mapping_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_mapping_versions_path")
    op.drop_table("mapping_versions")
