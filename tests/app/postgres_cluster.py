"""A throw-away PostgreSQL cluster for the storage tests: initdb into a temporary folder, started with
pg_ctl on a free local port, stopped and deleted afterwards. Debian's `postgresql` package provides the
binaries (`make test` installs it); PostgreSQL refuses to run as root, so as root the cluster runs as
the `postgres` user that package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "plant"
DATABASE = "plant_test"


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL binaries here, or the cluster would not start; the message says which."""


def find_bin_dir() -> Path | None:
    """The folder with initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_cluster_owner(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise PostgresUnavailableError("running as root without runuser: cannot start PostgreSQL as non-root")
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(_as_cluster_owner(command), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise PostgresUnavailableError(f"{what} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")


@contextmanager
def running_cluster() -> Iterator[str]:
    """A SQLAlchemy URL (psycopg) of an empty database in a new cluster, for as long as the block runs."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailableError(
            "PostgreSQL is not installed (no initdb); `make test` installs Debian's postgresql package"
        )
    root = Path(tempfile.mkdtemp(prefix="plant-coder-pg-"))
    data, log = root / "data", root / "server.log"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
              "--no-instructions"], "initdb")  # fmt: skip
        options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{root}' -c fsync=off"
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60",
              "start"], "pg_ctl start")  # fmt: skip
        try:
            _run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE],
                 "createdb")  # fmt: skip
            yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{DATABASE}"
        finally:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], "pg_ctl stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
