"""Learning-to-rank pretraining (PLANT stage 2): for every label (the query), rank the vocabulary's tokens
(the documents) by their mutual-information gain with the label, with a factor model trained by
LambdaRank on NDCG@k. Its token and label factors are what PLANT plants into the decoder.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn


class FactorRanker(nn.Module):
    """s(t, l) = u_t · v_l + b_t + c_l."""

    def __init__(self, vocab_size: int, n_labels: int, n_factors: int):
        super().__init__()
        self.token_factors = nn.Embedding(vocab_size, n_factors)
        self.token_bias = nn.Embedding(vocab_size, 1)
        self.label_factors = nn.Embedding(n_labels, n_factors)
        self.label_bias = nn.Embedding(n_labels, 1)
        for emb in (self.token_factors, self.label_factors):
            nn.init.normal_(emb.weight, std=0.01)
        nn.init.zeros_(self.token_bias.weight)
        nn.init.zeros_(self.label_bias.weight)

    def forward(self, labels: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """labels (B,), tokens (B, m) -> scores (B, m)."""
        u = self.token_factors(tokens)  # (B, m, f)
        v = self.label_factors(labels).unsqueeze(-1)  # (B, f, 1)
        return (u @ v).squeeze(-1) + self.token_bias(tokens).squeeze(-1) + self.label_bias(labels)


def relevance_grades(mi: sp.csr_matrix, n_grades: int = 101) -> sp.csr_matrix:
    """Per label, the rank of each table token cut at `n_grades` log-spaced quantiles of the vocabulary.

    The best-ranked token gets grade `n_grades`, a token ranked last in the vocabulary grade 1, tokens
    outside the label's table grade 0 (absent). Log spacing gives the very top tokens fine grades and
    lumps the long tail together, as in the PLANT authors' code.
    """
    mi = mi.tocsr()
    n_tokens = mi.shape[1]
    edges = np.logspace(0, math.log10(max(n_tokens, 2)), n_grades)  # rank thresholds, 1 .. V
    grades = mi.copy().astype(np.float32)
    for row in range(mi.shape[0]):
        start, end = mi.indptr[row], mi.indptr[row + 1]
        if start == end:
            continue
        order = np.argsort(-mi.data[start:end], kind="stable")
        rank = np.empty(end - start, dtype=np.int64)
        rank[order] = np.arange(1, end - start + 1)
        grades.data[start:end] = n_grades - np.searchsorted(edges, rank, side="left")
    grades.data = np.maximum(grades.data, 1)
    return grades


def ndcg_at_k(scores: torch.Tensor, rel: torch.Tensor, k: int) -> torch.Tensor:
    """NDCG@k of each list (gain 2^rel - 1, discount 1/log2(1 + position)). scores, rel (B, m) -> (B,)."""
    m = scores.size(1)
    discount = 1.0 / torch.log2(torch.arange(2, m + 2, dtype=torch.float64, device=scores.device))
    discount[k:] = 0
    gains = torch.pow(2.0, rel.double()) - 1
    order = scores.argsort(dim=1, descending=True, stable=True)
    dcg = (gains.gather(1, order) * discount).sum(1)
    ideal = (gains.sort(dim=1, descending=True).values * discount).sum(1)
    return torch.where(ideal > 0, dcg / ideal.clamp_min(1e-12), torch.ones_like(dcg))


def lambdarank_gradients(scores: torch.Tensor, rel: torch.Tensor, sigma: float, k: int) -> torch.Tensor:
    """LambdaRank λ per document, the gradient of the ranking cost w.r.t. its score. (B, m) -> (B, m).

    For i ranked above j by relevance (rel_i > rel_j): λ_ij = -σ / (1 + exp(σ (s_i - s_j))) · |ΔNDCG@k_ij|,
    where ΔNDCG@k_ij is the change of NDCG@k if i and j swapped places in the current ranking.
    λ_i = Σ_j λ_ij - Σ_j λ_ji.
    """
    s = scores.detach().double()
    m = s.size(1)
    gains = torch.pow(2.0, rel.double()) - 1
    discount_by_position = 1.0 / torch.log2(torch.arange(2, m + 2, dtype=torch.float64, device=s.device))
    discount_by_position[k:] = 0
    order = s.argsort(dim=1, descending=True, stable=True)
    position = torch.empty_like(order)
    position.scatter_(1, order, torch.arange(m, device=s.device).expand_as(order))
    discount = discount_by_position[position]  # (B, m), each document's current discount
    ideal = (gains.sort(dim=1, descending=True).values * discount_by_position).sum(1, keepdim=True)
    delta = (gains.unsqueeze(2) - gains.unsqueeze(1)) * (discount.unsqueeze(2) - discount.unsqueeze(1))
    delta = delta.abs() / ideal.clamp_min(1e-12).unsqueeze(2)  # (B, m, m) |ΔNDCG@k_ij|
    above = rel.unsqueeze(2) > rel.unsqueeze(1)  # pairs (i, j) with rel_i > rel_j
    lam = -sigma / (1 + torch.exp(sigma * (s.unsqueeze(2) - s.unsqueeze(1)))) * delta * above
    return (lam.sum(2) - lam.sum(1)).to(scores.dtype)


class ListSampler:
    """Draws ranking lists: per label, relevant tokens stratified by grade, then random vocabulary tokens.

    Sampling relevant tokens by grade (ours) rather than uniformly over the vocabulary makes each list hold
    the distinctions NDCG@k is about; uniform lists would be almost all grade 0. A share of each label's
    table is held out to measure ranking on tokens the model never ranked in training.
    """

    def __init__(self, grades: sp.csr_matrix, list_size: int, heldout_fraction: float, seed: int):
        self.grades = grades.tocsr()
        self.grades.sort_indices()  # _grade_of binary-searches each label's tokens
        self.list_size = list_size
        self.n_tokens = grades.shape[1]
        self.rng = np.random.default_rng(seed)
        split_rng = np.random.default_rng(seed + 1)
        self.train_tokens, self.heldout_tokens = [], []
        for row in range(grades.shape[0]):
            tokens = self.grades.indices[self.grades.indptr[row] : self.grades.indptr[row + 1]]
            heldout = split_rng.random(tokens.size) < heldout_fraction
            if heldout.all():
                heldout[:] = False
            self.train_tokens.append(tokens[~heldout])
            self.heldout_tokens.append(tokens[heldout])

    @property
    def n_labels(self) -> int:
        return self.grades.shape[0]

    def _grade_of(self, label: int, tokens: np.ndarray) -> np.ndarray:
        start, end = self.grades.indptr[label], self.grades.indptr[label + 1]
        row_tokens, row_grades = self.grades.indices[start:end], self.grades.data[start:end]
        if row_tokens.size == 0:
            return np.zeros(tokens.size, np.float32)
        position = np.minimum(np.searchsorted(row_tokens, tokens), row_tokens.size - 1)
        return np.where(row_tokens[position] == tokens, row_grades[position], 0).astype(np.float32)

    def _list(self, label: int, relevant: np.ndarray, stratified: bool) -> tuple[np.ndarray, np.ndarray]:
        n_rel = min(relevant.size, self.list_size // 2)
        if n_rel and stratified:
            grade = self._grade_of(label, relevant)
            # Equal chance per distinct grade, then per token within its grade.
            per_grade = np.unique(grade, return_counts=True)
            weight = 1.0 / per_grade[1][np.searchsorted(per_grade[0], grade)]
            chosen = self.rng.choice(relevant, size=n_rel, replace=False, p=weight / weight.sum())
        else:
            chosen = relevant[:n_rel]
        fill = self.rng.integers(2, self.n_tokens, size=self.list_size - n_rel)  # skip <pad>, <unk>
        tokens = np.concatenate([chosen, fill])
        return tokens, self._grade_of(label, tokens)

    def training_batch(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lists = [self._list(int(label), self.train_tokens[label], stratified=True) for label in labels]
        return np.stack([t for t, _ in lists]), np.stack([g for _, g in lists])

    def heldout_batch(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lists of each label's held-out tokens among random ones; labels without held-out tokens dropped."""
        keep = np.array([self.heldout_tokens[label].size > 0 for label in labels], dtype=bool)
        labels = labels[keep]
        lists = [self._list(int(label), self.heldout_tokens[label], stratified=False) for label in labels]
        if not lists:
            return labels, np.zeros((0, self.list_size), np.int64), np.zeros((0, self.list_size))
        return labels, np.stack([t for t, _ in lists]), np.stack([g for _, g in lists])
