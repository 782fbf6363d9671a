import numpy as np
import pytest

from plant_core.explanation_metrics import score_explanation, summarise, tokens_in_spans

OFFSETS = np.array([[0, 3], [4, 9], [10, 12], [13, 20], [21, 25], [26, 26]])  # the last is empty


def test_tokens_overlapping_a_span_count_as_inside():
    inside = tokens_in_spans(OFFSETS, [(5, 11), (22, 23)])
    # [4,9) and [10,12) overlap [5,11); [21,25) overlaps [22,23); an empty token never counts.
    assert inside.tolist() == [False, True, True, False, True, False]
    assert tokens_in_spans(OFFSETS, []).tolist() == [False] * 6
    assert tokens_in_spans(np.zeros((0, 2), dtype=int), [(0, 5)]).size == 0


def test_spans_touching_a_token_without_overlap_do_not_count():
    assert tokens_in_spans(OFFSETS, [(3, 4), (20, 21)]).tolist() == [False] * 6


def test_a_top_token_in_evidence_and_a_distractor_elsewhere_in_the_top_five():
    weights = np.array([0.1, 0.9, 0.0, 0.5, 0.3, 0.2])
    in_evidence = np.array([False, True, False, False, False, False])
    in_distractor = np.array([False, False, False, True, False, False])
    score = score_explanation(weights, in_evidence, in_distractor, k=5)
    assert score.top1_in_evidence and score.top5_any_in_evidence and not score.top1_in_distractor
    # Top 5 by weight: tokens 1, 3, 4, 5, 0 (token 2 has weight 0 and would not count anyway).
    assert score.top5_share_in_evidence == pytest.approx(1 / 5)
    assert score.chance_top1_in_evidence == pytest.approx(1 / 6)


def test_zero_weights_are_never_attended():
    score = score_explanation(np.zeros(4), np.array([True, True, False, False]), np.zeros(4, bool))
    assert not score.top1_in_evidence and not score.top5_any_in_evidence and score.top5_share_in_evidence == 0.0


def test_a_distractor_with_the_most_attention_is_reported():
    score = score_explanation(np.array([0.2, 0.7]), np.array([True, False]), np.array([False, True]))
    assert not score.top1_in_evidence and score.top1_in_distractor and score.top5_any_in_evidence


def test_summary_rates_and_the_empty_case():
    a = score_explanation(np.array([1.0, 0.0]), np.array([True, False]), np.array([False, False]))
    b = score_explanation(np.array([0.0, 1.0]), np.array([True, False]), np.array([False, True]))
    summary = summarise([a, b])
    assert summary["n"] == 2 and summary["top1_in_evidence"] == 0.5 and summary["top1_in_distractor"] == 0.5
    assert summarise([])["n"] == 0 and np.isnan(summarise([])["top1_in_evidence"])
