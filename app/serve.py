"""The app and its retraining worker, started and stopped together (what `make run` runs).

`python -m app.serve [--port 8501]` starts `python -m app.worker` and `streamlit run app/main.py` side by
side and stops both: when the app exits, on Ctrl-C or SIGTERM, and (Linux) when this process itself is
killed. A worker that crashes is started again after a pause; the app keeps serving meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import signal
import subprocess
import sys
import threading

from app.config import REPO_ROOT

WORKER_RESTART_PAUSE_S = 5.0
STOP_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when app.serve dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: Ctrl-C still reaches the process group
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=REPO_ROOT, preexec_fn=_die_with_parent)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", default=None, help="address streamlit listens on (default: its own)")
    args = parser.parse_args(argv)
    app_command = [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(args.port)]
    if args.address:
        app_command += ["--server.address", args.address]
    worker_command = [sys.executable, "-m", "app.worker"]

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    worker = start(worker_command)
    app = start(app_command)
    print(f"app.serve: app pid {app.pid}, worker pid {worker.pid}", flush=True)
    try:
        while not stopping.is_set() and app.poll() is None:
            if worker.poll() is not None:
                print(f"app.serve: the worker exited ({worker.returncode}); starting it again", flush=True)
                stopping.wait(WORKER_RESTART_PAUSE_S)
                if not stopping.is_set():
                    worker = start(worker_command)
                    print(f"app.serve: worker pid {worker.pid}", flush=True)
            stopping.wait(0.5)
    finally:
        # The worker first: a running job goes back to the queue before the app is gone.
        stop(worker)
        stop(app)
    return app.returncode if app.returncode and app.returncode > 0 else 0


if __name__ == "__main__":
    sys.exit(main())
