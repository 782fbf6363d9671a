"""N simulated coders clicking for a fixed time against SQLite and PostgreSQL: decisions per second, p50
and p99 latency of a click, errors, and whether every acknowledged decision is in the database after.

Each coder is a thread with its own database sessions, as each browser tab is in the app; it opens a
note (an audited view), then adds, accepts and rejects codes on it as fast as it can, and one click in
five goes to a note that every coder shares, so that coders collide on the same note all the time.

    python -m bench.bench_stress [--coders 8] [--seconds 20] [--backends sqlite,postgresql]

PostgreSQL comes from `--pg-url`, or a throw-away cluster is started (Debian's postgresql, as in the tests).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select

from app.services import decisions, notes
from app.services.auth import CurrentUser, Role
from app.services.db import make_engine, migrate, open_session
from app.services.store import Action, Decision
from bench import RESULTS_DIR
from plant_core.corpus.records import Note as CorpusNote

RESULTS = RESULTS_DIR / "stress.json"
ADMIN = CurrentUser("bench-admin", Role.ADMIN)
CODES = ["I10", "E78.5", "E11.9", "N17.9", "J44.9", "I50.9", "K21.9", "F32.9"]
SHARED_NOTE_SHARE = 0.2


@dataclass
class CoderLog:
    latencies_s: list[float] = field(default_factory=list)
    acknowledged: list[tuple[int, int, str, str, str]] = field(
        default_factory=list
    )  # id, note, code, action, coder
    errors: list[str] = field(default_factory=list)


def prepare(engine: Engine, coders: int) -> tuple[list[int], int]:
    """One note per coder and one that all share, unassigned, so every coder may open every note."""
    records = [
        CorpusNote(id=f"stress-{i}", text=f"Note {i}: pt with HTN, HLD, DM2, CKD.", codes=[])
        for i in range(coders + 1)
    ]
    with open_session(engine) as session:
        notes.import_notes(session, ADMIN, records, source="bench_stress")
        ids = [notes.find_note(session, ADMIN, r.id).id for r in records]
    return ids[:-1], ids[-1]


def coder_loop(
    engine: Engine, user: CurrentUser, own: int, shared: int, stop: threading.Event, log: CoderLog
) -> None:
    rng = random.Random(user.username)
    with open_session(engine) as session:
        notes.view_note(session, user, own)
        notes.view_note(session, user, shared)
    while not stop.is_set():
        note_id = shared if rng.random() < SHARED_NOTE_SHARE else own
        code = rng.choice(CODES)
        started = time.perf_counter()
        try:
            with open_session(engine) as session:
                if rng.random() < 0.5:
                    decision = decisions.add_code(session, user, note_id, code, 1)
                else:
                    known = decisions.latest_decisions(session, user, note_id, 1)
                    if code not in known:
                        decision = decisions.add_code(session, user, note_id, code, 1)
                    else:
                        action = rng.choice([Action.ACCEPTED, Action.REJECTED])
                        decision = decisions.decide(session, user, note_id, code, action, 1)
            log.acknowledged.append(
                (decision.id, note_id, decision.code, str(decision.action), user.username)
            )
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            log.errors.append(f"{type(e).__name__}: {e}"[:200])
        log.latencies_s.append(time.perf_counter() - started)


def run_backend(url: str, coders: int, seconds: float) -> dict:
    engine = make_engine(url)
    migrate(engine)
    own, shared = prepare(engine, coders)
    stop = threading.Event()
    logs = [CoderLog() for _ in range(coders)]
    threads = [
        threading.Thread(
            target=coder_loop,
            args=(engine, CurrentUser(f"coder{i}", Role.CODER), own[i], shared, stop, logs[i]),
        )
        for i in range(coders)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    acknowledged = [row for log in logs for row in log.acknowledged]
    latencies = sorted(latency for log in logs for latency in log.latencies_s)
    errors = [error for log in logs for error in log.errors]
    with open_session(engine) as session:
        stored = (
            {
                (d.id, d.note_id, d.code, str(d.action), d.coder)
                for d in session.scalars(
                    select(Decision).where(Decision.id.in_([row[0] for row in acknowledged]))
                )
            }
            if acknowledged
            else set()
        )
    engine.dispose()
    missing = [row for row in acknowledged if row not in stored]
    return {
        "coders": coders,
        "seconds": round(elapsed, 1),
        "decisions": len(acknowledged),
        "decisions_per_s": round(len(acknowledged) / elapsed, 1),
        "latency_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "latency_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "acknowledged_missing_after": len(missing),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coders", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-url", default=None, help="a PostgreSQL database to use (emptied schema not needed)"
    )
    args = parser.parse_args()
    results: dict = {"coders": args.coders, "seconds": args.seconds, "backends": {}}
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{scratch / 'stress.db'}"
            else:
                url = args.pg_url
                if url is None:
                    from tests.app.postgres_cluster import running_cluster

                    url = stack.enter_context(running_cluster())
            figures = run_backend(url, args.coders, args.seconds)
            results["backends"][backend] = figures
            print(
                f"{backend:10s} {figures['decisions_per_s']:7.1f} decisions/s  p50 {figures['latency_p50_ms']} ms  "
                f"p99 {figures['latency_p99_ms']} ms  errors {figures['errors']}  "
                f"acknowledged but missing {figures['acknowledged_missing_after']}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
