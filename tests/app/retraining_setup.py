"""What the retraining tests start from: a base model that never saw three codes, and coders' corrections
of tiny-corpus notes recorded through the service layer (suggest, accept or reject each suggestion by the
gold codes, add the gold codes it missed, submit), as coders would make them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.services import decisions, model_registry, notes, suggestions
from app.services.db import open_session
from app.services.store import Action
from plant_core.coder import Coder
from plant_core.config import Config
from plant_core.corpus.records import Note as CorpusNote
from plant_core.corpus.records import iter_jsonl, write_jsonl
from plant_core.train import train
from tests.app.people import ADMIN, as_coder

HIDDEN = ["Z79.4", "K21.9", "G89.29"]  # codes the base model never sees in training


@pytest.fixture(scope="session")
def base_without_hidden(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny PLANT model trained without the HIDDEN codes. Its corpus keeps them in the test split only
    (training never reads test labels), so before/after figures on the test split can show them."""
    root = tmp_path_factory.mktemp("base_without_hidden")
    (root / "data").mkdir()
    for split in ("train", "dev", "test"):
        rows = list(iter_jsonl(corpus_dir / f"{split}.jsonl"))
        if split != "test":
            rows = [
                CorpusNote(id=n.id, text=n.text, codes=[c for c in n.codes if c not in HIDDEN]) for n in rows
            ]
        write_jsonl(rows, root / "data" / f"{split}.jsonl")
    return train("plant", root / "data", root / "model", Config.named("tiny"), device="cpu")


def corrected_training_notes(corpus_dir: Path, count: int) -> list[CorpusNote]:
    return list(iter_jsonl(corpus_dir / "train.jsonl"))[:count]


def record_corrections(
    engine: Engine, model_dir: Path, records: list[CorpusNote], coder_name: str = "alice"
) -> int:
    """Serves `model_dir`, then a coder reviews each note against its gold codes and submits it; returns
    the served version's id."""
    coder = Coder.load(model_dir)
    user = as_coder(coder_name)
    with open_session(engine) as session:
        version = model_registry.serve_by_default(session, coder.info(), str(model_dir))
        notes.import_notes(session, ADMIN, records, source="corrections")
        for record in records:
            note = notes.find_note(session, ADMIN, record.id)
            run = suggestions.suggest_for_note(session, user, note, coder, version.id, top_k=6)
            gold = set(record.codes)
            for suggestion in run.suggestions:
                action = Action.ACCEPTED if suggestion.code in gold else Action.REJECTED
                decisions.decide(session, user, note.id, suggestion.code, action, 1)
            for code in sorted(gold - {s.code for s in run.suggestions}):
                decisions.add_code(session, user, note.id, code, 1)
            lock_version = decisions.review_state(session, user, note.id).note.lock_version
            decisions.submit(session, user, note.id, lock_version)
        return version.id


def model_files_stamp(model_dir: Path) -> str:
    """Names, sizes and modification times of a model folder's files: changes if anything rewrote it."""
    return json.dumps(
        sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(model_dir).iterdir())
    )
