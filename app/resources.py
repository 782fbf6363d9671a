"""What the pages share across reruns and sessions: the migrated database engine, the loaded model,
and the coder's name. Loaded once per process (`st.cache_resource`), the model once per version.
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
from app.services import notes, suggestions
from app.services.db import make_engine, migrate, open_session
from plant_core import codes
from plant_core.coder import Coder

DEFAULT_CODER_NAME = "coder"
CODER_NAME_KEY = "coder_name"  # the name stored with decisions; outlives the sidebar widget's own state
CODER_INPUT_KEY = "coder_name_input"


@dataclass(frozen=True)
class LoadedModel:
    coder: Coder
    version: str
    model_version_id: int
    info: dict


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


@st.cache_resource(show_spinner=False)
def _model_version_id(db_url: str, model_dir: str, fingerprint: str) -> int:
    """The database row of the model version (added on its first use with this database)."""
    with open_session(engine()) as session:
        return suggestions.register_model_version(
            session, _coder_for(model_dir, fingerprint).info(), model_dir
        ).id


def model() -> LoadedModel:
    """The model in use, loaded once per version; raises plant_core's ModelLoadError (a ValueError)
    naming what is wrong with the model folder."""
    settings = config()
    model_dir, fingerprint = str(settings.model_dir), _model_fingerprint(settings.model_dir)
    coder = _coder_for(model_dir, fingerprint)
    info = coder.info()
    return LoadedModel(
        coder=coder,
        version=info["version"],
        model_version_id=_model_version_id(settings.db_url, model_dir, fingerprint),
        info=info,
    )


def coder_name() -> str:
    return (st.session_state.get(CODER_NAME_KEY) or "").strip() or DEFAULT_CODER_NAME


def _remember_coder_name() -> None:
    st.session_state[CODER_NAME_KEY] = st.session_state[CODER_INPUT_KEY]


def coder_name_input() -> None:
    """The sidebar box where the coder says who they are (until accounts exist)."""
    st.text_input(
        "Coder",
        value=coder_name(),
        key=CODER_INPUT_KEY,
        on_change=_remember_coder_name,
        help="Stored with every decision you make. Accounts come later.",
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
