"""The one in-memory shape of a coded note, shared by the generator, every loader and the trainer.

A corpus on disk in the canonical format is a directory of JSON-lines files, one per split
(`train.jsonl`, `dev.jsonl`, `test.jsonl`), one note per line:
`{"id", "text", "codes", "evidence": {code: [[start, end], ...]}, "negated": [...]}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "dev", "test")


class CorpusFormatError(ValueError):
    """A corpus file that cannot be read; the message names the file, the line and the problem."""


@dataclass
class Distractor:
    """A mention of a condition that must not be coded: negated, family history or rule-out."""

    code: str
    start: int
    end: int
    kind: str  # "negated" | "family_history" | "rule_out"


@dataclass
class Note:
    id: str
    text: str
    codes: list[str]
    # Character spans of the text that support each gold code (synthetic corpus only).
    evidence: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    negated: list[Distractor] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "codes": list(self.codes),
            "evidence": {c: [list(s) for s in spans] for c, spans in self.evidence.items()},
            "negated": [
                {"code": d.code, "start": d.start, "end": d.end, "kind": d.kind} for d in self.negated
            ],
        }

    @classmethod
    def from_json(cls, row: dict) -> Note:
        return cls(
            id=str(row["id"]),
            text=row["text"],
            codes=[str(c) for c in row.get("codes", [])],
            evidence={c: [(int(s), int(e)) for s, e in spans] for c, spans in (row.get("evidence") or {}).items()},
            negated=[Distractor(**d) for d in (row.get("negated") or [])],
        )


Dataset = dict[str, list[Note]]  # split name -> notes


def write_jsonl(notes: Iterable[Note], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for note in notes:
            f.write(json.dumps(note.to_json(), ensure_ascii=False) + "\n")


def iter_json_objects(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yields (line number, object) for each non-blank line; bad bytes or JSON raise with the line number."""
    path = Path(path)
    if not path.is_file():
        raise CorpusFormatError(f"{path}: no such file")
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CorpusFormatError(f"{path}:{line_no}: not UTF-8 (byte {e.start} of the line)") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusFormatError(f"{path}:{line_no}: invalid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise CorpusFormatError(f"{path}:{line_no}: each line must be a JSON object, not {type(row).__name__}")
            yield line_no, row


def iter_jsonl(path: str | Path) -> Iterator[Note]:
    """Reads canonical JSONL notes; bad bytes, bad JSON or malformed fields raise with the line number."""
    for line_no, row in iter_json_objects(path):
        if "id" not in row or "text" not in row:
            raise CorpusFormatError(f"{path}:{line_no}: a note needs 'id' and 'text' fields")
        try:
            yield Note.from_json(row)
        except (TypeError, ValueError, KeyError) as e:
            raise CorpusFormatError(f"{path}:{line_no}: malformed note ({e})") from None


def write_dataset(dataset: Dataset, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, notes in dataset.items():
        write_jsonl(notes, out_dir / f"{split}.jsonl")
