"""From a corpus on disk to tensors: the training subset, the label space, token ids and batches.

The label space is fixed by the whole training split, so that runs on fractions of it are scored on the
same codes; the vocabulary, MI table and L2R model see the (sub-sampled) training notes alone.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from plant_core.corpus.records import Dataset, Note
from plant_core.text import PAD_ID, UNK_ID, Tokenizer


def load_dataset(data_dir: str | Path) -> Dataset:
    from plant_core.corpus.loaders import load_corpus

    return load_corpus(data_dir)


def training_subset(notes: list[Note], fraction: float, seed: int) -> list[Note]:
    """A deterministic random `fraction` of the training notes (at least one)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return list(notes)
    n = max(1, round(fraction * len(notes)))
    chosen = np.random.default_rng(seed).choice(len(notes), size=n, replace=False)
    return [notes[i] for i in sorted(chosen)]


def label_space(train_notes: list[Note]) -> tuple[list[str], dict[str, int]]:
    """Codes of the training split, most frequent first (ties by code), with their training counts."""
    counts = Counter(code for note in train_notes for code in set(note.codes))
    codes = sorted(counts, key=lambda c: (-counts[c], c))
    return codes, dict(counts)


def fingerprint(notes: list[Note]) -> str:
    digest = hashlib.sha256()
    for note in notes:
        digest.update(note.id.encode())
        digest.update(note.text.encode())
        digest.update(";".join(sorted(note.codes)).encode())
    return digest.hexdigest()


@dataclass
class EncodedSplit:
    ids: list[np.ndarray]  # token ids per note
    targets: sp.csr_matrix  # (notes, labels) 0/1
    note_ids: list[str]


def encode_split(notes: list[Note], tokenizer: Tokenizer, label_index: dict[str, int]) -> EncodedSplit:
    encoded = tokenizer.encode_batch([n.text for n in notes])
    ids = [e.ids if e.ids.size else np.array([UNK_ID], dtype=np.int64) for e in encoded]
    rows, cols = [], []
    for i, note in enumerate(notes):
        for code in set(note.codes):
            if code in label_index:  # codes never seen in training cannot be predicted
                rows.append(i)
                cols.append(label_index[code])
    targets = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(notes), len(label_index))
    )
    return EncodedSplit(ids=ids, targets=targets, note_ids=[n.id for n in notes])


def pad_batch(sequences: list[np.ndarray], max_tokens: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pads token ids: (B, T) ids and (B, T) mask of real tokens."""
    if max_tokens:
        sequences = [s[:max_tokens] for s in sequences]
    length = max(s.size for s in sequences)
    ids = np.full((len(sequences), length), PAD_ID, dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : seq.size] = seq
    ids_t = torch.from_numpy(ids)
    return ids_t, ids_t != PAD_ID


def length_bucketed_batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of notes of similar length (less padding), in random order."""
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        group = order[start : start + pool]
        group = group[np.argsort([lengths[i] for i in group], kind="stable")]
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def token_stream(ids: list[np.ndarray]) -> np.ndarray:
    """All notes' tokens end to end, for language-model training."""
    return np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
