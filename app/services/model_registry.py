"""Which model version the app serves: candidates from retraining jobs, promotion, discarding, rollback.

Exactly one version is active at a time and the app loads whichever it is on every page run, so a
promotion or a rollback takes effect at the next click, without a restart. Promotion remembers the
version it replaced, so a rollback returns to it (and a second rollback to the one before).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.services import audit
from app.services.auth import CurrentUser, Role, require_role
from app.services.db import transactional
from app.services.store import ModelStatus, ModelVersion, utc_now
from app.services.suggestions import _json_safe


class VersionStateError(RuntimeError):
    """The model version is not in a state that allows this (e.g. promoting a discarded candidate)."""


def active_version(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.status == ModelStatus.ACTIVE).limit(1))


def get_version(session: Session, version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, version_id, populate_existing=True)
    if version is None:
        raise VersionStateError(f"There is no model version {version_id}.")
    return version


def candidates(session: Session, user: CurrentUser) -> list[ModelVersion]:
    """Versions waiting for an admin's decision, newest first."""
    require_role(user, Role.ADMIN)
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.status == ModelStatus.CANDIDATE)
            .order_by(ModelVersion.id.desc())
        )
    )


def _new_version(info: dict, model_dir: str, **fields) -> ModelVersion:
    """A row for the model `Coder.info()` describes."""
    return ModelVersion(version=info["version"], system=info.get("system", ""), model_dir=model_dir,
                        threshold=float(info["threshold"]), info=_json_safe(info), **fields)  # fmt: skip


@transactional
def serve_by_default(session: Session, info: dict, model_dir: str) -> ModelVersion:
    """The active version; when none is (a new database), the configured model (`Coder.info()` of
    PLANT_CODER_MODEL_DIR) is registered and becomes it."""
    active = active_version(session)
    if active is not None:
        return active
    version = session.scalar(select(ModelVersion).where(ModelVersion.version == info["version"]))
    if version is None:
        version = _new_version(info, model_dir)
        session.add(version)
    version.status = ModelStatus.ACTIVE
    version.promoted_at = version.promoted_at or utc_now()
    try:
        session.flush()
    except IntegrityError:  # another app process registered it a moment ago
        session.rollback()
        return (
            active_version(session)
            or session.scalars(select(ModelVersion).where(ModelVersion.version == info["version"])).one()
        )
    return version


@transactional
def add_candidate(
    session: Session, info: dict, model_dir: str, parent_id: int, job_id: int, evaluation: dict
) -> ModelVersion:
    """Registers the model a retraining job saved as a candidate, with its before/after evaluation."""
    version = _new_version(info, model_dir, status=ModelStatus.CANDIDATE, parent_id=parent_id, job_id=job_id,
                           evaluation=_json_safe(evaluation))  # fmt: skip
    session.add(version)
    session.flush()
    return version


@transactional
def promote(session: Session, user: CurrentUser, version_id: int) -> ModelVersion:
    """Serves `version_id` from the next page run on; the version it replaces can be rolled back to."""
    require_role(user, Role.ADMIN)
    version = get_version(session, version_id)
    if version.status not in (ModelStatus.CANDIDATE, ModelStatus.RETIRED):
        raise VersionStateError(
            f"Version {version.version} is {version.status}; only candidates are promoted."
        )
    current = active_version(session)
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.status == ModelStatus.ACTIVE)
        .values(status=ModelStatus.RETIRED)
    )
    version.status = ModelStatus.ACTIVE
    version.replaced_id = current.id if current is not None else None
    version.promoted_at, version.promoted_by = utc_now(), user.username
    audit.record(session, user, audit.AuditAction.PROMOTED, f"model {version.version}",
                 {"replaced": current.version if current is not None else None})  # fmt: skip
    return version


@transactional
def discard(session: Session, user: CurrentUser, version_id: int) -> ModelVersion:
    """Turns a candidate down; it is kept on record (and on disk) but never served."""
    require_role(user, Role.ADMIN)
    version = get_version(session, version_id)
    if version.status != ModelStatus.CANDIDATE:
        raise VersionStateError(f"Version {version.version} is {version.status}, not a candidate.")
    version.status = ModelStatus.DISCARDED
    audit.record(session, user, "model discarded", f"model {version.version}")
    return version


def rollback_target(session: Session) -> ModelVersion | None:
    """The version a rollback would restore: the one the active version replaced."""
    active = active_version(session)
    if active is None or active.replaced_id is None:
        return None
    return session.get(ModelVersion, active.replaced_id)


@transactional
def rollback(session: Session, user: CurrentUser) -> ModelVersion:
    """Serves the version the active one replaced again; the active one is retired."""
    require_role(user, Role.ADMIN)
    active, previous = active_version(session), rollback_target(session)
    if active is None or previous is None:
        raise VersionStateError("There is no earlier version to roll back to.")
    active.status = ModelStatus.RETIRED
    session.flush()
    previous.status = ModelStatus.ACTIVE
    audit.record(session, user, audit.AuditAction.ROLLED_BACK, f"model {active.version}",
                 {"restored": previous.version})  # fmt: skip
    return previous
