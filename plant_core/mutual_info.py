"""Mutual-information gain between tokens and labels, the ranking PLANT's attention is planted from.

Pure functions on sparse presence matrices of the training split: co-occurrence counts are built one
chunk of labels at a time and only each label's top tokens are kept, so no vocab × labels array exists.
"""

from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp

Normalisation = Literal["none", "jaccard"]


def presence_matrix(
    token_id_lists: Sequence[Sequence[int]] | list[np.ndarray], n_columns: int
) -> sp.csr_matrix:
    """Notes × columns 0/1 matrix: 1 where the note holds the id at least once (presence, not counts).

    Used for tokens (token-id lists) and for labels (label-index lists) alike. int32 data, so products
    of two presence matrices count notes exactly.
    """
    lengths = np.fromiter((len(ids) for ids in token_id_lists), dtype=np.int64, count=len(token_id_lists))
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    if indptr[-1]:
        indices = np.concatenate([np.asarray(ids, dtype=np.int64).ravel() for ids in token_id_lists])
    else:
        indices = np.zeros(0, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= n_columns):
        raise ValueError(
            f"ids must lie in [0, {n_columns}); found {indices.min()}..{indices.max()}. "
            "Is n_columns the size of the vocabulary (or label set) the ids come from?"
        )
    index_dtype = np.int32 if max(n_columns, indptr[-1]) < np.iinfo(np.int32).max else np.int64
    matrix = sp.csr_matrix(
        (np.ones(indices.size, dtype=np.int32), indices.astype(index_dtype), indptr.astype(index_dtype)),
        shape=(len(lengths), n_columns),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix


def mutual_info_gain(
    X: sp.spmatrix | np.ndarray,
    Y: sp.spmatrix | np.ndarray,
    *,
    top_k: int | None = 1000,
    positive_only: bool = True,
    normalise: Normalisation = "none",
    label_chunk: int = 512,
    eps: float = 1e-12,
) -> sp.csr_matrix:
    """Labels × tokens sparse matrix holding, for each label, the MI scores of its top_k tokens.

    X is notes × tokens, Y notes × labels (scipy sparse, or dense for small data), both from the
    training split; any nonzero counts as present. For token t and label l, with the 2×2 table of
    notes by (t present?, l present?),

        I(t;l) = Σ_{a,b ∈ {0,1}} p(a,b) · log( p(a,b) / (p_T(a) · p_L(b)) )   (nats; 0·log 0 = 0)

    computed from the co-occurrence counts n_tl = (Yᵀ X)[l, t], n_t, n_l and N.

    positive_only (default, PLANT.md "ours"): MI is symmetric, so a token that is absent whenever the
    label is present scores high too; attention should point at evidence for a code, so only pairs with
    n_tl · N > n_t · n_l are kept. They all co-occur, so the work stays on the nonzeros of Yᵀ X.
    positive_only=False scores every pair, non-co-occurring ones included, which costs a dense
    label_chunk × tokens block per chunk (about 100 bytes a pair: 2 GB at 512 labels × 40k tokens;
    pass a smaller label_chunk to bound it).

    normalise="jaccard" reports I / (H(T) + H(L) − I) in [0, 1] (the form the PLANT authors' code
    ranks by; eps guards its denominator) instead of I.

    Each label keeps its top_k tokens (None: all) with a score > 0; equal scores keep the lower token
    id. label_chunk bounds memory: the co-occurrence counts of that many labels exist at once.
    """
    X, Y = _presence(X, "X"), _presence(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} notes and Y {Y.shape[0]}; both must describe the same notes")
    if X.shape[0] == 0:
        raise ValueError("mutual information needs at least one note")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive number of tokens or None, got {top_k}")
    if label_chunk < 1:
        raise ValueError(f"label_chunk must be positive, got {label_chunk}")
    if normalise not in ("none", "jaccard"):
        raise ValueError(f"normalise must be 'none' or 'jaccard', got {normalise!r}")

    n_labels, n_tokens = Y.shape[1], X.shape[1]
    labels_by_note = Y.T.tocsr()  # (labels, notes): a chunk of labels is then a cheap row slice
    table = _CountTable(X.getnnz(axis=0), labels_by_note.getnnz(axis=1), X.shape[0])

    blocks = []
    for start in range(0, n_labels, label_chunk):
        stop = min(start + label_chunk, n_labels)
        co_occurrence = labels_by_note[start:stop] @ X  # (chunk labels, tokens) counts n_tl, unsorted
        if positive_only:
            rows, tokens, n_tl = table.positive_pairs(co_occurrence, start)
        else:
            rows, tokens, n_tl = _all_pairs(co_occurrence)
        scores = table.mutual_info(n_tl, tokens, rows + start)
        if normalise == "jaccard":
            joint_entropy = table.token_entropy[tokens] + table.label_entropy[rows + start] - scores
            scores = np.clip(scores / np.maximum(joint_entropy, eps), 0.0, 1.0)
        kept = scores > 0
        rows, tokens, scores = rows[kept], tokens[kept], scores[kept]
        blocks.append(_top_k_per_row(rows, tokens, scores, stop - start, n_tokens, top_k))
    table_of_scores = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, n_tokens))
    table_of_scores.sort_indices()
    return table_of_scores


def top_tokens(mi: sp.csr_matrix, label_index: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best-scoring token ids of one label in a `mutual_info_gain` table, and their scores.

    Highest score first, equal scores by token id; fewer than k when the label kept fewer tokens.
    """
    if not 0 <= label_index < mi.shape[0]:
        raise IndexError(f"label_index {label_index} is outside the table's {mi.shape[0]} labels")
    row = slice(mi.indptr[label_index], mi.indptr[label_index + 1])
    token_ids, scores = mi.indices[row], mi.data[row]
    order = np.lexsort((token_ids, -scores))[:k]
    return token_ids[order].astype(np.int64), scores[order]


def _presence(matrix: sp.spmatrix | np.ndarray, name: str) -> sp.csr_matrix:
    matrix = matrix.tocsr() if sp.issparse(matrix) else sp.csr_matrix(np.asarray(matrix))
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (notes, columns) matrix, got shape {matrix.shape}")
    if matrix.dtype == np.int32 and matrix.has_canonical_format and (matrix.data == 1).all():
        return matrix  # already a presence matrix: no copy of what can be the largest array here
    matrix = matrix.copy()
    matrix.eliminate_zeros()
    matrix.sum_duplicates()
    matrix.data = np.ones(matrix.nnz, dtype=np.int32)
    return matrix


class _CountTable:
    """Token and label counts of the training split, and what every pair's MI needs from them.

    MI is computed from counts with n·ln n looked up in a table of every count 0..N (so 0·ln 0 = 0
    exactly and no logarithm is taken per pair). With p = n/N,
        N · I = Σ_cells n ln n − [n_t ln n_t + (N−n_t) ln(N−n_t)] − [the same for n_l] + N ln N.
    """

    def __init__(self, token_counts: np.ndarray, label_counts: np.ndarray, n_notes: int) -> None:
        self.n_notes = n_notes
        self.token_counts = token_counts.astype(np.int64)
        self.label_counts = label_counts.astype(np.int64)
        counts = np.arange(n_notes + 1, dtype=np.float64)
        self.n_log_n = counts * np.log(np.maximum(counts, 1.0))
        self.token_side = self.n_log_n[self.token_counts] + self.n_log_n[n_notes - self.token_counts]
        self.label_side = self.n_log_n[self.label_counts] + self.n_log_n[n_notes - self.label_counts]
        self.token_entropy = (self.n_log_n[n_notes] - self.token_side) / n_notes
        self.label_entropy = (self.n_log_n[n_notes] - self.label_side) / n_notes
        # N · I is a difference of terms as large as N ln N; a result within a few of their rounding
        # errors of zero is an independent pair, not information.
        self.noise = 64 * np.finfo(np.float64).eps * self.n_log_n[n_notes] / n_notes

    def positive_pairs(
        self, co_occurrence: sp.csr_matrix, first_label: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, token, n_tl) of the co-occurring pairs seen more often than independence predicts."""
        rows = np.repeat(np.arange(co_occurrence.shape[0]), np.diff(co_occurrence.indptr))
        tokens, n_tl = co_occurrence.indices, co_occurrence.data
        # int64: n_tl · N reaches ~1.5e10 at 122k notes, past int32.
        expected_times_n = self.token_counts[tokens] * self.label_counts[rows + first_label]
        positive = n_tl.astype(np.int64) * self.n_notes > expected_times_n
        return rows[positive], tokens[positive], n_tl[positive]

    def mutual_info(self, n_tl: np.ndarray, tokens: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """I(t;l) in nats of each (n_tl, token, label) triple."""
        n_t, n_l = self.token_counts[tokens], self.label_counts[labels]
        n_log_n = self.n_log_n
        cells = (
            n_log_n[n_tl]
            + n_log_n[n_t - n_tl]
            + n_log_n[n_l - n_tl]
            + n_log_n[self.n_notes - n_t - n_l + n_tl]
        )
        marginals = self.token_side[tokens] + self.label_side[labels] - n_log_n[self.n_notes]
        mi = (cells - marginals) / self.n_notes
        return np.where(mi > self.noise, mi, 0.0)


def _all_pairs(co_occurrence: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, token, n_tl) of every pair in the chunk, n_tl = 0 where they never co-occur."""
    n_rows, n_tokens = co_occurrence.shape
    rows = np.repeat(np.arange(n_rows), n_tokens)
    tokens = np.tile(np.arange(n_tokens), n_rows)
    return rows, tokens, co_occurrence.toarray().ravel()


def _top_k_per_row(
    rows: np.ndarray, tokens: np.ndarray, scores: np.ndarray, n_rows: int, n_tokens: int, top_k: int | None
) -> sp.csr_matrix:
    """CSR of the top_k scores of each row; the pairs come grouped by row, in any token order."""
    row_lengths = np.bincount(rows, minlength=n_rows)
    if top_k is not None:
        row_starts = np.concatenate([[0], np.cumsum(row_lengths)])
        keep = np.ones(scores.size, dtype=bool)
        for row in np.flatnonzero(row_lengths > top_k):
            span = slice(row_starts[row], row_starts[row + 1])
            keep[span] = _top_k_mask(scores[span], tokens[span], top_k)
        tokens, scores = tokens[keep], scores[keep]
        row_lengths = np.minimum(row_lengths, top_k)
    indptr = np.concatenate([[0], np.cumsum(row_lengths)])
    return sp.csr_matrix((scores, tokens, indptr), shape=(n_rows, n_tokens))


def _top_k_mask(scores: np.ndarray, tokens: np.ndarray, k: int) -> np.ndarray:
    """Mask of the k highest scores; among equal scores at the cut, the lowest token ids win."""
    kth_largest = -np.partition(-scores, k - 1)[k - 1]
    keep = scores > kth_largest
    tied = np.flatnonzero(scores == kth_largest)
    room = k - int(keep.sum())
    keep[tied[np.argsort(tokens[tied], kind="stable")[:room]]] = True
    return keep
