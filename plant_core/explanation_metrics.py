"""Scoring explanations against gold evidence: does a code's most-attended token lie in the text that
justifies the code, or in a mention that must not be coded (a negation, family history, a rule-out)?

Pure functions over token offsets, token weights and character spans; `bench/bench_explanations.py`
applies them to every correctly predicted code of a test split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def tokens_in_spans(offsets: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Bool (tokens,): whether each token (start, end) overlaps any character span [start, end)."""
    inside = np.zeros(len(offsets), dtype=bool)
    if len(offsets) == 0:
        return inside
    starts, ends = np.asarray(offsets)[:, 0], np.asarray(offsets)[:, 1]
    for span_start, span_end in spans:
        inside |= (starts < span_end) & (ends > span_start) & (ends > starts)
    return inside


@dataclass(frozen=True)
class ExplanationScore:
    """One explained code: where its top tokens fall."""

    top1_in_evidence: bool
    top5_any_in_evidence: bool
    top5_share_in_evidence: float
    top1_in_distractor: bool
    chance_top1_in_evidence: float  # the share of the note's tokens that are evidence


def score_explanation(
    weights: np.ndarray, in_evidence: np.ndarray, in_distractor: np.ndarray, k: int = 5
) -> ExplanationScore:
    """Scores one code's token weights (tokens,) given which tokens are its evidence and which lie in
    distractor mentions. Ties rank the earlier token first; tokens of weight 0 never count as attended."""
    order = np.argsort(-weights, kind="stable")
    top = order[:k]
    top = top[weights[top] > 0]
    top1 = top[:1]
    return ExplanationScore(
        top1_in_evidence=bool(in_evidence[top1].any()),
        top5_any_in_evidence=bool(in_evidence[top].any()),
        top5_share_in_evidence=float(in_evidence[top].mean()) if top.size else 0.0,
        top1_in_distractor=bool(in_distractor[top1].any()),
        chance_top1_in_evidence=float(in_evidence.mean()) if in_evidence.size else 0.0,
    )


def summarise(scores: Sequence[ExplanationScore]) -> dict[str, float]:
    """Rates over many explained codes (NaN when there are none)."""
    if not scores:
        return {name: float("nan") for name in ExplanationScore.__dataclass_fields__} | {"n": 0}
    return {
        name: float(np.mean([getattr(s, name) for s in scores])) for name in ExplanationScore.__dataclass_fields__
    } | {"n": len(scores)}
