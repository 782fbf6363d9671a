"""The retraining job queue: admins queue and cancel jobs, `python -m app.worker` claims and runs them.

A job moves queued → running → succeeded | failed | cancelled. Claiming is one conditional UPDATE, so two
workers never run the same job. The worker writes progress and a heartbeat in short transactions of its
own (coders keep saving meanwhile); every write of a worker names the worker and is refused once the job
is no longer its own, and a running job whose heartbeat stopped (its worker died) is marked failed by
whoever looks next, worker or page, instead of staying "running" forever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.services import audit
from app.services.auth import CurrentUser, Role, require_role
from app.services.db import transactional
from app.services.store import JobStatus, ModelVersion, RetrainJob, utc_now

UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
HISTORY_LIMIT = 2000  # loss-curve points kept per job; beyond it every other point is dropped


class JobNotFoundError(LookupError):
    """No retraining job has this id."""


class JobStateError(RuntimeError):
    """The job is not in a state that allows this (e.g. cancelling a finished job)."""


class JobLostError(RuntimeError):
    """This worker no longer owns the job: it was marked failed (heartbeat too old) or cancelled."""


def get_job(session: Session, user: CurrentUser, job_id: int) -> RetrainJob:
    require_role(user, Role.ADMIN)
    return stored_job(session, job_id)


def stored_job(session: Session, job_id: int) -> RetrainJob:
    """The job, for the worker (which acts for the admin who queued it)."""
    job = session.get(RetrainJob, job_id, populate_existing=True)
    if job is None:
        raise JobNotFoundError(f"There is no retraining job {job_id}.")
    return job


def list_jobs(session: Session, user: CurrentUser, limit: int = 50) -> list[RetrainJob]:
    """The newest jobs first."""
    require_role(user, Role.ADMIN)
    return list(session.scalars(select(RetrainJob).order_by(RetrainJob.id.desc()).limit(limit)))


@transactional
def create_job(session: Session, user: CurrentUser, base_version_id: int, params: dict) -> RetrainJob:
    """Queues a fine-tune of `base_version_id` (the served version) with `params`; one job at a time."""
    require_role(user, Role.ADMIN)
    if session.get(ModelVersion, base_version_id) is None:
        raise JobStateError(f"There is no model version {base_version_id} to fine-tune.")
    busy = session.scalar(select(RetrainJob.id).where(RetrainJob.status.in_(UNFINISHED)).limit(1))
    if busy is not None:
        raise JobStateError(f"Retraining job {busy} is still queued or running; wait for it or cancel it.")
    job = RetrainJob(
        status=JobStatus.QUEUED,
        created_by=user.username,
        params=dict(params),
        base_version_id=base_version_id,
        progress={"phase": "queued", "fraction": 0.0},
        history=[],
    )
    session.add(job)
    session.flush()
    audit.record(
        session, user, audit.AuditAction.RETRAINED, f"retrain job {job.id}", {"queued": dict(params)}
    )
    return job


@transactional
def cancel_job(session: Session, user: CurrentUser, job_id: int) -> RetrainJob:
    """A queued job is cancelled at once; a running one is asked to stop (its worker does at the next step)."""
    require_role(user, Role.ADMIN)
    job = stored_job(session, job_id)
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at = JobStatus.CANCELLED, utc_now()
    elif job.status == JobStatus.RUNNING:
        job.cancel_requested = True
    else:
        raise JobStateError(f"Retraining job {job_id} has already {job.status}.")
    audit.record(session, user, "retrain cancelled", f"retrain job {job_id}", {"was": job.status})
    return job


# ---- the worker's side -------------------------------------------------------------------------------


@transactional
def claim_next(session: Session, worker: str) -> RetrainJob | None:
    """The oldest queued job, now running under `worker`; None when the queue is empty or another worker
    won the race. The WHERE on status makes the claim atomic on SQLite and PostgreSQL alike."""
    oldest = (
        select(RetrainJob.id).where(RetrainJob.status == JobStatus.QUEUED).order_by(RetrainJob.id).limit(1)
    )
    job_id = session.scalar(oldest)
    if job_id is None:
        return None
    now = utc_now()
    claimed = session.execute(
        update(RetrainJob)
        .where(RetrainJob.id == job_id, RetrainJob.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
            worker=worker,
            started_at=now,
            heartbeat_at=now,
            progress={"phase": "starting", "fraction": 0.0},
        )  # fmt: skip
    )
    if claimed.rowcount != 1:
        return None
    return stored_job(session, job_id)


def _owned(job_id: int, worker: str):
    return (RetrainJob.id == job_id, RetrainJob.worker == worker, RetrainJob.status == JobStatus.RUNNING)


@transactional
def heartbeat(session: Session, job_id: int, worker: str) -> bool:
    """Tells the world `worker` is alive; returns whether cancelling was asked for. Raises JobLostError."""
    done = session.execute(update(RetrainJob).where(*_owned(job_id, worker)).values(heartbeat_at=utc_now()))
    if done.rowcount != 1:
        raise JobLostError(f"retraining job {job_id} is no longer run by {worker}")
    return bool(session.scalar(select(RetrainJob.cancel_requested).where(RetrainJob.id == job_id)))


@transactional
def record_progress(
    session: Session, job_id: int, worker: str, progress: dict, new_points: list[dict] = ()
) -> bool:
    """Stores the job's latest progress and appends points to its loss curve (a heartbeat too); returns
    whether cancelling was asked for. Raises JobLostError when the job is no longer `worker`'s."""
    history = session.scalar(select(RetrainJob.history).where(*_owned(job_id, worker)))
    if history is None:
        raise JobLostError(f"retraining job {job_id} is no longer run by {worker}")
    history = list(history) + list(new_points)
    if len(history) > HISTORY_LIMIT:
        history = history[::2]
    done = session.execute(
        update(RetrainJob)
        .where(*_owned(job_id, worker))
        .values(progress=dict(progress), history=history, heartbeat_at=utc_now())
    )
    if done.rowcount != 1:
        raise JobLostError(f"retraining job {job_id} is no longer run by {worker}")
    return bool(session.scalar(select(RetrainJob.cancel_requested).where(RetrainJob.id == job_id)))


@transactional
def finish_job(
    session: Session, job_id: int, worker: str, status: JobStatus, error: str | None = None
) -> None:
    """Ends `worker`'s job as succeeded, failed or cancelled (a job it lost meanwhile stays as it is)."""
    if status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        raise ValueError(f"a job finishes as succeeded, failed or cancelled, not {status!r}")
    job = session.scalar(select(RetrainJob).where(*_owned(job_id, worker)))
    if job is None:
        raise JobLostError(f"retraining job {job_id} is no longer run by {worker}")
    job.status, job.finished_at, job.error = status, utc_now(), error
    job.progress = {
        **job.progress,
        "phase": str(status),
        **({"fraction": 1.0} if status == JobStatus.SUCCEEDED else {}),
    }


@transactional
def requeue_job(session: Session, job_id: int, worker: str) -> None:
    """Gives `worker`'s running job back to the queue (the worker is stopping); the next worker resumes
    it from its last epoch checkpoint."""
    session.execute(
        update(RetrainJob).where(*_owned(job_id, worker)).values(
            status=JobStatus.QUEUED, worker=None, progress={"phase": "queued again", "fraction": 0.0})
    )  # fmt: skip


@transactional
def fail_stale_jobs(session: Session, stale_after_s: float, now: datetime | None = None) -> list[int]:
    """Marks failed every running job whose worker sent no heartbeat for `stale_after_s` seconds (it was
    killed, or its machine went away); returns their ids. The served model is never touched by a job."""
    cutoff = (now or utc_now()) - timedelta(seconds=stale_after_s)
    stale = list(
        session.scalars(
            select(RetrainJob.id).where(
                RetrainJob.status == JobStatus.RUNNING, RetrainJob.heartbeat_at < cutoff
            )
        )
    )
    for job_id in stale:
        session.execute(
            update(RetrainJob)
            .where(RetrainJob.id == job_id, RetrainJob.status == JobStatus.RUNNING, RetrainJob.heartbeat_at < cutoff)
            .values(status=JobStatus.FAILED, finished_at=utc_now(),
                    error=f"Its worker stopped answering (no heartbeat for {stale_after_s:g} s): it was killed "
                          "or its machine went away. Nothing was promoted; queue the job again.")
        )  # fmt: skip
    return stale


def candidate_of(session: Session, job_id: int) -> ModelVersion | None:
    """The model version a succeeded job produced (whatever became of it since)."""
    return session.scalar(select(ModelVersion).where(ModelVersion.job_id == job_id))
