"""The retraining worker: claims queued retraining jobs and runs each fine-tune in its own process.

`python -m app.worker`; `make run` (app.serve) starts it beside the app. Jobs never run inside a
Streamlit script run.

For each job it snapshots the corrections, fine-tunes the served version on them (plant_core.finetune),
scores base and candidate before/after, and registers the candidate for an admin to promote or discard.
A heartbeat thread keeps the job alive in the database while training runs; progress and the loss curve
are written at most once per `progress_interval_s`. SIGTERM / Ctrl-C hands the running job back to the
queue (the next worker resumes it from its last epoch checkpoint); SIGKILL leaves it to the stale-job
check, which marks it failed. The served model is never written: candidates go to new folders.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from app.config import RetrainConfig, load_config, load_retrain_config
from app.services import corrections, jobs, model_registry
from app.services.auth import CurrentUser, Role
from app.services.db import DatabaseUnavailableError, make_engine, migrate, open_session
from app.services.store import JobStatus, RetrainJob

log = logging.getLogger("plant_coder.worker")

DEFAULT_PARAMS = {"heldout_fraction": 0.2, "schedule": [["head", 6], ["lstm_top", 2]],
                  "new_code_attention": "planted", "seed": 0}  # fmt: skip


class JobCancelledError(Exception):
    """An admin cancelled the running job."""


class WorkerStoppingError(Exception):
    """The worker was asked to stop (SIGTERM, Ctrl-C): the job goes back to the queue."""


class Heartbeat:
    """A thread that writes the job's heartbeat every `every_s` seconds, even while one training step
    takes longer than that, and notices cancellation and a lost job in the meantime."""

    def __init__(self, engine: Engine, job_id: int, worker: str, every_s: float):
        self.engine, self.job_id, self.worker, self.every_s = engine, job_id, worker, every_s
        self.cancel_requested = False
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-job-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                with open_session(self.engine) as session:
                    self.cancel_requested = jobs.heartbeat(session, self.job_id, self.worker)
            except jobs.JobLostError:
                self.lost = True
                return
            except DatabaseUnavailableError as e:  # busy for a moment: the next beat tries again
                log.warning("heartbeat of job %s not written: %s", self.job_id, e)


class ProgressWriter:
    """The fine-tune's `on_progress`: keeps the job's progress and loss curve in the database, and stops
    the fine-tune (by raising) when the job is cancelled, lost, or the worker is stopping."""

    def __init__(self, engine: Engine, job_id: int, worker: str, interval_s: float, heartbeat: Heartbeat,
                 stopping: threading.Event):  # fmt: skip
        self.engine, self.job_id, self.worker, self.interval_s = engine, job_id, worker, interval_s
        self.heartbeat, self.stopping = heartbeat, stopping
        self.progress: dict = {"phase": "starting", "fraction": 0.0}
        self.pending: list[dict] = []
        self.steps_done = 0
        self.last_write = 0.0

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "phase":
            self.progress.update({k: v for k, v in event.items() if k != "event"})
        elif kind == "step":
            self.steps_done += 1
            epochs, steps = event["epochs"], max(1, event["steps"])
            fraction = ((event["epoch"] - 1) + event["step"] / steps) / max(1, epochs)
            self.progress.update(phase="training", epoch=event["epoch"], epochs=epochs, step=event["step"],
                                 steps=steps, stage=event["stage"], loss=event["loss"], fraction=fraction)  # fmt: skip
            self.pending.append(
                {"kind": "step", "step": self.steps_done, "epoch": event["epoch"], "loss": event["loss"]}
            )
        elif kind == "epoch":
            record = {k: v for k, v in event.items() if k not in ("event", "epochs")}
            self.pending.append({"kind": "epoch", "step": self.steps_done, **record})
            self.progress["dev"] = {k: v for k, v in record.items() if k.startswith("dev_")}
        if kind != "step" or time.monotonic() - self.last_write >= self.interval_s:
            self.flush()
        self.check()

    def flush(self) -> None:
        try:
            with open_session(self.engine) as session:
                cancel = jobs.record_progress(session, self.job_id, self.worker, self.progress, self.pending)
        except DatabaseUnavailableError as e:  # keep the points; the next write carries them
            log.warning("progress of job %s not written: %s", self.job_id, e)
            return
        self.pending = []
        self.last_write = time.monotonic()
        self.heartbeat.cancel_requested = self.heartbeat.cancel_requested or cancel

    def phase(self, name: str) -> None:
        self({"event": "phase", "phase": name})

    def check(self) -> None:
        if self.heartbeat.lost:
            raise jobs.JobLostError(f"retraining job {self.job_id} is no longer run by {self.worker}")
        if self.heartbeat.cancel_requested:
            raise JobCancelledError
        if self.stopping.is_set():
            raise WorkerStoppingError


def finetune_settings(params: dict):
    from plant_core.finetune import FinetuneConfig

    merged = {**DEFAULT_PARAMS, **params}
    return FinetuneConfig(
        schedule=[tuple(stage) for stage in merged["schedule"]],
        new_code_attention=merged["new_code_attention"],
        seed=int(merged["seed"]),
    )


def run_job(
    engine: Engine, job_id: int, worker: str, settings: RetrainConfig, stopping: threading.Event
) -> str:
    """Runs one claimed job to its end; returns the status it ended with."""
    from plant_core.corpus.records import iter_jsonl, write_jsonl
    from plant_core.dataset import load_dataset
    from plant_core.finetune import before_after, finetune, split_heldout

    work_dir = settings.models_root / ".work" / f"job-{job_id}"
    out_dir: Path | None = None
    with Heartbeat(engine, job_id, worker, settings.heartbeat_s) as heartbeat:
        progress = ProgressWriter(engine, job_id, worker, settings.progress_interval_s, heartbeat, stopping)
        try:
            with open_session(engine) as session:
                job: RetrainJob = jobs.stored_job(session, job_id)
                base = job.base_version
                params = {**DEFAULT_PARAMS, **job.params}
                snapshot = work_dir / "corrections.jsonl"
                if not snapshot.is_file():  # a resumed job trains on the notes it started with
                    collected = corrections.collect(session, CurrentUser(job.created_by, Role.ADMIN))
                    work_dir.mkdir(parents=True, exist_ok=True)
                    write_jsonl(collected.notes, snapshot)
                    (work_dir / "corrected_codes.txt").write_text("\n".join(collected.corrected_codes))
            notes = list(iter_jsonl(snapshot))
            corrected_codes = (work_dir / "corrected_codes.txt").read_text().split()
            train_notes, heldout = split_heldout(
                notes, float(params["heldout_fraction"]), int(params["seed"])
            )
            if not train_notes or not heldout:
                raise ValueError(f"{len(notes)} submitted note(s) are too few: fine-tuning needs at least 2")
            base_data = _base_corpus(base.info.get("data", {}).get("dir"), load_dataset)
            used = {note.id for note in notes}
            test_notes = [
                n for n in base_data.get("test", []) if n.id not in used
            ]  # never score on training notes
            progress(
                {"event": "phase", "phase": "fine-tuning", "notes": len(train_notes), "heldout": len(heldout)}
            )
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            out_dir = settings.models_root / f"candidate-job{job_id}-{stamp}"
            finetune(
                base.model_dir, train_notes, heldout, out_dir, finetune_settings(params),
                background_notes=base_data.get("train", []), work_dir=work_dir,
                resume=(work_dir / "stages" / "classifier_last.pt").is_file(), on_progress=progress,
            )  # fmt: skip
            progress.phase("evaluating")
            evaluation = before_after(
                base.model_dir, out_dir, {"heldout": heldout, "test": test_notes}, corrected_codes
            )
            evaluation["counts"] = {"finetune_notes": len(train_notes), "heldout_notes": len(heldout),
                                    "test_notes": len(test_notes), "corrected_codes": corrected_codes}  # fmt: skip
            progress.check()
            from plant_core.coder import Coder

            info = Coder.load(out_dir).info()
            with open_session(engine) as session:
                model_registry.add_candidate(session, info, str(out_dir), base.id, job_id, evaluation)
            progress.flush()
            with open_session(engine) as session:
                jobs.finish_job(session, job_id, worker, JobStatus.SUCCEEDED)
            shutil.rmtree(work_dir, ignore_errors=True)
            return JobStatus.SUCCEEDED
        except JobCancelledError:
            _discard(out_dir)
            shutil.rmtree(work_dir, ignore_errors=True)
            return _finish(engine, job_id, worker, JobStatus.CANCELLED, "Cancelled by an admin.")
        except WorkerStoppingError:
            with open_session(engine) as session:
                jobs.requeue_job(session, job_id, worker)
            return JobStatus.QUEUED
        except jobs.JobLostError:
            _discard(out_dir)
            return "lost"
        except Exception as e:  # noqa: BLE001 - any failure of a job is reported on the job, not raised
            log.exception("job %s failed", job_id)
            _discard(out_dir)
            return _finish(engine, job_id, worker, JobStatus.FAILED, f"{type(e).__name__}: {e}")


def _base_corpus(data_dir: str | None, load_dataset) -> dict:
    """The base model's corpus (its training notes sharpen new codes' MI; its test split scores before
    and after), when it is still on disk."""
    if not data_dir or not Path(data_dir).is_dir():
        return {}
    try:
        return load_dataset(data_dir)
    except (ValueError, OSError) as e:
        log.warning("the base model's corpus %s cannot be read (%s); going on without it", data_dir, e)
        return {}


def _discard(out_dir: Path | None) -> None:
    """A candidate folder no version row points to (the job ended before registering it) goes."""
    if out_dir is not None and out_dir.exists():
        shutil.rmtree(out_dir, ignore_errors=True)


def _finish(engine: Engine, job_id: int, worker: str, status: JobStatus, error: str) -> str:
    try:
        with open_session(engine) as session:
            jobs.finish_job(session, job_id, worker, status, error)
    except jobs.JobLostError:
        return "lost"
    return status


def serve(once: bool = False, poll_s: float = 2.0) -> int:
    """Runs jobs until stopped; with `once`, exits after one job or when the queue is empty."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    os.environ.setdefault("PLANT_NO_PROGRESS", "1")  # progress goes to the database, not a terminal
    settings = load_retrain_config()
    engine = make_engine(load_config().db_url)
    migrate(engine)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    log.info("worker %s started; models go to %s", worker, settings.models_root)
    while not stopping.is_set():
        with open_session(engine) as session:
            for job_id in jobs.fail_stale_jobs(session, settings.stale_after_s):
                log.warning("job %s had no heartbeat for %s s: marked failed", job_id, settings.stale_after_s)
            job = jobs.claim_next(session, worker)
        if job is not None:
            log.info("job %s claimed", job.id)
            status = run_job(engine, job.id, worker, settings, stopping)
            log.info("job %s ended: %s", job.id, status)
        if once:
            break
        if job is None:
            stopping.wait(poll_s)
    engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="run at most one job, then exit")
    parser.add_argument("--poll-s", type=float, default=2.0, help="seconds between looks at an empty queue")
    args = parser.parse_args(argv)
    return serve(once=args.once, poll_s=args.poll_s)


if __name__ == "__main__":
    raise SystemExit(main())
