"""Real worker processes (`python -m app.worker`) running real fine-tunes from decisions stored through
the service layer, on a real SQLite file: the candidate learns the codes coders corrected, coders keep
saving meanwhile, two workers never share a job, promotion and rollback change the model the app serves,
and a worker killed with SIGKILL mid-job leaves the job failed and the served model as it was.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.services import decisions, jobs, model_registry, notes, suggestions
from app.services.db import DatabaseUnavailableError, make_engine, migrate, open_session
from app.services.store import Action, Decision, JobStatus, ModelStatus, ModelVersion
from plant_core.coder import Coder
from tests.app.people import ADMIN, as_coder
from tests.app.retraining_setup import (
    HIDDEN,
    base_without_hidden,  # noqa: F401 - a fixture
    corrected_training_notes,
    model_files_stamp,
    record_corrections,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"heldout_fraction": 0.2, "schedule": [["head", 6], ["lstm_top", 2]]}
JOB_TIMEOUT_S = 400


def start_worker(env: dict, log: Path, *args: str) -> subprocess.Popen:
    with open(log, "w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "app.worker", *args],
            cwd=REPO_ROOT,
            env={**os.environ, "OMP_NUM_THREADS": "1", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_for(predicate, timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def retraining(tmp_path_factory, base_without_hidden, corpus_dir, coder):  # noqa: F811
    """A database with 80 corrected notes served by the base model, and the environment of its workers."""
    root = tmp_path_factory.mktemp("retraining")
    db_url = f"sqlite:///{root / 'plant_coder.db'}"
    engine = make_engine(db_url)
    migrate(engine)
    base_version_id = record_corrections(
        engine, base_without_hidden, corrected_training_notes(corpus_dir, 80)
    )
    env = {
        "PLANT_CODER_DB_URL": db_url,
        "PLANT_CODER_MODELS_ROOT": str(root / "models"),
        "PLANT_CODER_PROGRESS_INTERVAL_S": "0",  # every step: as much write contention as a worker can make
        "PLANT_CODER_WORKER_HEARTBEAT_S": "0.5",
        "PLANT_CODER_JOB_STALE_S": "3",
    }
    yield {
        "engine": engine,
        "env": env,
        "root": root,
        "base_version_id": base_version_id,
        "base_dir": base_without_hidden,
    }
    engine.dispose()


@pytest.fixture(scope="module")
def finished_job(retraining, test_notes, coder):
    """One job run by two competing workers while a coder keeps deciding codes on other notes."""
    engine, root = retraining["engine"], retraining["root"]
    with open_session(engine) as session:
        job = jobs.create_job(session, ADMIN, retraining["base_version_id"], PARAMS)
        version = model_registry.active_version(session)
        pasted = []
        for record in test_notes[:4]:
            note = notes.create_pasted_note(session, ADMIN, record.text)
            run = suggestions.suggest_for_note(
                session, ADMIN, note, Coder.load(version.model_dir), version.id, top_k=6
            )
            pasted.append((note.id, [s.code for s in run.suggestions]))
    workers = [start_worker(retraining["env"], root / f"worker-{i}.log", "--once") for i in range(2)]
    saved, errors, rounds = 0, [], 0
    bob = as_coder("bob")
    with open_session(engine) as session:
        while any(w.poll() is None for w in workers):
            for note_id, codes in pasted:
                for code in codes:
                    action = Action.ACCEPTED if rounds % 2 == 0 else Action.REJECTED
                    try:
                        decisions.decide(session, bob, note_id, code, action, 1)
                        saved += 1
                    except DatabaseUnavailableError as e:  # what must never reach a coder
                        errors.append(e)
            rounds += 1
    for worker in workers:
        worker.wait(timeout=JOB_TIMEOUT_S)
    logs = [(root / f"worker-{i}.log").read_text() for i in range(2)]
    with open_session(engine) as session:
        decided = session.scalars(select(Decision).where(Decision.coder == "bob")).all()
    return {"job_id": job.id, "logs": logs, "saved": saved, "errors": errors, "decided": len(decided),
            "rounds": rounds, "returncodes": [w.returncode for w in workers]}  # fmt: skip


def test_a_worker_fine_tunes_from_stored_decisions_and_the_corrected_codes_improve(retraining, finished_job):
    assert finished_job["returncodes"] == [0, 0], finished_job["logs"]
    with open_session(retraining["engine"]) as session:
        job = jobs.get_job(session, ADMIN, finished_job["job_id"])
        assert job.status == JobStatus.SUCCEEDED, (job.error, finished_job["logs"])
        assert job.progress["fraction"] == 1.0
        steps = [p for p in job.history if p["kind"] == "step"]
        epochs = [p for p in job.history if p["kind"] == "epoch"]
        assert len(epochs) == 8 and len(steps) >= 8 and all("dev_p@5" in e for e in epochs)
        candidate = jobs.candidate_of(session, job.id)
        assert (
            candidate.status == ModelStatus.CANDIDATE and candidate.parent_id == retraining["base_version_id"]
        )
        assert model_registry.active_version(session).id == retraining["base_version_id"]  # not served yet
    evaluation = candidate.evaluation
    assert set(HIDDEN) <= set(evaluation["counts"]["corrected_codes"])
    assert set(HIDDEN) <= set(Coder.load(candidate.model_dir).labels_)  # added to the label space
    test = evaluation["test"]["corrected"]
    assert test["candidate"]["micro_f1"] > test["base"]["micro_f1"], test
    heldout = evaluation["heldout"]["corrected"]
    assert heldout["candidate"]["micro_f1"] > heldout["base"]["micro_f1"], heldout
    assert Path(candidate.model_dir).parent == retraining["root"] / "models"
    assert not (retraining["root"] / "models" / ".work" / f"job-{job.id}").exists()  # cleaned up


def test_coders_saved_every_decision_while_the_job_ran(finished_job):
    assert finished_job["rounds"] >= 2, "the coder was not deciding while the job ran"
    assert finished_job["errors"] == []
    assert finished_job["decided"] == finished_job["saved"] > 0


def test_two_workers_never_run_the_same_job(finished_job):
    claimed = [log for log in finished_job["logs"] if f"job {finished_job['job_id']} claimed" in log]
    assert len(claimed) == 1, finished_job["logs"]


def test_promotion_and_rollback_change_the_coder_the_app_serves(retraining, finished_job, monkeypatch):
    from app import resources

    monkeypatch.setenv("PLANT_CODER_DB_URL", retraining["env"]["PLANT_CODER_DB_URL"])
    monkeypatch.setenv("PLANT_CODER_MODEL_DIR", str(retraining["base_dir"]))
    monkeypatch.setenv("PLANT_CODER_DEMO_NOTES", str(retraining["root"] / "no-demo-notes.jsonl"))
    engine = retraining["engine"]
    with open_session(engine) as session:
        candidate = jobs.candidate_of(session, finished_job["job_id"])
    served_before = resources.model()
    assert served_before.model_version_id == retraining["base_version_id"]
    assert not set(HIDDEN) & set(served_before.coder.labels_)

    with open_session(engine) as session:
        model_registry.promote(session, ADMIN, candidate.id)
    served = resources.model()
    assert (served.model_version_id, served.version) == (candidate.id, candidate.version)
    assert set(HIDDEN) <= set(served.coder.labels_)

    with open_session(engine) as session:
        model_registry.rollback(session, ADMIN)
    assert resources.model().model_version_id == retraining["base_version_id"]


def test_a_worker_killed_mid_job_leaves_it_failed_and_the_served_model_untouched(retraining, finished_job):
    engine, root = retraining["engine"], retraining["root"]
    with open_session(engine) as session:
        served = model_registry.active_version(session)
        versions_before = len(session.scalars(select(ModelVersion)).all())
        job = jobs.create_job(session, ADMIN, served.id, {**PARAMS, "schedule": [["head", 200]]})
    served_files = model_files_stamp(served.model_dir)
    worker = start_worker(retraining["env"], root / "killed.log")

    def training_started():
        with open_session(engine) as session:
            return jobs.get_job(session, ADMIN, job.id).progress.get("step")

    try:
        wait_for(training_started, JOB_TIMEOUT_S, "training steps")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    with open_session(engine) as session:
        assert jobs.get_job(session, ADMIN, job.id).status == JobStatus.RUNNING  # nobody told the database

    # The next worker to start notices the silent job (stale after 3 s here) and marks it failed.
    time.sleep(3.5)
    next_worker = start_worker(retraining["env"], root / "next.log", "--once")
    assert next_worker.wait(timeout=120) == 0
    with open_session(engine) as session:
        failed = jobs.get_job(session, ADMIN, job.id)
        assert failed.status == JobStatus.FAILED and "heartbeat" in failed.error
        assert model_registry.active_version(session).id == served.id
        assert len(session.scalars(select(ModelVersion)).all()) == versions_before
    assert model_files_stamp(served.model_dir) == served_files
    assert not [
        p for p in (root / "models").glob("candidate-*") if p.name.startswith(f"candidate-job{job.id}-")
    ]


def test_a_worker_stopped_with_sigterm_requeues_its_job_and_the_next_one_resumes_it(retraining, finished_job):
    engine, root = retraining["engine"], retraining["root"]
    with open_session(engine) as session:
        served = model_registry.active_version(session)
        job = jobs.create_job(session, ADMIN, served.id, {**PARAMS, "schedule": [["head", 40]]})
    worker = start_worker(retraining["env"], root / "stopped.log")

    def third_epoch_running():
        with open_session(engine) as session:
            return (jobs.get_job(session, ADMIN, job.id).progress.get("epoch") or 0) >= 3

    try:
        wait_for(third_epoch_running, JOB_TIMEOUT_S, "the third epoch", poll_s=0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    with open_session(engine) as session:
        requeued = jobs.get_job(session, ADMIN, job.id)
        assert (requeued.status, requeued.worker) == (JobStatus.QUEUED, None)

    next_worker = start_worker(retraining["env"], root / "resumed.log", "--once")
    assert next_worker.wait(timeout=JOB_TIMEOUT_S) == 0
    with open_session(engine) as session:
        done = jobs.get_job(session, ADMIN, job.id)
        assert done.status == JobStatus.SUCCEEDED, done.error
        assert jobs.candidate_of(session, job.id) is not None
    epochs = [p["epoch"] for p in done.history if p["kind"] == "epoch"]
    assert epochs == sorted(set(epochs)) and epochs[-1] == 40  # continued from its checkpoint, not from 1


def test_cancelling_a_running_job_stops_its_worker_and_leaves_no_candidate(retraining, finished_job):
    engine, root = retraining["engine"], retraining["root"]
    with open_session(engine) as session:
        served = model_registry.active_version(session)
        job = jobs.create_job(session, ADMIN, served.id, {**PARAMS, "schedule": [["head", 200]]})
    worker = start_worker(retraining["env"], root / "cancelled.log", "--once")

    def training_started():
        with open_session(engine) as session:
            return jobs.get_job(session, ADMIN, job.id).progress.get("step")

    try:
        wait_for(training_started, JOB_TIMEOUT_S, "training steps")
        with open_session(engine) as session:
            jobs.cancel_job(session, ADMIN, job.id)
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    with open_session(engine) as session:
        cancelled = jobs.get_job(session, ADMIN, job.id)
        assert cancelled.status == JobStatus.CANCELLED and cancelled.progress["epoch"] < 200
        assert jobs.candidate_of(session, job.id) is None
        assert model_registry.active_version(session).id == served.id
    assert not list((root / "models").glob(f"candidate-job{job.id}-*"))
    assert not (root / "models" / ".work" / f"job-{job.id}").exists()
