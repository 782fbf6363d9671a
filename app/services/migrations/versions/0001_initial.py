"""Initial schema: notes, model versions, suggestion runs and suggestions, decisions, submissions.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

import sqlalchemy as sa
from alembic import op

from app.services.store import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.String(200), nullable=False, unique=True),
        sa.Column("system", sa.String(50), nullable=False),
        sa.Column("model_dir", sa.String(1000), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("external_id", sa.String(200), nullable=False, unique=True),
        sa.Column("subject_id", sa.String(100), nullable=True),
        sa.Column("hadm_id", sa.String(100), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("imported_codes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("submitted_revision", sa.Integer(), nullable=True),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_notes_status", "notes", ["status"])
    op.create_index("ix_notes_assignee", "notes", ["assignee"])
    op.create_table(
        "suggestion_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("note_id", sa.Integer(), sa.ForeignKey("notes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model_version_id", sa.Integer(), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("token_offsets", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("note_id", "model_version_id"),
    )
    op.create_index("ix_suggestion_runs_note_id", "suggestion_runs", ["note_id"])
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("suggestion_runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("predicted", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("token_weights", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("run_id", "code"),
    )
    op.create_index("ix_suggestions_run_id", "suggestions", ["run_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("note_id", sa.Integer(), sa.ForeignKey("notes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("coder", sa.String(200), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column(
            "suggestion_id", sa.Integer(), sa.ForeignKey("suggestions.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("evidence_spans", sa.JSON(), nullable=False),
    )
    op.create_index("ix_decisions_note_id", "decisions", ["note_id"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("note_id", sa.Integer(), sa.ForeignKey("notes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("coder", sa.String(200), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("note_id", "revision"),
    )
    op.create_index("ix_submissions_note_id", "submissions", ["note_id"])


def downgrade() -> None:
    for table in ("submissions", "decisions", "suggestions", "suggestion_runs", "notes", "model_versions"):
        op.drop_table(table)
