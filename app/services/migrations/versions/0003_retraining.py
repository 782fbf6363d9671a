"""Retraining: the job queue, and model versions that are candidates, served, retired or discarded.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from app.services.store import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_VERSION_COLUMNS = ("parent_id", "job_id", "evaluation", "promoted_at", "promoted_by", "replaced_id")


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): model_versions is referenced by suggestion runs.
    op.add_column(
        "model_versions", sa.Column("status", sa.String(20), nullable=False, server_default="retired")
    )
    op.add_column("model_versions", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.add_column("model_versions", sa.Column("job_id", sa.Integer(), nullable=True))
    op.add_column("model_versions", sa.Column("evaluation", sa.JSON(), nullable=True))
    op.add_column("model_versions", sa.Column("promoted_at", UTCDateTime(), nullable=True))
    op.add_column("model_versions", sa.Column("promoted_by", sa.String(200), nullable=True))
    op.add_column("model_versions", sa.Column("replaced_id", sa.Integer(), nullable=True))
    op.create_index("ix_model_versions_status", "model_versions", ["status"])
    op.create_table(
        "retrain_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("base_version_id", sa.Integer(), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_retrain_jobs_status", "retrain_jobs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_retrain_jobs_status", "retrain_jobs")
    op.drop_table("retrain_jobs")
    op.drop_index("ix_model_versions_status", "model_versions")
    with op.batch_alter_table("model_versions") as batch:
        for column in ("status", *_VERSION_COLUMNS):
            batch.drop_column(column)
