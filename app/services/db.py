"""The one place that makes the database engine from a URL, migrates it and opens sessions.

SQLite (the default) gets WAL, foreign keys and a busy timeout so that several browser tabs and the
app's threads can write without "database is locked"; any other SQLAlchemy URL is used as given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000

P = ParamSpec("P")
R = TypeVar("R")


class DatabaseConfigError(ValueError):
    """The configured database URL cannot be used; the message says which setting to change."""


class DatabaseUnavailableError(RuntimeError):
    """The database refused a write (locked too long, disk full, read-only); none of the write was kept."""


def unavailable_error(error: OperationalError) -> DatabaseUnavailableError | None:
    """A message a coder can act on for the database failures that are not bugs; None for the others."""
    reason = str(error.orig).lower()
    if "locked" in reason or "busy" in reason:
        what = f"busy: another writer held it for more than {SQLITE_BUSY_TIMEOUT_MS // 1000} s"
    elif "full" in reason or "no space" in reason:
        what = "full: its disk has no space left; an admin must free some"
    elif "readonly" in reason or "read-only" in reason:
        what = "read-only: the app may not write its file; an admin must fix the permissions"
    else:
        return None
    return DatabaseUnavailableError(f"The database is {what}. Nothing of this change was saved; try again.")


def make_engine(url: str) -> Engine:
    """Engine for `url`; a SQLite file's folder is created, and every connection gets the pragmas."""
    try:
        parsed = make_url(url)
    except Exception as e:  # sqlalchemy raises ArgumentError and ValueError subclasses alike here
        raise DatabaseConfigError(f"PLANT_CODER_DB_URL is not a database URL: {url!r} ({e})") from None
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL with NORMAL still survives an app crash; only a power cut can lose the last commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest alembic revision (idempotent; runs on every app start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after the service function that loaded them has committed.
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def open_session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


def transactional(func: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
    """A service write: commits what `func` did to the session, or rolls all of it back on any error."""

    @wraps(func)
    def run_in_transaction(session: Session, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = func(session, *args, **kwargs)
            session.commit()
        except OperationalError as e:
            session.rollback()
            raise (unavailable_error(e) or e) from e
        except BaseException:
            session.rollback()
            raise
        return result

    return run_in_transaction
