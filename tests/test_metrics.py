"""The shared evaluation checked against scikit-learn on random cases and against hand-computed answers."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import f1_score, precision_recall_fscore_support, roc_auc_score

from plant_core.metrics import evaluate, macro_f1_by_frequency, per_label_f1, tune_threshold


def random_case(seed: int, n_notes: int = 40, n_labels: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Gold with a never-occurring label (index 0) and an always-occurring one (index 1); noisy scores."""
    rng = np.random.default_rng(seed)
    gold = (rng.random((n_notes, n_labels)) < 0.25).astype(np.int64)
    gold[:, 0] = 0
    gold[:, 1] = 1
    scores = np.clip(0.35 * gold + rng.random((n_notes, n_labels)) * 0.8, 0.0, 1.0)
    return gold, scores


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sparse_gold", [False, True])
def test_precision_recall_f1_and_auc_match_scikit_learn(seed: int, sparse_gold: bool) -> None:
    gold, scores = random_case(seed)
    predicted = scores >= 0.5
    occurring = np.flatnonzero(gold.sum(axis=0) > 0)
    both_classes = [j for j in range(gold.shape[1]) if 0 < gold[:, j].sum() < gold.shape[0]]

    result = evaluate(sp.csr_matrix(gold) if sparse_gold else gold, scores)

    micro = precision_recall_fscore_support(gold, predicted, average="micro", zero_division=0)
    macro = precision_recall_fscore_support(
        gold, predicted, labels=occurring, average="macro", zero_division=0
    )
    assert result["micro_precision"] == pytest.approx(micro[0])
    assert result["micro_recall"] == pytest.approx(micro[1])
    assert result["micro_f1"] == pytest.approx(micro[2])
    assert result["macro_precision"] == pytest.approx(macro[0])
    assert result["macro_recall"] == pytest.approx(macro[1])
    assert result["macro_f1"] == pytest.approx(macro[2])
    assert result["micro_auc"] == pytest.approx(roc_auc_score(gold.ravel(), scores.ravel()))
    per_label_auc = [roc_auc_score(gold[:, j], scores[:, j]) for j in both_classes]
    assert result["macro_auc"] == pytest.approx(np.mean(per_label_auc))
    assert result["n_labels_evaluated"] == len(occurring)
    assert result["n_notes"] == gold.shape[0]


@pytest.mark.parametrize("seed", range(3))
def test_auc_with_tied_scores_matches_scikit_learn(seed: int) -> None:
    gold, scores = random_case(seed, n_notes=60)
    scores = np.round(scores, 1)  # many ties, across and within the classes
    both_classes = [j for j in range(gold.shape[1]) if 0 < gold[:, j].sum() < gold.shape[0]]

    result = evaluate(gold, scores.astype(np.float32))

    assert result["micro_auc"] == pytest.approx(roc_auc_score(gold.ravel(), scores.ravel()))
    per_label_auc = [roc_auc_score(gold[:, j], scores[:, j]) for j in both_classes]
    assert result["macro_auc"] == pytest.approx(np.mean(per_label_auc))


def test_macro_average_skips_labels_absent_from_the_gold_set() -> None:
    gold, scores = random_case(7)
    scores[:, 0] = 0.9  # the never-occurring label is predicted everywhere: false positives only

    result = evaluate(gold, scores)

    over_all_labels = f1_score(gold, scores >= 0.5, average="macro", zero_division=0)
    assert result["macro_f1"] > over_all_labels
    assert result["n_labels_evaluated"] == gold.shape[1] - 1
    # ...but its false positives still count in the micro average.
    assert result["micro_precision"] < evaluate(gold[:, 1:], scores[:, 1:])["micro_precision"]


def test_hand_computed_precision_recall_f1_and_auc() -> None:
    gold = np.array([[1, 0, 1], [0, 1, 0]])
    scores = np.array([[0.9, 0.6, 0.2], [0.1, 0.7, 0.4]])
    # Predicted at 0.5: cells (0,0) (0,1) (1,1). TP 2, FP 1 (0,1), FN 1 (0,2).

    result = evaluate(gold, scores, ks=(1,))

    assert result["micro_precision"] == pytest.approx(2 / 3)
    assert result["micro_recall"] == pytest.approx(2 / 3)
    assert result["micro_f1"] == pytest.approx(2 / 3)
    # Per label (P, R, F1): (1, 1, 1), (1/2, 1, 2/3), (0, 0, 0).
    assert result["macro_precision"] == pytest.approx(0.5)
    assert result["macro_recall"] == pytest.approx(2 / 3)
    assert result["macro_f1"] == pytest.approx(5 / 9)
    # Positive cells 0.9, 0.2, 0.7 beat 3, 1 and 3 of the negatives 0.6, 0.1, 0.4.
    assert result["micro_auc"] == pytest.approx(7 / 9)
    # Per label AUC: 1, 1, 0.
    assert result["macro_auc"] == pytest.approx(2 / 3)


def test_hand_computed_precision_and_recall_at_k_with_ties() -> None:
    scores = np.array(
        [
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
            [0.5, 0.5, 0.5, 0.5, 0.1, 0.9],  # ties rank by label index: 5, 0, 1, 2, 3, 4
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
        ]
    )
    gold = np.array(
        [
            [1, 0, 1, 0, 0, 1],
            [0, 1, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 0],  # no gold: counts for P@k, not for R@k
        ]
    )

    result = evaluate(gold, scores, ks=(2, 3, 8))

    # Top 2: {0, 1} holds 1 gold; {5, 0} holds none; note 3 none.
    assert result["p@2"] == pytest.approx(1 / 6)
    assert result["r@2"] == pytest.approx((1 / 3 + 0 / 2) / 2)
    # Top 3: {0, 1, 2} holds 2 gold; {5, 0, 1} holds label 1.
    assert result["p@3"] == pytest.approx(3 / 9)
    assert result["r@3"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # k beyond the 6 labels: every gold label is in, the denominator stays k.
    assert result["p@8"] == pytest.approx(5 / 24)
    assert result["r@8"] == pytest.approx(1.0)


def test_ranking_metrics_are_unchanged_by_how_notes_are_chunked() -> None:
    rng = np.random.default_rng(3)
    gold = rng.random((2500, 30)) < 0.1
    scores = np.round(rng.random((2500, 30)), 1)  # many ties

    result = evaluate(gold, scores)
    halves = [evaluate(gold[rows], scores[rows]) for rows in (slice(0, 1250), slice(1250, None))]

    for k in (5, 8, 15):
        assert result[f"p@{k}"] == pytest.approx(np.mean([h[f"p@{k}"] for h in halves]))


def test_label_mask_restricts_every_metric_to_the_subset() -> None:
    gold, scores = random_case(11)
    mask = np.zeros(gold.shape[1], dtype=bool)
    mask[[1, 3, 4, 8, 9, 10]] = True

    assert evaluate(gold, scores, label_mask=mask) == evaluate(gold[:, mask], scores[:, mask])


def test_all_zero_predictions_give_zero_f1_without_warnings_or_nan() -> None:
    gold, scores = random_case(2)
    scores = scores * 0.1

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate(gold, scores)

    for average in ("micro", "macro"):
        for name in ("precision", "recall", "f1"):
            assert result[f"{average}_{name}"] == 0.0
    assert not any(np.isnan(value) for value in result.values())


def test_undefined_values_are_nan_not_errors() -> None:
    gold = np.zeros((4, 3), dtype=int)
    scores = np.full((4, 3), 0.7)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate(gold, scores)

    assert result["micro_precision"] == 0.0
    assert np.isnan(result["macro_f1"])
    assert np.isnan(result["micro_auc"]) and np.isnan(result["macro_auc"])
    assert np.isnan(result["r@5"])
    assert result["p@5"] == 0.0
    assert result["n_labels_evaluated"] == 0.0


def test_single_label_is_evaluated_as_one_label_not_as_binary_classes() -> None:
    gold = np.array([[1], [0], [1], [0]])
    scores = np.array([[0.8], [0.6], [0.3], [0.1]])

    result = evaluate(gold, scores, ks=(1,))

    # TP 1, FP 1, FN 1 on the one label.
    assert result["micro_f1"] == pytest.approx(0.5)
    assert result["macro_f1"] == pytest.approx(0.5)
    assert result["macro_auc"] == pytest.approx(0.75)
    assert per_label_f1(gold, scores >= 0.5).tolist() == [0.5]


def test_inputs_that_cannot_be_scored_are_rejected() -> None:
    gold, scores = random_case(0)
    with pytest.raises(ValueError, match="shape"):
        evaluate(gold, scores[:, :5])
    scores[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate(gold, scores)
    with pytest.raises(ValueError, match="0/1"):
        evaluate(gold * 2, np.zeros(gold.shape))


@pytest.mark.parametrize("seed", range(4))
def test_tuned_threshold_reaches_the_brute_force_optimum(seed: int) -> None:
    gold, scores = random_case(seed, n_notes=30, n_labels=8)
    scores = np.round(scores, 2)  # ties between cells
    distinct = np.unique(scores)
    trials = np.concatenate([distinct, (distinct[1:] + distinct[:-1]) / 2, [distinct[-1] + 1]])
    best_brute_force = max(f1_score(gold, scores >= t, average="micro", zero_division=0) for t in trials)

    threshold = tune_threshold(gold, scores)

    assert f1_score(gold, scores >= threshold, average="micro") == pytest.approx(best_brute_force)
    assert f1_score(gold, scores > threshold, average="micro") == pytest.approx(best_brute_force)


def test_tuned_threshold_on_a_grid_is_the_best_grid_value() -> None:
    gold, scores = random_case(5)
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    f1_on_grid = [f1_score(gold, scores >= t, average="micro", zero_division=0) for t in grid]

    threshold = tune_threshold(gold, scores, grid=grid)

    assert threshold in grid
    assert f1_score(gold, scores >= threshold, average="micro") == pytest.approx(max(f1_on_grid))


def test_tuned_threshold_is_exact_for_float32_scores() -> None:
    gold, scores = random_case(9)
    scores = scores.astype(np.float32)

    threshold = tune_threshold(gold, scores)

    exact_best = max(f1_score(gold, scores >= s, average="micro") for s in np.unique(scores))
    assert f1_score(gold, scores >= threshold, average="micro") == pytest.approx(exact_best)


def test_threshold_tuning_without_gold_labels_is_an_error() -> None:
    with pytest.raises(ValueError, match="gold"):
        tune_threshold(np.zeros((3, 4)), np.full((3, 4), 0.5))


def test_per_label_f1_matches_scikit_learn() -> None:
    gold, scores = random_case(4)
    predicted = scores >= 0.6

    expected = f1_score(gold, predicted, average=None, zero_division=0)
    np.testing.assert_allclose(per_label_f1(sp.csr_matrix(gold), predicted), expected)


def test_macro_f1_by_frequency_averages_each_bucket_of_training_frequency() -> None:
    gold, scores = random_case(6, n_labels=10)
    train_counts = np.array([3, 1, 5, 6, 20, 21, 100, 101, 0, 4000])
    per_label = f1_score(gold, scores >= 0.5, average=None, zero_division=0)

    result = macro_f1_by_frequency(gold, scores, train_counts, threshold=0.5)

    # Label 0 never occurs in the gold set and label 8 in no bucket.
    assert result["1-5"] == {"macro_f1": pytest.approx(per_label[[1, 2]].mean()), "n_labels": 2}
    assert result["6-20"] == {"macro_f1": pytest.approx(per_label[[3, 4]].mean()), "n_labels": 2}
    assert result["21-100"] == {"macro_f1": pytest.approx(per_label[[5, 6]].mean()), "n_labels": 2}
    assert result["101+"] == {"macro_f1": pytest.approx(per_label[[7, 9]].mean()), "n_labels": 2}

    rare = macro_f1_by_frequency(gold, scores, train_counts, 0.5, buckets=((0, 5),))
    assert rare["0-5"]["n_labels"] == 3
