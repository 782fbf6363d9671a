"""A consistent copy of the app's SQLite database while the app keeps running.

`cp` of a live SQLite file can copy a half-written page or miss the write-ahead log, and the copy then
loses decisions or will not open. SQLite's online backup API copies a consistent snapshot page by page
while other connections keep writing; the copy is written next to its destination, checked with
`PRAGMA integrity_check`, and only then renamed into place. PostgreSQL has its own tool (`pg_dump`).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

PAGES_PER_STEP = 1024  # pages copied between the moments other connections may write


class BackupError(RuntimeError):
    """The backup could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    tables: dict[str, int]  # rows per table in the copy


def sqlite_path(db_url: str) -> Path:
    """The database file behind a SQLite URL; BackupError for other databases."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"The database is {url.get_backend_name()}, not SQLite: back it up with its own tool, "
            f"e.g. pg_dump --format=custom --file=plant_coder.dump {url.database}"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database has no file to back up.")
    path = Path(url.database)
    if not path.is_file():
        raise BackupError(f"There is no database file at {path}.")
    return path


def backup_sqlite(db_url: str, destination: Path) -> BackupResult:
    """Copies the live database to `destination` (a new file; an existing one is never overwritten)."""
    source_path = sqlite_path(db_url)
    destination = Path(destination)
    if destination.exists():
        raise BackupError(f"{destination} exists already; give a new file name.")
    if destination.resolve() == source_path.resolve():
        raise BackupError("The backup cannot be the database itself.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        source.backup(copy, pages=PAGES_PER_STEP)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        problems = copy.execute("PRAGMA integrity_check").fetchall()
        if problems != [("ok",)]:
            raise BackupError(f"The copy failed its integrity check: {problems[:5]}")
        tables = {
            name: copy.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
    except sqlite3.Error as e:
        copy.close()
        partial.unlink(missing_ok=True)
        raise BackupError(f"The backup failed: {e}") from None
    except BaseException:
        copy.close()
        partial.unlink(missing_ok=True)
        raise
    finally:
        copy.close()
        source.close()
    os.replace(partial, destination)
    return BackupResult(path=destination, bytes=destination.stat().st_size, tables=tables)
