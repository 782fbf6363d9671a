"""The app's tables as typed SQLAlchemy 2.0 ORM models; the schema itself is made by alembic.

Decisions are append-only: a note's current codes are the newest decision per code, so every click
a coder ever made stays in the table (who, when, which revision, which model suggested it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them without a zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("store datetimes with a timezone (datetime.now(UTC))")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utc_now() -> datetime:
    return datetime.now(UTC)


class NoteStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in progress"
    SUBMITTED = "submitted"


class Action(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ADDED = "added"


class Base(DeclarativeBase):
    pass


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(200), unique=True)
    system: Mapped[str] = mapped_column(String(50))
    model_dir: Mapped[str] = mapped_column(String(1000))
    threshold: Mapped[float] = mapped_column(Float)
    info: Mapped[dict] = mapped_column(JSON)  # Coder.info(): metrics, config, created_at
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # Retraining (app.services.model_registry): which version the app serves, and where each came from.
    status: Mapped[str] = mapped_column(String(20), default="retired", server_default="retired", index=True)
    parent_id: Mapped[int | None] = mapped_column(Integer)  # the version it was fine-tuned from
    job_id: Mapped[int | None] = mapped_column(Integer)  # the retraining job that made it
    evaluation: Mapped[dict | None] = mapped_column(JSON)  # before/after figures of its job
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    promoted_by: Mapped[str | None] = mapped_column(String(200))
    replaced_id: Mapped[int | None] = mapped_column(Integer)  # the version it replaced: a rollback returns there


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    subject_id: Mapped[str | None] = mapped_column(String(100))
    hadm_id: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(500))
    # Codes that came with an imported note (e.g. a corpus's gold codes); never shown as decisions.
    imported_codes: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=NoteStatus.NEW, index=True)
    assignee: Mapped[str | None] = mapped_column(String(200), index=True)
    # The revision decisions are being recorded for; submitting closes it, revising opens the next.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    submitted_revision: Mapped[int | None] = mapped_column(Integer)
    # Optimistic lock: bumped on every change, so a submission made from a stale page is refused.
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)

    __mapper_args__ = {"version_id_col": lock_version}


class SuggestionRun(Base):
    """One model version applied to one note: its ranked suggestions and the token spans they tint."""

    __tablename__ = "suggestion_runs"
    __table_args__ = (UniqueConstraint("note_id", "model_version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    # int32 (tokens, 2) character spans into the note, as bytes: attention rows index these tokens.
    token_offsets: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    model_version: Mapped[ModelVersion] = relationship(lazy="joined")
    suggestions: Mapped[list[Suggestion]] = relationship(
        back_populates="run", order_by="Suggestion.rank", cascade="all, delete-orphan"
    )


class Suggestion(Base):
    __tablename__ = "suggestions"
    __table_args__ = (UniqueConstraint("run_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("suggestion_runs.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(500))
    probability: Mapped[float] = mapped_column(Float)
    predicted: Mapped[bool]  # above the model's threshold: preselected in the review list
    # The model's top evidence phrases: [{"start", "end", "text", "weight"}, ...]
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    # uint8 attention per token (weight * 255), aligned with the run's token_offsets.
    token_weights: Mapped[bytes] = mapped_column(LargeBinary)

    run: Mapped[SuggestionRun] = relationship(back_populates="suggestions")


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    coder: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # The suggestion decided on; None for a code the coder added without one.
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("suggestions.id", ondelete="SET NULL"))
    # Character spans the coder marked as evidence for an added code: [[start, end], ...]
    evidence_spans: Mapped[list] = mapped_column(JSON, default=list)

    suggestion: Mapped[Suggestion | None] = relationship(lazy="joined")


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("note_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    coder: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class User(Base):
    """An account: only an argon2 hash of the password is stored (app.services.accounts)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # auth.Role value
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class SignInAttempt(Base):
    """Every sign-in try, known user or not: the lock-out counts the failures since the last success."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(200), index=True)
    succeeded: Mapped[bool]
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class AuditEvent(Base):
    """Who viewed or changed what, when. Append-only: the database's triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)
    username: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(50), index=True)  # audit.AuditAction value
    target: Mapped[str] = mapped_column(String(500))  # e.g. "note 12", "user bob", "export csv"
    detail: Mapped[dict | None] = mapped_column(JSON)


class Draft(Base):
    """Unsaved input (a pasted note, a half-typed search) kept when an idle session is signed out."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("username", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))  # the widget key the text came from
    content: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ModelStatus(StrEnum):
    CANDIDATE = "candidate"  # made by a retraining job, waiting for an admin's decision
    ACTIVE = "active"  # the one the app serves
    RETIRED = "retired"  # served once, or only registered
    DISCARDED = "discarded"  # a candidate the admin turned down


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RetrainJob(Base):
    """A fine-tune of the served model on the coders' corrections, run by `python -m app.worker`.

    The worker writes progress and a heartbeat in short transactions; a job whose heartbeat stops is
    marked failed by whoever looks next (app.services.jobs.fail_stale_jobs)."""

    __tablename__ = "retrain_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED, index=True)
    created_by: Mapped[str] = mapped_column(String(200))  # username; no foreign key, accounts may go
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # fine-tune settings chosen by the admin
    base_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    worker: Mapped[str | None] = mapped_column(String(200))  # host:pid of the worker that claimed it
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # {"phase", "epoch", "epochs", "step", "steps", "fraction", "notes", ...}: the latest state
    progress: Mapped[dict] = mapped_column(JSON, default=dict)
    # [{"epoch", "step", "loss"} per step; {"epoch", "dev_p@5", ...} per epoch]: the loss curve
    history: Mapped[list] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)

    base_version: Mapped[ModelVersion] = relationship(lazy="joined", foreign_keys=[base_version_id])
