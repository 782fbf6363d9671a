"""Fixtures for the app's tests: a tiny real model trained once per session through the CLI, and a fresh
database per test, as a SQLite file and as a schema in PostgreSQL: the server named by
PLANT_CODER_TEST_PG_URL, or else a throw-away cluster started for the test session (skipped, with the
reason, where PostgreSQL is not installed; `make test` installs it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.services.db import make_engine, migrate, open_session
from app.services.suggestions import register_model_version
from plant_core.coder import Coder
from plant_core.corpus.records import Note as CorpusNote
from plant_core.corpus.records import iter_jsonl
from tests.app.postgres_cluster import PostgresUnavailableError, running_cluster

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_URL_ENV = "PLANT_CODER_TEST_PG_URL"


@pytest.fixture(autouse=True)
def one_inference_thread() -> Iterator[None]:
    """Inference in one thread, as the app runs it (app/main.py): two OpenMP threads contending with a
    browser or another process on these 2-core machines slow a suggestion down many times."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _cli(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "plant_core", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"python -m plant_core {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )


@pytest.fixture(scope="session")
def tiny_corpus_and_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(corpus dir, model dir): the synthetic tiny corpus and a PLANT model trained on it, once per run."""
    root = tmp_path_factory.mktemp("tiny")
    _cli("synth", "--config", "tiny", "--out", str(root / "data"))
    _cli(
        "train",
        "--system",
        "plant",
        "--data",
        str(root / "data"),
        "--out",
        str(root / "model"),
        "--config",
        "tiny",
    )
    return root / "data", root / "model"


@pytest.fixture(scope="session")
def model_dir(tiny_corpus_and_model: tuple[Path, Path]) -> Path:
    return tiny_corpus_and_model[1]


@pytest.fixture(scope="session")
def corpus_dir(tiny_corpus_and_model: tuple[Path, Path]) -> Path:
    return tiny_corpus_and_model[0]


@pytest.fixture(scope="session")
def coder(model_dir: Path) -> Coder:
    return Coder.load(model_dir)


@pytest.fixture(scope="session")
def test_notes(corpus_dir: Path) -> list[CorpusNote]:
    return list(iter_jsonl(corpus_dir / "test.jsonl"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The PostgreSQL test database: PLANT_CODER_TEST_PG_URL, or a cluster started for this session."""
    if os.environ.get(PG_URL_ENV):
        yield os.environ[PG_URL_ENV]
        return
    try:
        with running_cluster() as url:
            yield url
    except PostgresUnavailableError as e:
        pytest.skip(f"no PostgreSQL for the storage tests: {e}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a new SQLite file, or a new schema of the PostgreSQL test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'plant_coder.db'}"
        return
    base = make_url(request.getfixturevalue("postgres_url"))
    schema = f"plant_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with open_session(engine) as db_session:
        yield db_session


@pytest.fixture
def model_version_id(session: Session, coder: Coder, model_dir: Path) -> int:
    return register_model_version(session, coder.info(), str(model_dir)).id
