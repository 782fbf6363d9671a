"""`python -m app.serve` (what `make run` runs): the app and the retraining worker start together, and
stopping the server stops both."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.launcher import free_port, wait_until_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not reaped yet is a zombie: not running.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_serve_starts_the_app_and_the_worker_and_stops_both(tmp_path, model_dir):
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PLANT_CODER_DB_URL": f"sqlite:///{tmp_path / 'plant_coder.db'}",
           "PLANT_CODER_MODEL_DIR": str(model_dir),
           "PLANT_CODER_DEMO_NOTES": str(tmp_path / "no-demo-notes.jsonl"),
           "PLANT_CODER_MODELS_ROOT": str(tmp_path / "models")}  # fmt: skip
    log = tmp_path / "serve.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.serve", "--port", str(port), "--address", "127.0.0.1"],
            cwd=REPO_ROOT, env={**env, "STREAMLIT_SERVER_HEADLESS": "true"}, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", server, timeout_s=120, log=log)
        pids = re.search(r"app pid (\d+), worker pid (\d+)", log.read_text())
        app_pid, worker_pid = int(pids[1]), int(pids[2])
        deadline = time.monotonic() + 60
        while "worker " not in log.read_text() or "started" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert is_running(app_pid) and is_running(worker_pid)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=90) == 0, log.read_text()[-3000:]
    assert not is_running(app_pid) and not is_running(worker_pid)
