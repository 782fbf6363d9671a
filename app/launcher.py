"""Starts `streamlit run app/main.py` as a child process on a free local port and waits until its
health endpoint answers; with the Chromium settings, what the end-to-end test and the app benchmark share.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from app.config import REPO_ROOT

# Debian's Chromium, driven by Playwright (never a browser that Playwright downloads itself).
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, timeout_s: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = log.read_text(errors="replace")[-3000:] if log is not None else ""
            raise RuntimeError(f"streamlit exited with status {server.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url}/_stcore/health did not answer within {timeout_s:.0f} s")


@contextmanager
def running_app(env: Mapping[str, str], timeout_s: float = 90) -> Iterator[str]:
    """The app's URL while it runs with `env` added to this process's environment; stopped on exit."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", "app/main.py",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    # The server's output goes to a file: a pipe nobody reads would block it once full.
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "streamlit.log"
        with open(log, "w") as output:
            server = subprocess.Popen(
                command, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, server, timeout_s, log)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
