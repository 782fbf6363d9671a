"""Running the model on a note and keeping what it said: ranked codes, their evidence, their attention.

A run is stored once per (note, model version), so reopening a note shows exactly what the model
suggested then, and the tinted evidence needs no second pass through the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.services.auth import CurrentUser, Role, require_role
from app.services.db import transactional
from app.services.notes import get_note
from app.services.store import ModelVersion, Note, Suggestion, SuggestionRun

if TYPE_CHECKING:
    from plant_core.coder import Coder


@transactional
def register_model_version(session: Session, info: dict, model_dir: str) -> ModelVersion:
    """The row for the model described by `Coder.info()`, added the first time this version is seen.
    Called by the app when it loads a model, not on anyone's behalf."""
    existing = session.scalar(select(ModelVersion).where(ModelVersion.version == info["version"]))
    if existing is not None:
        return existing
    model_version = ModelVersion(
        version=info["version"],
        system=info.get("system", ""),
        model_dir=model_dir,
        threshold=float(info["threshold"]),
        info=_json_safe(info),
    )
    session.add(model_version)
    try:
        session.flush()
    except IntegrityError:  # another app process registered the same version a moment ago
        session.rollback()
        return session.scalars(select(ModelVersion).where(ModelVersion.version == info["version"])).one()
    return model_version


def list_model_versions(session: Session, user: CurrentUser) -> list[ModelVersion]:
    require_role(user, Role.CODER)
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.registered_at.desc())))


def latest_run(session: Session, user: CurrentUser, note_id: int) -> SuggestionRun | None:
    get_note(session, user, note_id)
    return stored_latest_run(session, note_id)


def stored_latest_run(session: Session, note_id: int) -> SuggestionRun | None:
    """The note's newest run, for services that have checked the user already."""
    return session.scalar(
        select(SuggestionRun)
        .where(SuggestionRun.note_id == note_id)
        .order_by(SuggestionRun.id.desc())
        .limit(1)
    )


def suggest_for_note(
    session: Session, user: CurrentUser, note: Note, coder: Coder, model_version_id: int, top_k: int = 15
) -> SuggestionRun:
    """The run of a model version (`ModelVersion.id`, the one `coder` was loaded from) on the note:
    computed and stored the first time, read back afterwards."""
    get_note(session, user, note.id)
    existing = _run_of(session, note.id, model_version_id)
    if existing is not None:
        return existing
    # The model runs before any write, so a slow note never holds the database's write lock.
    suggested = coder.suggest(note.text, top_k=top_k)
    attention = coder.attention(note.text, [s.code for s in suggested])
    try:
        return _store_run(session, note.id, model_version_id, suggested, attention)
    except IntegrityError:  # the same note was suggested in another tab meanwhile: keep that run
        return _run_of(session, note.id, model_version_id)


def _run_of(session: Session, note_id: int, model_version_id: int) -> SuggestionRun | None:
    return session.scalar(
        select(SuggestionRun).where(
            SuggestionRun.note_id == note_id, SuggestionRun.model_version_id == model_version_id
        )
    )


@transactional
def _store_run(session: Session, note_id: int, model_version_id: int, suggested, attention) -> SuggestionRun:
    offsets = np.ascontiguousarray(attention.offsets, dtype=np.int32)
    weights = np.clip(np.asarray(attention.weights, dtype=np.float32), 0.0, 1.0)  # (codes, tokens)
    run = SuggestionRun(note_id=note_id, model_version_id=model_version_id, token_offsets=offsets.tobytes())
    for rank, suggestion in enumerate(suggested):
        run.suggestions.append(
            Suggestion(
                rank=rank,
                code=suggestion.code,
                description=suggestion.description,
                probability=float(suggestion.probability),
                predicted=bool(suggestion.predicted),
                evidence=[
                    {"start": e.start, "end": e.end, "text": e.text, "weight": float(e.weight)}
                    for e in suggestion.evidence
                ],
                token_weights=np.rint(weights[rank] * 255).astype(np.uint8).tobytes(),
            )
        )
    session.add(run)
    session.flush()
    return run


def token_offsets(run: SuggestionRun) -> np.ndarray:
    """(tokens, 2) character spans of the run's tokens."""
    return np.frombuffer(run.token_offsets, dtype=np.int32).reshape(-1, 2)


def token_weights(suggestion: Suggestion) -> np.ndarray:
    """(tokens,) attention of the suggestion's code over the run's tokens, in [0, 1]."""
    return np.frombuffer(suggestion.token_weights, dtype=np.uint8).astype(np.float32) / 255.0


def _json_safe(value):
    """Coder.info() may hold numpy numbers; JSON columns take plain Python values only."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
