"""What the pages share across reruns and sessions: the migrated database engine and the loaded model.
Loaded once per process (`st.cache_resource`), the model once per version. Who is signed in is in
`app.signed_in`.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.config import AppConfig, load_config
from app.services import model_registry, notes
from app.services.db import make_engine, migrate, open_session
from plant_core import codes
from plant_core.coder import Coder


@dataclass(frozen=True)
class LoadedModel:
    coder: Coder
    version: str
    model_version_id: int
    info: dict
    model_dir: str  # the served version's folder


def config() -> AppConfig:
    return load_config()


@st.cache_resource(show_spinner=False)
def _engine_for(db_url: str, demo_notes: str) -> Engine:
    engine = make_engine(db_url)
    migrate(engine)
    with open_session(engine) as session:
        notes.seed_demo_worklist(session, Path(demo_notes))
    return engine


def engine() -> Engine:
    """The app's database, migrated to the newest schema (and seeded with demo notes when empty)."""
    settings = config()
    return _engine_for(settings.db_url, str(settings.demo_notes))


def _model_fingerprint(model_dir: Path) -> str:
    """Changes whenever a file of the model changes, so a retrained model in the same folder is reloaded."""
    if not model_dir.is_dir():
        return "missing"
    stamps = sorted(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in model_dir.iterdir() if p.is_file()
    )
    return repr(stamps)


@st.cache_resource(show_spinner="Loading the model…", max_entries=2)
def _coder_for(model_dir: str, fingerprint: str) -> Coder:
    return Coder.load(model_dir)


def _served_version() -> tuple[str, int]:
    """(folder, `ModelVersion.id`) of the version the database says is active. On a new database the
    configured model (PLANT_CODER_MODEL_DIR) is registered and becomes the active version."""
    with open_session(engine()) as session:
        active = model_registry.active_version(session)
        if active is None:
            default_dir = str(config().model_dir)
            info = _coder_for(default_dir, _model_fingerprint(Path(default_dir))).info()
            active = model_registry.serve_by_default(session, info, default_dir)
        return active.model_dir, active.id


def model() -> LoadedModel:
    """The model in use, loaded once per version; raises plant_core's ModelLoadError (a ValueError)
    naming what is wrong with the model folder. The active version is looked up on every call, so a
    promotion or rollback is served from the next page run on, without a restart."""
    model_dir, model_version_id = _served_version()
    coder = _coder_for(model_dir, _model_fingerprint(Path(model_dir)))
    info = coder.info()
    return LoadedModel(
        coder=coder, version=info["version"], model_version_id=model_version_id, info=info, model_dir=model_dir
    )


@contextmanager
def session() -> Iterator[Session]:
    """A database session for one page run; service functions commit their own writes."""
    with open_session(engine()) as db_session:
        yield db_session


def _build_search_index_then_freeze_heap() -> None:
    codes.search("diabetes")  # builds the code search index (about a second)
    # The app's long-lived objects (code tables and index, libraries, the model) run to millions; a
    # full garbage collection walking them paused a code switch for ~0.4 s every few clicks. Frozen,
    # collections walk only what each page run creates.
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per process, in the background: the code search index, then a frozen long-lived heap."""
    thread = threading.Thread(target=_build_search_index_then_freeze_heap, name="warm-up", daemon=True)
    thread.start()
    return thread
