"""The Retrain page through Streamlit's AppTest: an admin starts a job from the page, a real worker runs it,
the page shows its progress (bar, loss curve) while it runs and the candidate's before/after evaluation
when it is done; Promote serves the candidate (the Models page says so), Roll back serves the base again.
Coders do not get the page.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.markdown_text import plain
from app.services import jobs, model_registry
from app.services.auth import Role
from app.services.db import make_engine, migrate, open_session
from app.services.store import JobStatus
from app.signed_in import LAST_ACTIVITY_KEY, USERNAME_KEY
from tests.app.people import ADMIN, make_accounts
from tests.app.retraining_setup import (
    base_without_hidden,  # noqa: F401 - a fixture
    corrected_training_notes,
    record_corrections,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN = REPO_ROOT / "app" / "main.py"
PAGE = "pages/retrain.py"
RUN_TIMEOUT = 120


@pytest.fixture
def app_db(monkeypatch, tmp_path, base_without_hidden, corpus_dir):  # noqa: F811
    url = f"sqlite:///{tmp_path / 'var' / 'plant_coder.db'}"
    env = {
        "PLANT_CODER_DB_URL": url,
        "PLANT_CODER_MODEL_DIR": str(base_without_hidden),
        "PLANT_CODER_DEMO_NOTES": str(tmp_path / "no-demo-notes.jsonl"),
        "PLANT_CODER_MODELS_ROOT": str(tmp_path / "models"),
        "PLANT_CODER_PROGRESS_INTERVAL_S": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        make_accounts(session, "root", role=Role.ADMIN)
        make_accounts(session, "alice")
    base_id = record_corrections(engine, base_without_hidden, corrected_training_notes(corpus_dir, 50))
    yield {"engine": engine, "env": env, "base_id": base_id, "tmp": tmp_path}
    engine.dispose()


def open_page(username: str) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=RUN_TIMEOUT)
    at.session_state[USERNAME_KEY] = username
    at.session_state[LAST_ACTIVITY_KEY] = time.time()
    return check(at.run().switch_page(PAGE).run())


def check(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def progress_value(at: AppTest) -> int:
    [bar] = at.get("progress")
    return bar.proto.value  # percent


def latest_job(engine):
    with open_session(engine) as session:
        return jobs.list_jobs(session, ADMIN, limit=1)[0]


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    with open(log, "w") as output:
        return subprocess.Popen([sys.executable, "-m", "app.worker", "--poll-s", "0.5"], cwd=REPO_ROOT,
                                env={**os.environ, "OMP_NUM_THREADS": "1", **env}, stdout=output,
                                stderr=subprocess.STDOUT)  # fmt: skip


def rerun_until(at: AppTest, done, timeout_s: float, what: str) -> AppTest:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        check(at.run())
        if done(at):
            return at
        time.sleep(0.3)
    raise TimeoutError(f"the page did not show {what} within {timeout_s:.0f} s")


def test_an_admin_starts_a_job_watches_it_and_promotes_then_rolls_back_the_candidate(app_db):
    engine, base_id = app_db["engine"], app_db["base_id"]
    at = open_page("root")
    assert any("50 submitted note(s)" in c.value for c in at.caption)
    at.number_input(key="retrain_head_epochs").set_value(12)
    [start] = [b for b in at.button if b.label == "Start retraining"]
    at = check(start.click().run())
    assert any("queued" in s.value for s in at.success)
    job = latest_job(engine)
    assert (job.status, job.created_by) == (JobStatus.QUEUED, "root")
    assert job.params["schedule"] == [["head", 12], ["lstm_top", 2]]
    assert progress_value(at) == 0

    worker = start_worker(app_db["env"], app_db["tmp"] / "worker.log")
    try:
        # While it trains: the bar moves and the loss curve is drawn.
        at = rerun_until(at, lambda a: 0 < progress_value(a) < 100 and a.get("plotly_chart"), 240, "progress")
        assert any("epoch" in (e.proto.text or "") for e in at.get("progress"))
        at = rerun_until(at, lambda a: any(b.label == "Promote" for b in a.button), 300, "the candidate")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert latest_job(engine).status == JobStatus.SUCCEEDED
    assert progress_value(at) == 100
    [evaluation] = [d.value for d in at.dataframe if "change" in d.value.columns]
    assert {"heldout", "test"} <= set(evaluation["notes"]) and {"all", "corrected"} <= set(
        evaluation["codes"]
    )

    at = check(next(b for b in at.button if b.label == "Promote").click().run())
    with open_session(engine) as session:
        candidate = jobs.candidate_of(session, latest_job(engine).id)
        assert model_registry.active_version(session).id == candidate.id
    models_page = check(at.switch_page("pages/models.py").run())
    assert any(plain(candidate.version) in h.value for h in models_page.subheader)

    at = check(models_page.switch_page(PAGE).run())
    at = check(at.button(key="retrain_rollback").click().run())
    with open_session(engine) as session:
        assert model_registry.active_version(session).id == base_id
    models_page = check(at.switch_page("pages/models.py").run())
    assert not any(plain(candidate.version) in h.value for h in models_page.subheader)


def test_a_coder_is_neither_offered_the_retrain_page_nor_let_in(app_db):
    at = AppTest.from_file(str(MAIN), default_timeout=RUN_TIMEOUT)
    at.session_state[USERNAME_KEY] = "alice"
    at.session_state[LAST_ACTIVITY_KEY] = time.time()
    check(at.run())
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)
    page = AppTest.from_file(str(MAIN.parent / PAGE), default_timeout=RUN_TIMEOUT)  # the page on its own
    page.session_state[USERNAME_KEY] = "alice"
    page.session_state[LAST_ACTIVITY_KEY] = time.time()
    page = check(page.run())
    assert any("admin" in e.value for e in page.error)
    assert not [b for b in page.button if b.label == "Start retraining"]
