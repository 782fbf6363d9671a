"""The app's configuration, read from the environment once per process.

`PLANT_CODER_DB_URL` picks the database (any SQLAlchemy URL), `PLANT_CODER_MODEL_DIR` the model;
`PLANT_CODER_DEMO_NOTES` (JSONL seeding an empty worklist), `PLANT_CODER_EXPORT_DIR` and
`PLANT_CODER_IDLE_MINUTES` (sign-out after inactivity) have defaults too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class AppConfig:
    db_url: str
    model_dir: Path
    # Notes that seed an empty worklist, so a fresh `make run` has something to code.
    demo_notes: Path
    # Where the Export page saves files for pipelines that read from disk.
    export_dir: Path
    suggestions_per_note: int = 15
    # A browser session without a click for this long is signed out (its unsaved text kept as a draft).
    idle_minutes: float = 20.0


def default_db_url() -> str:
    return f"sqlite:///{REPO_ROOT / 'var' / 'plant_coder.db'}"


def _idle_minutes() -> float:
    text = os.environ.get("PLANT_CODER_IDLE_MINUTES") or "20"
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1.0
    if not 0 < minutes <= 24 * 60:
        raise ValueError(f"PLANT_CODER_IDLE_MINUTES must be a number of minutes up to 1440, not {text!r}")
    return minutes


def load_config() -> AppConfig:
    model_dir = Path(os.environ.get("PLANT_CODER_MODEL_DIR", "models/demo"))
    if not model_dir.is_absolute():
        model_dir = REPO_ROOT / model_dir
    return AppConfig(
        db_url=os.environ.get("PLANT_CODER_DB_URL") or default_db_url(),
        model_dir=model_dir,
        demo_notes=Path(
            os.environ.get("PLANT_CODER_DEMO_NOTES") or REPO_ROOT / "data" / "demo" / "test.jsonl"
        ),
        export_dir=Path(os.environ.get("PLANT_CODER_EXPORT_DIR") or REPO_ROOT / "var" / "exports"),
        idle_minutes=_idle_minutes(),
    )


@dataclass(frozen=True)
class RetrainConfig:
    """Retraining (`python -m app.worker`): where candidate models go and how a dead worker is noticed."""

    # Candidate models are saved here under generated names (models/candidate-job12-...).
    models_root: Path
    # A worker writes a heartbeat this often; a running job without one for `stale_after_s` is failed.
    heartbeat_s: float = 5.0
    stale_after_s: float = 60.0
    # Progress (the loss curve) is written at most this often, so coders' writes are not crowded out.
    progress_interval_s: float = 1.0


def load_retrain_config() -> RetrainConfig:
    models_root = Path(os.environ.get("PLANT_CODER_MODELS_ROOT") or REPO_ROOT / "models")
    return RetrainConfig(
        models_root=models_root if models_root.is_absolute() else REPO_ROOT / models_root,
        heartbeat_s=float(os.environ.get("PLANT_CODER_WORKER_HEARTBEAT_S") or 5.0),
        stale_after_s=float(os.environ.get("PLANT_CODER_JOB_STALE_S") or 60.0),
        progress_interval_s=float(os.environ.get("PLANT_CODER_PROGRESS_INTERVAL_S") or 1.0),
    )
