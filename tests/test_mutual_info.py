"""Sparse, chunked mutual-information gain checked against a dense brute force and scikit-learn."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import mutual_info_score

from plant_core.mutual_info import mutual_info_gain, presence_matrix, top_tokens


def brute_force_mi(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense (labels, tokens) MI, association sign and joint entropy from each pair's 2×2 table."""
    n_notes = x.shape[0]
    n_tokens, n_labels = x.shape[1], y.shape[1]
    mi = np.zeros((n_labels, n_tokens))
    positive = np.zeros((n_labels, n_tokens), dtype=bool)
    joint_entropy = np.zeros((n_labels, n_tokens))
    for label in range(n_labels):
        for token in range(n_tokens):
            has_token, has_label = x[:, token].astype(bool), y[:, label].astype(bool)
            for a in (False, True):
                for b in (False, True):
                    p_ab = np.mean((has_token == a) & (has_label == b))
                    if p_ab > 0:
                        p_a, p_b = np.mean(has_token == a), np.mean(has_label == b)
                        mi[label, token] += p_ab * math.log(p_ab / (p_a * p_b))
                        joint_entropy[label, token] -= p_ab * math.log(p_ab)
            n_both = np.sum(has_token & has_label)
            positive[label, token] = n_both * n_notes > has_token.sum() * has_label.sum()
    return mi, positive, joint_entropy


@pytest.fixture
def notes() -> tuple[np.ndarray, np.ndarray]:
    """Presence of 30 tokens and 9 labels in 80 notes, with every degenerate case in it."""
    rng = np.random.default_rng(0)
    y = rng.random((80, 9)) < 0.3
    x = rng.random((80, 30)) < 0.25
    x[:, :9] |= y & (rng.random((80, 9)) < 0.7)  # tokens 0-8 are evidence for labels 0-8
    x[:, 9] = y[:, 0]  # present exactly with label 0: cells (1,0) and (0,1) empty
    x[:, 10] = ~y[:, 1]  # present exactly without label 1: cells (1,1) and (0,0) empty
    x[:, 11] = True  # in every note
    x[:, 12] = False  # in no note
    y[:, 7] = False  # a label never seen
    y[:, 8] = True  # a label on every note
    return x.astype(np.int32), y.astype(np.int32)


def test_every_pair_matches_the_dense_brute_force(notes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = notes
    expected, _, _ = brute_force_mi(x, y)

    mi = mutual_info_gain(sp.csr_matrix(x), sp.csr_matrix(y), top_k=None, positive_only=False)

    assert mi.shape == (9, 30)
    np.testing.assert_allclose(mi.toarray(), expected, atol=1e-12)
    assert mi[0, 9] == pytest.approx(expected[0, 9]) and mi[0, 9] > 0.3
    assert mi[1, 10] > 0.3  # the token that marks the label's absence scores high too


def test_matches_scikit_learn_mutual_info_score(notes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = notes
    mi = mutual_info_gain(sp.csr_matrix(x), sp.csr_matrix(y), top_k=None, positive_only=False).toarray()

    for label, token in [(0, 0), (0, 9), (1, 10), (3, 3), (5, 20), (2, 11)]:
        assert mi[label, token] == pytest.approx(mutual_info_score(x[:, token], y[:, label]), abs=1e-12)


def test_identical_token_and_label_have_mi_equal_to_their_entropy() -> None:
    presence = np.array([[1], [1], [0], [0]])

    mi = mutual_info_gain(sp.csr_matrix(presence), sp.csr_matrix(presence), top_k=None)

    assert mi[0, 0] == pytest.approx(math.log(2))


def test_positive_only_drops_exactly_the_negatively_associated_pairs(
    notes: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = notes
    expected, positive, _ = brute_force_mi(x, y)

    mi = mutual_info_gain(sp.csr_matrix(x), sp.csr_matrix(y), top_k=None, positive_only=True)

    kept = mi.toarray() > 0
    np.testing.assert_array_equal(kept, positive & (expected > 1e-12))
    np.testing.assert_allclose(mi.toarray()[kept], expected[kept], atol=1e-12)
    assert mi[1, 10] == 0  # present exactly when the label is absent
    assert mi[7].nnz == 0 and mi[8].nnz == 0  # constant labels carry no information


def test_each_label_keeps_its_top_k_tokens(notes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = notes
    full = mutual_info_gain(sp.csr_matrix(x), sp.csr_matrix(y), top_k=None, positive_only=False).toarray()

    mi = mutual_info_gain(sp.csr_matrix(x), sp.csr_matrix(y), top_k=4, positive_only=False)

    for label in range(7):
        assert mi[label].nnz == 4
        best_four = np.lexsort((np.arange(30), -full[label]))[:4]
        assert sorted(mi[label].indices) == sorted(best_four)


def test_equal_scores_at_the_cut_keep_the_lower_token_ids() -> None:
    rng = np.random.default_rng(1)
    label = rng.random(50) < 0.4
    evidence = label | (rng.random(50) < 0.1)
    x = np.column_stack([rng.random(50) < 0.5] + [evidence] * 5)  # tokens 1-5 score the same

    mi = mutual_info_gain(sp.csr_matrix(x), sp.csr_matrix(label[:, None]), top_k=3)

    assert sorted(mi[0].indices) == [1, 2, 3]
    token_ids, scores = top_tokens(mi, 0, k=3)
    assert token_ids.tolist() == [1, 2, 3]
    assert scores[0] == scores[1] == scores[2]


def test_chunk_size_does_not_change_the_result(notes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = sp.csr_matrix(notes[0]), sp.csr_matrix(notes[1])
    for positive_only in (True, False):
        reference = mutual_info_gain(x, y, top_k=5, positive_only=positive_only, label_chunk=512)
        for label_chunk in (1, 2, 4):
            chunked = mutual_info_gain(x, y, top_k=5, positive_only=positive_only, label_chunk=label_chunk)
            assert (chunked != reference).nnz == 0


def test_jaccard_form_is_mi_over_joint_entropy_in_unit_interval(notes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = notes
    expected_mi, _, joint_entropy = brute_force_mi(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(joint_entropy > 0, expected_mi / joint_entropy, 0.0)

    jaccard = mutual_info_gain(
        sp.csr_matrix(x), sp.csr_matrix(y), top_k=None, positive_only=False, normalise="jaccard"
    ).toarray()

    np.testing.assert_allclose(jaccard, expected, atol=1e-9)
    assert jaccard.min() >= 0 and jaccard.max() <= 1
    assert jaccard[0, 9] == pytest.approx(1.0)  # token and label always together


def test_counts_and_dense_arrays_are_read_as_presence(notes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = notes
    counts = x * np.random.default_rng(2).integers(1, 6, size=x.shape)

    from_counts = mutual_info_gain(sp.csr_matrix(counts), sp.csr_matrix(y), top_k=None)
    from_dense = mutual_info_gain(counts, y, top_k=None)
    from_presence = mutual_info_gain(sp.csr_matrix(x), sp.csr_matrix(y), top_k=None)

    assert (from_counts != from_presence).nnz == 0
    assert (from_dense != from_presence).nnz == 0


def test_presence_matrix_marks_each_id_once_per_note() -> None:
    matrix = presence_matrix([[3, 1, 3, 3], [], np.array([0, 4, 4])], n_columns=5)

    assert matrix.shape == (3, 5)
    np.testing.assert_array_equal(matrix.toarray(), [[0, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 1]])
    assert presence_matrix([[], []], n_columns=2).nnz == 0


def test_presence_matrix_rejects_ids_outside_the_columns() -> None:
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        presence_matrix([[0, 4]], n_columns=4)


def test_top_tokens_ranks_by_score_then_token_id() -> None:
    mi = sp.csr_matrix(np.array([[0.0, 0.2, 0.5, 0.2, 0.1], [0.0, 0.0, 0.0, 0.0, 0.3]]))

    token_ids, scores = top_tokens(mi, 0, k=3)

    assert token_ids.tolist() == [2, 1, 3]
    assert scores.tolist() == [0.5, 0.2, 0.2]
    assert top_tokens(mi, 1, k=3)[0].tolist() == [4]
    with pytest.raises(IndexError):
        top_tokens(mi, 2, k=1)


def test_mismatched_note_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="same notes"):
        mutual_info_gain(sp.csr_matrix(np.ones((3, 2))), sp.csr_matrix(np.ones((4, 2))))
