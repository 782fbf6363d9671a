"""The retraining queue and the model registry on a real database (SQLite file and PostgreSQL): only
admins queue, cancel, promote and roll back; a claim is atomic under concurrent workers; progress writes
leave coders' saves alone; a job whose heartbeat stopped is failed and its worker can no longer write;
promotion and rollback move which version is active.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.services import audit, decisions, jobs, model_registry, notes, suggestions
from app.services.auth import PermissionDeniedError
from app.services.db import open_session
from app.services.store import Action, AuditEvent, Decision, JobStatus, ModelStatus, RetrainJob, utc_now
from tests.app.people import ADMIN, as_coder

PARAMS = {"heldout_fraction": 0.2, "schedule": [["head", 1]]}


def queue_raw_jobs(engine, base_version_id: int, count: int) -> list[int]:
    """Queued jobs inserted directly (create_job allows one unfinished job at a time)."""
    with open_session(engine) as session:
        rows = [RetrainJob(created_by="admin", params=PARAMS, base_version_id=base_version_id, progress={}, history=[])
                for _ in range(count)]  # fmt: skip
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def test_only_admins_queue_jobs_and_one_at_a_time(session, model_version_id):
    with pytest.raises(PermissionDeniedError):
        jobs.create_job(session, as_coder("alice"), model_version_id, PARAMS)
    job = jobs.create_job(session, ADMIN, model_version_id, PARAMS)
    assert (job.status, job.created_by, job.params) == (JobStatus.QUEUED, "admin", PARAMS)
    with pytest.raises(jobs.JobStateError, match="still queued or running"):
        jobs.create_job(session, ADMIN, model_version_id, PARAMS)
    actions = [e.action for e in audit.events(session, ADMIN)]
    assert audit.AuditAction.RETRAINED in actions


def test_concurrent_workers_never_claim_the_same_job(engine, model_version_id):
    job_ids = queue_raw_jobs(engine, model_version_id, 12)
    claims: dict[str, list[int]] = {}
    errors = []

    def work(worker: str) -> None:
        try:
            with open_session(engine) as session:
                while (job := jobs.claim_next(session, worker)) is not None:
                    claims.setdefault(worker, []).append(job.id)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    claimed = [job_id for ids in claims.values() for job_id in ids]
    assert sorted(claimed) == job_ids  # every job once, none twice
    with open_session(engine) as session:
        rows = session.scalars(select(RetrainJob)).all()
        assert {row.status for row in rows} == {JobStatus.RUNNING}
        assert {row.id: row.worker for row in rows} == {i: w for w, ids in claims.items() for i in ids}


def test_progress_and_heartbeat_are_written_only_by_the_owning_worker(session, engine, model_version_id):
    job = jobs.create_job(session, ADMIN, model_version_id, PARAMS)
    assert jobs.claim_next(session, "w1").id == job.id
    assert jobs.claim_next(session, "w2") is None
    points = [{"kind": "step", "step": 1, "loss": 0.5}, {"kind": "step", "step": 2, "loss": 0.4}]
    assert (
        jobs.record_progress(session, job.id, "w1", {"phase": "training", "fraction": 0.5}, points) is False
    )
    with pytest.raises(jobs.JobLostError):
        jobs.record_progress(session, job.id, "w2", {"fraction": 0.9})
    with pytest.raises(jobs.JobLostError):
        jobs.heartbeat(session, job.id, "w2")
    stored = jobs.get_job(session, ADMIN, job.id)
    assert stored.progress == {"phase": "training", "fraction": 0.5}
    assert [p["loss"] for p in stored.history] == [0.5, 0.4]


def test_cancel_stops_a_queued_job_at_once_and_asks_a_running_one_to_stop(session, engine, model_version_id):
    queued = jobs.create_job(session, ADMIN, model_version_id, PARAMS)
    with pytest.raises(PermissionDeniedError):
        jobs.cancel_job(session, as_coder("alice"), queued.id)
    assert jobs.cancel_job(session, ADMIN, queued.id).status == JobStatus.CANCELLED
    with pytest.raises(jobs.JobStateError, match="already cancelled"):
        jobs.cancel_job(session, ADMIN, queued.id)

    running = jobs.create_job(session, ADMIN, model_version_id, PARAMS)
    jobs.claim_next(session, "w1")
    assert jobs.cancel_job(session, ADMIN, running.id).status == JobStatus.RUNNING
    assert jobs.heartbeat(session, running.id, "w1") is True  # the worker sees the request
    jobs.finish_job(session, running.id, "w1", JobStatus.CANCELLED, "Cancelled by an admin.")
    assert jobs.get_job(session, ADMIN, running.id).status == JobStatus.CANCELLED


def test_a_job_whose_worker_went_silent_is_failed_and_its_worker_locked_out(session, model_version_id):
    job = jobs.create_job(session, ADMIN, model_version_id, PARAMS)
    jobs.claim_next(session, "w1")
    assert jobs.fail_stale_jobs(session, stale_after_s=60) == []  # its heartbeat is fresh
    later = utc_now() + timedelta(seconds=61)
    assert jobs.fail_stale_jobs(session, stale_after_s=60, now=later) == [job.id]
    stored = jobs.get_job(session, ADMIN, job.id)
    assert stored.status == JobStatus.FAILED and "heartbeat" in stored.error
    with pytest.raises(jobs.JobLostError):
        jobs.record_progress(session, job.id, "w1", {"fraction": 0.7})
    with pytest.raises(jobs.JobLostError):
        jobs.finish_job(session, job.id, "w1", JobStatus.SUCCEEDED)
    assert jobs.get_job(session, ADMIN, job.id).status == JobStatus.FAILED


def test_coders_keep_saving_while_a_worker_writes_progress_as_fast_as_it_can(
    engine, coder, model_version_id, test_notes
):
    """The failure annotation tools with background trainers are known for: "database is locked" for the
    annotator while the trainer writes. Progress here is written in a tight loop, far more often than a
    worker does, while a coder decides codes on five notes."""
    with open_session(engine) as session:
        job = jobs.create_job(session, ADMIN, model_version_id, PARAMS)
        jobs.claim_next(session, "w1")
        pasted = []
        for record in test_notes[:5]:
            note = notes.create_pasted_note(session, ADMIN, record.text)
            run = suggestions.suggest_for_note(session, ADMIN, note, coder, model_version_id, top_k=8)
            pasted.append((note.id, [s.code for s in run.suggestions]))
    stop, writes, worker_errors = threading.Event(), [0], []

    def write_progress() -> None:
        with open_session(engine) as session:
            while not stop.is_set():
                try:
                    step = writes[0] + 1
                    jobs.record_progress(session, job.id, "w1", {"fraction": step / 1e6},
                                         [{"kind": "step", "step": step, "loss": 1 / step}])  # fmt: skip
                    writes[0] = step
                except Exception as e:  # noqa: BLE001 - reported below
                    worker_errors.append(e)

    writer = threading.Thread(target=write_progress)
    writer.start()
    alice = as_coder("alice")
    expected = 0
    started = time.monotonic()
    try:
        with open_session(engine) as session:
            for round_number in range(3):
                for note_id, codes in pasted:
                    for code in codes:
                        action = Action.ACCEPTED if round_number % 2 == 0 else Action.REJECTED
                        decisions.decide(session, alice, note_id, code, action, 1)
                        expected += 1
    finally:
        stop.set()
        writer.join()
    assert worker_errors == []
    assert writes[0] > 20, f"the writer wrote {writes[0]} times in {time.monotonic() - started:.1f} s"
    with open_session(engine) as session:
        assert len(session.scalars(select(Decision)).all()) == expected  # no decision lost
        assert jobs.get_job(session, ADMIN, job.id).history[-1]["step"] >= writes[0] - 1  # no write lost


def test_promotion_and_rollback_move_the_active_version(session, coder, model_dir):
    base = model_registry.serve_by_default(session, coder.info(), str(model_dir))
    assert model_registry.active_version(session).id == base.id
    assert model_registry.serve_by_default(session, {**coder.info(), "version": "other"}, "x").id == base.id
    job = jobs.create_job(session, ADMIN, base.id, PARAMS)
    evaluation = {"heldout": {"corrected": {"base": {"micro_f1": 0.1}, "candidate": {"micro_f1": 0.3}}}}
    candidate = model_registry.add_candidate(session, {**coder.info(), "version": "plant-ft-1"}, str(model_dir),
                                             base.id, job.id, evaluation)  # fmt: skip
    assert candidate.status == ModelStatus.CANDIDATE and jobs.candidate_of(session, job.id).id == candidate.id
    assert model_registry.active_version(session).id == base.id  # a candidate is not served
    with pytest.raises(PermissionDeniedError):
        model_registry.promote(session, as_coder("alice"), candidate.id)

    model_registry.promote(session, ADMIN, candidate.id)
    assert model_registry.active_version(session).id == candidate.id
    assert model_registry.rollback_target(session).id == base.id
    assert model_registry.get_version(session, base.id).status == ModelStatus.RETIRED

    with pytest.raises(PermissionDeniedError):
        model_registry.rollback(session, as_coder("alice"))
    assert model_registry.rollback(session, ADMIN).id == base.id
    assert model_registry.active_version(session).id == base.id
    assert model_registry.get_version(session, candidate.id).status == ModelStatus.RETIRED
    with pytest.raises(model_registry.VersionStateError, match="no earlier version"):
        model_registry.rollback(session, ADMIN)
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-2:] == [audit.AuditAction.PROMOTED, audit.AuditAction.ROLLED_BACK]


def test_a_discarded_candidate_can_never_be_promoted(session, coder, model_dir):
    base = model_registry.serve_by_default(session, coder.info(), str(model_dir))
    job = jobs.create_job(session, ADMIN, base.id, PARAMS)
    candidate = model_registry.add_candidate(session, {**coder.info(), "version": "plant-ft-2"}, str(model_dir),
                                             base.id, job.id, {})  # fmt: skip
    with pytest.raises(PermissionDeniedError):
        model_registry.discard(session, as_coder("alice"), candidate.id)
    assert model_registry.discard(session, ADMIN, candidate.id).status == ModelStatus.DISCARDED
    with pytest.raises(model_registry.VersionStateError):
        model_registry.promote(session, ADMIN, candidate.id)
    assert model_registry.active_version(session).id == base.id
