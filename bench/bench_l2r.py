"""L2R stage cost at benchmark-corpus scale: 8,000 labels, a 40,000-token vocabulary, the top 1,000
tokens per label (the MI table's shape). Times grading the table and one LambdaRank epoch (every label's
list once) with the demo (64) and paper (400) factor sizes, and the process's peak memory. CPU.

    python -m bench.bench_l2r [--labels 8000] [--tokens 40000] [--top-k 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
import scipy.sparse as sp
import torch

from bench import RESULTS_DIR
from plant_core.l2r import FactorRanker, ListSampler, lambdarank_gradients, relevance_grades

RESULTS = RESULTS_DIR / "l2r.json"


def mi_like_table(n_labels: int, n_tokens: int, top_k: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_labels), top_k)
    cols = np.concatenate([rng.choice(n_tokens, top_k, replace=False) for _ in range(n_labels)])
    return sp.csr_matrix((rng.gamma(0.5, 0.01, rows.size), (rows, cols)), shape=(n_labels, n_tokens))


def epoch(model, sampler, optimizer, n_labels: int, lists_per_batch: int, rng) -> float:
    started = time.perf_counter()
    for labels in np.array_split(rng.permutation(n_labels), max(1, n_labels // lists_per_batch)):
        tokens, rel = sampler.training_batch(labels)
        scores = model(torch.from_numpy(labels), torch.from_numpy(tokens))
        optimizer.zero_grad()
        scores.backward(lambdarank_gradients(scores, torch.from_numpy(rel), 0.5, 15) / len(labels))
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=8000)
    parser.add_argument("--tokens", type=int, default=40000)
    parser.add_argument("--top-k", type=int, default=1000)
    args = parser.parse_args()
    table = mi_like_table(args.labels, args.tokens, args.top_k)
    started = time.perf_counter()
    grades = relevance_grades(table)
    grading_s = time.perf_counter() - started
    sampler = ListSampler(grades, list_size=64, heldout_fraction=0.1, seed=0)
    result = {"labels": args.labels, "tokens": args.tokens, "top_k": args.top_k, "threads": torch.get_num_threads(),
              "grading_s": round(grading_s, 2), "epochs": {}}
    for factors in (64, 400):
        model = FactorRanker(args.tokens, args.labels, factors)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
        rng = np.random.default_rng(0)
        times = [epoch(model, sampler, optimizer, args.labels, 64, rng) for _ in range(3)]
        result["epochs"][str(factors)] = {"median_s": round(statistics.median(times), 2), "runs_s": [round(t, 2) for t in times]}
        print(f"{factors:3d} factors: one epoch over {args.labels} labels, median {statistics.median(times):.2f} s")
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"grading {grading_s:.2f} s, peak RSS {result['peak_rss_mb']} MB")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
