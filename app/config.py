"""The app's configuration, read from the environment once per process.

`PLANT_CODER_DB_URL` picks the database (any SQLAlchemy URL), `PLANT_CODER_MODEL_DIR` the model;
`PLANT_CODER_DEMO_NOTES` (JSONL seeding an empty worklist) and `PLANT_CODER_EXPORT_DIR` have defaults too.
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


def default_db_url() -> str:
    return f"sqlite:///{REPO_ROOT / 'var' / 'plant_coder.db'}"


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
    )
