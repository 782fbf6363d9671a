"""The one evaluation every model (PLANT, LANT, the TF-IDF baseline) goes through.

Pure functions: gold labels and scores (notes × labels) in, floats out. scikit-learn computes
precision, recall and F1; P@k, R@k and a rank-based ROC-AUC (checked against scikit-learn's, which
needs minutes at MIMIC-IV size) are written here.
"""

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.metrics import f1_score, precision_recall_fscore_support

DEFAULT_KS = (5, 8, 15)
FREQUENCY_BUCKETS = ((1, 5), (6, 20), (21, 100), (101, None))

# Rows of the score matrix ranked at once for P@k / R@k: bounds the temporaries to a few MB per label.
_RANKING_ROWS = 1024


def evaluate(
    y_true: ArrayLike | sp.spmatrix,
    y_score: ArrayLike,
    *,
    threshold: float = 0.5,
    ks: Sequence[int] = DEFAULT_KS,
    label_mask: ArrayLike | None = None,
) -> dict[str, float]:
    """Every reported metric for one model on one gold set.

    y_true is 0/1 (notes, labels), dense or scipy sparse; y_score holds probabilities of the same shape.
    A label is predicted when its score is >= threshold. label_mask (bool, one per label) restricts the
    evaluation, ranking included, to a label subset (e.g. the top-50 codes).

    Conventions (papers disagree, Edin et al. 2023, so they are stated here):
    - micro P/R/F1 pool every (note, label) cell of the evaluated labels, so a prediction of a label
      that never occurs in the gold set is a false positive;
    - macro P/R/F1 average per-label values over the labels that occur at least once in this gold set
      (a label never predicted has precision 0); macro-F1 is the mean of per-label F1, not the harmonic
      mean of macro-P and macro-R;
    - macro-AUC averages over labels with both positive and negative notes; micro-AUC pools all cells;
    - P@k is the mean over notes of (gold among the top k)/k; R@k the mean over notes with >= 1 gold
      label of (gold among the top k)/(number of gold). Equal scores rank by label index (lower first).
    Undefined values (an AUC without both classes, a macro average over no label, R@k without a
    note that has gold labels) are NaN; F1 of labels never predicted is 0, not NaN.
    """
    gold = _dense_gold(y_true)
    scores = _dense_scores(y_score, gold.shape)
    if label_mask is not None:
        mask = np.asarray(label_mask, dtype=bool)
        if mask.shape != (gold.shape[1],):
            raise ValueError(
                f"label_mask must hold one bool per label ({gold.shape[1]}), got shape {mask.shape}"
            )
        gold, scores = gold[:, mask], scores[:, mask]
    _check_ks(ks)

    gold_indicator, predicted_indicator = _indicator_pair(gold, scores >= threshold)
    occurring = np.flatnonzero(gold.any(axis=0))
    micro_p, micro_r, micro_f1 = _precision_recall_f1(
        gold_indicator, predicted_indicator, np.arange(gold.shape[1]), "micro"
    )
    if occurring.size:
        macro_p, macro_r, macro_f1 = _precision_recall_f1(
            gold_indicator, predicted_indicator, occurring, "macro"
        )
    else:
        macro_p = macro_r = macro_f1 = float("nan")

    result = {
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": micro_f1,
        "macro_precision": macro_p,
        "macro_recall": macro_r,
        "macro_f1": macro_f1,
        "micro_auc": _micro_auc(gold, scores),
        "macro_auc": _macro_auc(gold, scores),
    }
    precision_at, recall_at = _precision_recall_at_k(gold, scores, ks)
    result.update({f"p@{k}": precision_at[k] for k in ks})
    result.update({f"r@{k}": recall_at[k] for k in ks})
    result["n_notes"] = float(gold.shape[0])
    result["n_labels_evaluated"] = float(occurring.size)
    return result


def tune_threshold(
    y_true: ArrayLike | sp.spmatrix, y_score: ArrayLike, grid: Sequence[float] | None = None
) -> float:
    """The single global threshold (predict when score >= threshold) that maximises micro-F1.

    Without a grid the search is exact: micro-F1 only rises when a gold cell crosses the threshold, so
    the candidates are the distinct scores of gold cells, each scored from two sorted arrays in
    O(cells · log cells). The threshold returned lies halfway to the next lower score, so `>` and `>=`
    predict the same cells. With a grid, the best grid value is returned. Ties go to the higher
    threshold (fewer predictions).
    """
    gold = _dense_gold(y_true)
    scores = _dense_scores(y_score, gold.shape).ravel()
    gold = gold.ravel()
    n_gold = int(gold.sum())
    if n_gold == 0:
        raise ValueError("tune_threshold needs at least one gold label; every threshold scores micro-F1 0")

    all_sorted = np.sort(scores)
    gold_sorted = np.sort(scores[gold])
    if grid is None:
        candidates = np.unique(gold_sorted)
    else:
        # In the scores' precision, as `scores >= threshold` compares them.
        candidates = np.unique(np.asarray(grid, dtype=scores.dtype))
        if candidates.size == 0:
            raise ValueError("grid is empty; pass threshold values or None for the exact search")
    true_positives = n_gold - np.searchsorted(gold_sorted, candidates, side="left")
    predicted = scores.size - np.searchsorted(all_sorted, candidates, side="left")
    micro_f1 = 2.0 * true_positives / (predicted + n_gold)
    best = candidates.size - 1 - int(np.argmax(micro_f1[::-1]))
    chosen = candidates[best]
    if grid is not None:
        return float(chosen)

    below = np.searchsorted(all_sorted, chosen, side="left")
    if below == 0:
        return float(chosen)
    lower = all_sorted[below - 1]
    # In the scores' own precision, so that comparing them with it is exact; adjacent floats can round
    # the midpoint onto `lower`, which would then be predicted too.
    halfway = all_sorted.dtype.type((float(chosen) + float(lower)) / 2.0)
    return float(halfway if lower < halfway <= chosen else chosen)


def per_label_f1(y_true: ArrayLike | sp.spmatrix, y_pred: ArrayLike | sp.spmatrix) -> np.ndarray:
    """F1 of every label (labels,); 0 where a label has neither gold nor predicted notes."""
    gold = _dense_gold(y_true)
    predicted = _dense_gold(y_pred)
    if predicted.shape != gold.shape:
        raise ValueError(f"y_pred has shape {predicted.shape}, y_true has {gold.shape}")
    n_labels = gold.shape[1]
    scores = f1_score(*_indicator_pair(gold, predicted), average=None, zero_division=0)
    return np.asarray(scores, dtype=np.float64)[:n_labels]


def macro_f1_by_frequency(
    y_true: ArrayLike | sp.spmatrix,
    y_score: ArrayLike,
    train_counts: ArrayLike,
    threshold: float,
    buckets: Sequence[tuple[int, int | None]] = FREQUENCY_BUCKETS,
) -> dict[str, dict]:
    """Macro-F1 per bucket of training frequency, e.g. for "codes seen in <= 5 training notes".

    train_counts holds, per label, the number of training notes carrying it. Each bucket (low, high)
    is inclusive (high None = no upper bound) and named "low-high" or "low+". As in `evaluate`, only
    labels occurring in this gold set are averaged. Returns {name: {"macro_f1": float, "n_labels": int}},
    macro_f1 NaN for a bucket with no such label.
    """
    gold = _dense_gold(y_true)
    scores = _dense_scores(y_score, gold.shape)
    counts = np.asarray(train_counts)
    if counts.shape != (gold.shape[1],):
        raise ValueError(f"train_counts must hold one count per label ({gold.shape[1]}), got {counts.shape}")
    f1 = per_label_f1(gold, scores >= threshold)
    occurring = gold.any(axis=0)

    result: dict[str, dict] = {}
    for low, high in buckets:
        in_bucket = occurring & (counts >= low)
        if high is not None:
            in_bucket &= counts <= high
        name = f"{low}+" if high is None else f"{low}-{high}"
        n_labels = int(in_bucket.sum())
        result[name] = {
            "macro_f1": float(f1[in_bucket].mean()) if n_labels else float("nan"),
            "n_labels": n_labels,
        }
    return result


def _dense_gold(y: ArrayLike | sp.spmatrix) -> np.ndarray:
    gold = y.toarray() if sp.issparse(y) else np.asarray(y)
    if gold.ndim != 2:
        raise ValueError(f"labels must be a 2-D (notes, labels) array, got {gold.ndim} dimension(s)")
    if gold.dtype != bool:
        if not np.isin(gold, (0, 1)).all():
            raise ValueError("labels must be 0/1 (or bool); found other values")
        gold = gold.astype(bool)
    return gold


def _dense_scores(y_score: ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    scores = y_score.toarray() if sp.issparse(y_score) else np.asarray(y_score)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    if scores.shape != shape:
        raise ValueError(f"y_score has shape {scores.shape}, y_true has {shape}")
    if not np.isfinite(scores).all():
        raise ValueError("y_score contains NaN or infinite values; check the model's output")
    return scores


def _check_ks(ks: Sequence[int]) -> None:
    if any(int(k) != k or k < 1 for k in ks):
        raise ValueError(f"every k in ks must be a positive integer, got {tuple(ks)}")


def _indicator_pair(gold: np.ndarray, predicted: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Both matrices as sparse indicators, the form scikit-learn's multilabel metrics work in."""
    if gold.shape[1] == 1:
        # scikit-learn reads a one-column indicator as binary targets; an all-zero extra column keeps
        # it multilabel and adds nothing to any count of the real label.
        gold, predicted = (np.hstack([m, np.zeros_like(m)]) for m in (gold, predicted))
    return sp.csr_matrix(gold), sp.csr_matrix(predicted)


def _precision_recall_f1(
    gold: sp.csr_matrix, predicted: sp.csr_matrix, labels: np.ndarray, average: str
) -> tuple[float, float, float]:
    precision, recall, f1, _ = precision_recall_fscore_support(
        gold, predicted, labels=labels, average=average, zero_division=0
    )
    return float(precision), float(recall), float(f1)


def _micro_auc(gold: np.ndarray, scores: np.ndarray) -> float:
    n_positive = int(gold.sum())
    if n_positive == 0 or n_positive == gold.size:
        return float("nan")
    return _rank_auc(np.sort(scores, axis=None), scores[gold])


def _macro_auc(gold: np.ndarray, scores: np.ndarray) -> float:
    positives = gold.sum(axis=0)
    both_classes = np.flatnonzero((positives > 0) & (positives < gold.shape[0]))
    if both_classes.size == 0:
        return float("nan")
    # (labels, notes): each label's scores contiguous, sorted once.
    by_label = np.ascontiguousarray(scores[:, both_classes].T)
    gold_by_label = gold[:, both_classes].T
    positive_scores = [by_label[row][gold_by_label[row]] for row in range(both_classes.size)]
    by_label.sort(axis=1)
    per_label = [_rank_auc(by_label[row], positive_scores[row]) for row in range(both_classes.size)]
    return float(np.mean(per_label))


def _rank_auc(all_scores_sorted: np.ndarray, positive_scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic: the chance a positive outscores a negative, ties half.

    Equal to scikit-learn's roc_auc_score (the tests check it), but one sort of the scores instead of
    a full ROC curve per label: 7,600 labels × 10,000 notes take seconds, not minutes.
    """
    n_positive = positive_scores.size
    n_negative = all_scores_sorted.size - n_positive
    below = np.searchsorted(all_scores_sorted, positive_scores, side="left")
    at_or_below = np.searchsorted(all_scores_sorted, positive_scores, side="right")
    # below + at_or_below counts each cell under a positive twice and each cell level with it once:
    # twice the Mann-Whitney count. Positives among those cells add n_positive² (each pair of them 2,
    # each one with itself 1); what is left are the positive-negative pairs.
    doubled = int(below.sum()) + int(at_or_below.sum())
    return (doubled - n_positive * n_positive) / (2.0 * n_positive * n_negative)


def _precision_recall_at_k(
    gold: np.ndarray, scores: np.ndarray, ks: Sequence[int]
) -> tuple[dict[int, float], dict[int, float]]:
    n_notes = gold.shape[0]
    hits = {k: np.zeros(n_notes, dtype=np.int64) for k in ks}
    for start in range(0, n_notes, _RANKING_ROWS):
        rows = slice(start, start + _RANKING_ROWS)
        for k in ks:
            hits[k][rows] = _gold_in_top_k(gold[rows], scores[rows], k)

    n_gold = gold.sum(axis=1)
    with_gold = n_gold > 0
    precision_at = {k: float(hits[k].sum() / (k * n_notes)) if n_notes else float("nan") for k in ks}
    recall_at = {
        k: float(np.mean(hits[k][with_gold] / n_gold[with_gold])) if with_gold.any() else float("nan")
        for k in ks
    }
    return precision_at, recall_at


def _gold_in_top_k(gold: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Per note, how many gold labels rank in its top k (equal scores: lower label index first)."""
    if k >= scores.shape[1]:
        return gold.sum(axis=1)
    # A linear-time selection of the k-th largest score, then ties at that score admitted in label
    # order until k labels are in: deterministic without sorting every row.
    kth_largest = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
    above = scores > kth_largest
    at_kth = scores == kth_largest
    room = k - above.sum(axis=1, keepdims=True)
    in_top_k = above | (at_kth & (np.cumsum(at_kth, axis=1) <= room))
    return (gold & in_top_k).sum(axis=1)
