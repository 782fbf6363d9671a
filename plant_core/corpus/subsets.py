"""Label subsets of a corpus: the MIMIC "top-50" and "rare-50" style label sets, and restricting notes to them.

Pure functions on a `Dataset`: inputs are never modified; counts are numbers of notes carrying a code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from plant_core.corpus.records import Dataset, Note

DEFAULT_RARE_MAX_TRAIN_COUNT = 10


def label_counts(notes: Iterable[Note]) -> Counter[str]:
    """How many notes carry each code (a code listed twice in one note counts once)."""
    counts: Counter[str] = Counter()
    for note in notes:
        counts.update(set(note.codes))
    return counts


def top_labels(dataset: Dataset, k: int = 50) -> list[str]:
    """The k codes carried by the most training notes, most frequent first; ties go to the smaller code."""
    counts = label_counts(_split(dataset, "train", "top_labels"))
    return sorted(counts, key=lambda code: (-counts[code], code))[:k]


def rare_labels(dataset: Dataset, k: int = 50, max_train_count: int = DEFAULT_RARE_MAX_TRAIN_COUNT) -> list[str]:
    """A "rare-50"-like label set: the k codes with the fewest training notes, fewest first.

    A code qualifies when it is on 1 to max_train_count training notes (a model must see it at least once)
    and on at least one test note (so it can be evaluated). Ties go to the smaller code. Fewer than k codes
    come back when fewer qualify.
    """
    train_counts = label_counts(_split(dataset, "train", "rare_labels"))
    test_codes = set(label_counts(_split(dataset, "test", "rare_labels")))
    candidates = [code for code, n in train_counts.items() if 1 <= n <= max_train_count and code in test_codes]
    return sorted(candidates, key=lambda code: (train_counts[code], code))[:k]


def filter_labels(dataset: Dataset, codes: Iterable[str], drop_empty: bool = True) -> Dataset:
    """Keeps only `codes` on every note, with their evidence and distractors; new notes, same order.

    drop_empty: leave out the notes that carry none of `codes` (every split stays, possibly empty).
    """
    keep = set(codes)
    filtered: Dataset = {}
    for split, notes in dataset.items():
        filtered[split] = []
        for note in notes:
            kept_codes = [code for code in note.codes if code in keep]
            if drop_empty and not kept_codes:
                continue
            filtered[split].append(Note(
                id=note.id,
                text=note.text,
                codes=kept_codes,
                evidence={code: list(spans) for code, spans in note.evidence.items() if code in keep},
                negated=[replace(d) for d in note.negated if d.code in keep],
            ))
    return filtered


def _split(dataset: Dataset, split: str, caller: str) -> list[Note]:
    if split not in dataset:
        raise ValueError(f"{caller} needs a {split!r} split; this dataset has {', '.join(dataset) or 'none'}")
    return dataset[split]
