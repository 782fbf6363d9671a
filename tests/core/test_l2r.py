import itertools
import math

import numpy as np
import scipy.sparse as sp
import torch

from plant_core.l2r import FactorRanker, ListSampler, lambdarank_gradients, ndcg_at_k, relevance_grades


def brute_ndcg(scores, rel, k):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    dcg = sum((2 ** rel[i] - 1) / math.log2(pos + 2) for pos, i in enumerate(order[:k]))
    ideal = sum((2**r - 1) / math.log2(pos + 2) for pos, r in enumerate(sorted(rel, reverse=True)[:k]))
    return dcg / ideal if ideal > 0 else 1.0


def test_ndcg_matches_a_hand_computation():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3]])
    rel = torch.tensor([[3.0, 0.0, 1.0, 2.0]])
    # ranking: doc1 (0), doc2 (1), doc3 (2), doc0 (3)
    dcg = 0 / math.log2(2) + 1 / math.log2(3) + 3 / math.log2(4) + 7 / math.log2(5)
    ideal = 7 / math.log2(2) + 3 / math.log2(3) + 1 / math.log2(4)
    assert math.isclose(ndcg_at_k(scores, rel, 4).item(), dcg / ideal, rel_tol=1e-9)
    assert math.isclose(ndcg_at_k(scores, rel, 2).item(), brute_ndcg([0.1, 0.9, 0.5, 0.3], [3, 0, 1, 2], 2))


def test_lambdas_match_brute_force_swaps():
    rng = np.random.default_rng(0)
    m, k, sigma = 7, 4, 0.5
    scores = rng.normal(size=m)
    rel = rng.integers(0, 4, size=m).astype(float)
    lam = lambdarank_gradients(torch.from_numpy(scores[None]), torch.from_numpy(rel[None]), sigma, k)[0].numpy()

    base = brute_ndcg(list(scores), list(rel), k)
    expected = np.zeros(m)
    for i, j in itertools.permutations(range(m), 2):
        if rel[i] <= rel[j]:
            continue
        # ΔNDCG of swapping i and j in the current ranking = swapping their scores.
        swapped = scores.copy()
        swapped[i], swapped[j] = scores[j], scores[i]
        delta = abs(brute_ndcg(list(swapped), list(rel), k) - base)
        lam_ij = -sigma / (1 + math.exp(sigma * (scores[i] - scores[j]))) * delta
        expected[i] += lam_ij
        expected[j] -= lam_ij
    np.testing.assert_allclose(lam, expected, atol=1e-9)


def test_lambdas_push_relevant_documents_up():
    scores = torch.zeros(1, 5)
    rel = torch.tensor([[0.0, 0.0, 3.0, 0.0, 1.0]])
    lam = lambdarank_gradients(scores, rel, 1.0, 5)[0]
    # The gradient of the cost is negative (raise the score) for relevant documents.
    assert lam[2] < lam[4] < 0
    assert (lam[[0, 1, 3]] > 0).all()


def test_relevance_grades_are_log_quantiles_of_rank():
    mi = sp.csr_matrix(np.array([[0.5, 0.0, 0.1, 0.3, 0.0, 0.05] + [0.0] * 94]))
    grades = relevance_grades(mi, n_grades=101).toarray()[0]
    assert grades[0] == 101  # best token, best grade
    assert grades[0] > grades[3] > grades[2] > grades[5] > 0
    assert grades[1] == 0 and grades[4] == 0  # not in the table


def _toy_problem(n_labels=40, n_tokens=400, n_factors=6, seed=0):
    """MI-like tables with low-rank structure: a factor model can generalise to held-out tokens."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n_labels, n_factors)) @ rng.normal(size=(n_factors, n_tokens))
    table = np.where(truth > np.quantile(truth, 0.9, axis=1, keepdims=True), truth, 0)
    return sp.csr_matrix(table)


def test_l2r_training_raises_heldout_ndcg():
    torch.manual_seed(0)
    mi = _toy_problem()
    grades = relevance_grades(mi, n_grades=20)
    sampler = ListSampler(grades, list_size=32, heldout_fraction=0.2, seed=0)
    model = FactorRanker(mi.shape[1], mi.shape[0], n_factors=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    labels = np.arange(mi.shape[0])

    def heldout():
        with torch.no_grad():
            kept, tokens, rel = sampler.heldout_batch(labels)
            scores = model(torch.from_numpy(kept), torch.from_numpy(tokens))
            return ndcg_at_k(scores, torch.from_numpy(rel), 10).mean().item()

    before = heldout()
    for _ in range(150):
        tokens, rel = sampler.training_batch(labels)
        scores = model(torch.from_numpy(labels), torch.from_numpy(tokens))
        optimizer.zero_grad()
        scores.backward(lambdarank_gradients(scores, torch.from_numpy(rel), 0.5, 10) / len(labels))
        optimizer.step()
    after = heldout()
    assert after > before + 0.15, (before, after)


def test_sampled_lists_hold_relevant_tokens_and_their_grades():
    mi = _toy_problem()
    grades = relevance_grades(mi)
    sampler = ListSampler(grades, list_size=16, heldout_fraction=0.0, seed=1)
    tokens, rel = sampler.training_batch(np.array([0, 1, 2]))
    assert tokens.shape == rel.shape == (3, 16)
    assert (rel[:, :8] > 0).all()  # half of each list is relevant tokens
    dense = grades.toarray()
    for row, label in enumerate([0, 1, 2]):
        np.testing.assert_array_equal(rel[row], dense[label, tokens[row]])
