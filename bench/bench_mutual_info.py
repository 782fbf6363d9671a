"""Time and memory of sparse mutual-information gain on random data shaped like a training split.

Run from the project root: `python -m bench.bench_mutual_info [--scale bench|mimic4]`. Prints medians and
adds that scale's figures to bench/results/mutual_info.json.
"""

import argparse
import ctypes
import json
import os
import platform
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp

from bench import RESULTS_DIR
from plant_core.mutual_info import mutual_info_gain, presence_matrix

RESULTS = RESULTS_DIR / "mutual_info.json"
TOP_K = 1000
RSS_METHOD = "VmHWM after malloc_trim and resetting it, minus VmRSS at start"
EVIDENCE_TOKENS_PER_LABEL = 3  # tokens planted with each label, so that MI has real signal to find


@dataclass(frozen=True)
class Scale:
    n_notes: int
    n_labels: int
    n_tokens: int
    repeats: int


SCALES = {
    "bench": Scale(n_notes=50_000, n_labels=8_000, n_tokens=40_000, repeats=3),
    "mimic4": Scale(n_notes=122_000, n_labels=7_900, n_tokens=50_000, repeats=1),
}
# Small enough for the dense (labels × tokens) computation the sparse one replaces.
NAIVE_SCALE = Scale(n_notes=10_000, n_labels=2_000, n_tokens=10_000, repeats=3)


def zipf_weights(n: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def draws_for_distinct(weights: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """How many draws with replacement give, on average, each requested number of distinct ids."""
    trial_draws = np.unique(np.geomspace(1, 50 * weights.size, 400).astype(np.int64))
    expected_distinct = np.array([np.sum(1 - (1 - weights) ** m) for m in trial_draws])
    return np.ceil(np.interp(distinct, expected_distinct, trial_draws)).astype(np.int64)


def draw_id_lists(rng: np.random.Generator, weights: np.ndarray, draws: np.ndarray) -> list[np.ndarray]:
    """Per note, `draws[note]` ids drawn with replacement from the weights (repeats kept)."""
    cdf = np.cumsum(weights)
    flat = np.searchsorted(cdf, rng.random(int(draws.sum())) * cdf[-1]).astype(np.int32)
    return np.split(flat, np.cumsum(draws)[:-1])


def synthetic_training_split(scale: Scale, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Token-id and label-index lists: Zipf labels (3-25 per note) and Zipf tokens (~400-800 distinct
    per note), each label adding a few evidence tokens from the middle of the frequency range."""
    rng = np.random.default_rng(seed)
    label_lists = draw_id_lists(rng, zipf_weights(scale.n_labels), rng.integers(3, 26, scale.n_notes))
    token_weights = zipf_weights(scale.n_tokens)
    token_draws = draws_for_distinct(token_weights, rng.integers(400, 801, scale.n_notes))
    token_lists = draw_id_lists(rng, token_weights, token_draws)

    evidence = rng.integers(scale.n_tokens // 20, scale.n_tokens, (scale.n_labels, EVIDENCE_TOKENS_PER_LABEL))
    token_lists = [
        np.concatenate([tokens, evidence[labels].ravel().astype(np.int32)])
        for tokens, labels in zip(token_lists, label_lists, strict=True)
    ]
    return token_lists, label_lists


def naive_dense_mi(X: sp.csr_matrix, Y: sp.csr_matrix, top_k: int) -> np.ndarray:
    """The straightforward computation: dense (labels, tokens) tables, the same positive-only top-k."""
    n_notes = X.shape[0]
    n_tl = (Y.T @ X).toarray().astype(np.float64)
    n_t = np.asarray(X.sum(axis=0), dtype=np.float64)
    n_l = np.asarray(Y.sum(axis=0), dtype=np.float64).T
    mi = np.zeros_like(n_tl)
    for n_cell, token_side, label_side in (
        (n_tl, n_t, n_l),
        (n_t - n_tl, n_t, n_notes - n_l),
        (n_l - n_tl, n_notes - n_t, n_l),
        (n_notes - n_t - n_l + n_tl, n_notes - n_t, n_notes - n_l),
    ):
        p_cell = n_cell / n_notes
        with np.errstate(divide="ignore", invalid="ignore"):
            mi += np.where(p_cell > 0, p_cell * np.log(p_cell / (token_side * label_side / n_notes**2)), 0.0)
    mi[n_tl * n_notes <= n_t * n_l] = 0.0
    cut = np.argsort(-mi, axis=1, kind="stable")[:, top_k:]
    np.put_along_axis(mi, cut, 0.0, axis=1)
    return mi


def _vm_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def hand_free_memory_back_to_the_os() -> None:
    """glibc keeps freed blocks for reuse, so a call run after another would allocate from memory
    already resident and its peak would hide; malloc_trim returns them first."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        print("not glibc: the RSS peaks of later calls may be understated")


def peak_rss_above_start_mib(run: Callable[[], object]) -> tuple[float, str]:
    """Peak resident memory the call adds above what the process held when it started.

    On Linux the high-water mark is reset first (/proc/self/clear_refs "5") and VmHWM read after;
    elsewhere the ru_maxrss delta, which undercounts when an earlier peak was higher.
    """
    hand_free_memory_back_to_the_os()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        start_kib = _vm_kib("VmRSS")
        run()
        return (_vm_kib("VmHWM") - start_kib) / 1024, RSS_METHOD
    except (OSError, TypeError):
        start_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run()
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_kib) / 1024, "ru_maxrss delta"


def traced_peak_mib(run: Callable[[], object]) -> float:
    """Peak of the allocations tracemalloc sees during the call (NumPy and SciPy arrays included)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def timed(run: Callable[[], object], repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return seconds


def measure(run: Callable[[], object], repeats: int) -> dict:
    seconds = timed(run, repeats)
    rss_mib, rss_method = peak_rss_above_start_mib(run)
    return {
        "median_s": statistics.median(seconds),
        "runs_s": seconds,
        "peak_rss_above_start_mib": rss_mib,
        "rss_method": rss_method,
        "tracemalloc_peak_mib": traced_peak_mib(run),
    }


def data_shape(X: sp.csr_matrix, Y: sp.csr_matrix) -> dict:
    return {
        "notes": X.shape[0],
        "tokens": X.shape[1],
        "labels": Y.shape[1],
        "distinct_tokens_per_note_mean": float(X.getnnz(axis=1).mean()),
        "labels_per_note_mean": float(Y.getnnz(axis=1).mean()),
        "labels_seen": int((Y.getnnz(axis=0) > 0).sum()),
        "x_mib": (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20,
    }


def presence_matrices(scale: Scale, seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix, dict]:
    """X (notes, tokens) and Y (notes, labels) of a synthetic split, and how long building X took."""
    token_lists, label_lists = synthetic_training_split(scale, seed)
    build = measure(lambda: presence_matrix(token_lists, scale.n_tokens), scale.repeats)
    return presence_matrix(token_lists, scale.n_tokens), presence_matrix(label_lists, scale.n_labels), build


def bench_scale(name: str) -> dict:
    scale = SCALES[name]
    print(f"[{name}] generating {scale.n_notes} notes × {scale.n_tokens} tokens × {scale.n_labels} labels")
    X, Y, build = presence_matrices(scale)
    shape = data_shape(X, Y)
    print(f"[{name}] {shape}")
    print(f"[{name}] presence_matrix: median {build['median_s']:.2f} s")

    variants = {}
    for variant, kwargs in {
        "positive_only": {},
        "positive_only_jaccard": {"normalise": "jaccard"},
        "all_pairs": {"positive_only": False},
    }.items():
        repeats = scale.repeats if variant == "positive_only" else 1
        result = measure(lambda kwargs=kwargs: mutual_info_gain(X, Y, top_k=TOP_K, **kwargs), repeats)
        variants[variant] = result
        print(
            f"[{name}] mutual_info_gain {variant}: median {result['median_s']:.2f} s of {repeats}, "
            f"peak RSS +{result['peak_rss_above_start_mib']:.0f} MiB, "
            f"tracemalloc peak {result['tracemalloc_peak_mib']:.0f} MiB"
        )
    return {
        "scale": asdict(scale),
        "data": shape,
        "top_k": TOP_K,
        "presence_matrix": build,
        **variants,
        "process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def bench_against_naive() -> dict:
    scale = NAIVE_SCALE
    X, Y, _ = presence_matrices(scale, seed=1)
    sparse_table = mutual_info_gain(X, Y, top_k=TOP_K).toarray()
    dense_table = naive_dense_mi(X, Y, TOP_K)
    agree = bool(np.allclose(sparse_table, dense_table, atol=1e-12))

    sparse = measure(lambda: mutual_info_gain(X, Y, top_k=TOP_K), scale.repeats)
    dense = measure(lambda: naive_dense_mi(X, Y, TOP_K), scale.repeats)
    dense_cells = scale.n_labels * scale.n_tokens
    ratios = {
        "time_dense_over_sparse": dense["median_s"] / sparse["median_s"],
        "tracemalloc_dense_over_sparse": dense["tracemalloc_peak_mib"] / sparse["tracemalloc_peak_mib"],
        "rss_dense_over_sparse": dense["peak_rss_above_start_mib"] / sparse["peak_rss_above_start_mib"],
        # What the dense way needs per (label, token) cell, to scale it to a full label set.
        "dense_traced_bytes_per_cell": dense["tracemalloc_peak_mib"] * 2**20 / dense_cells,
    }
    print(
        f"[naive {scale.n_notes}×{scale.n_tokens}×{scale.n_labels}] sparse {sparse['median_s']:.2f} s, "
        f"dense {dense['median_s']:.2f} s (×{ratios['time_dense_over_sparse']:.1f}); tracemalloc peak "
        f"sparse {sparse['tracemalloc_peak_mib']:.0f} MiB, dense {dense['tracemalloc_peak_mib']:.0f} MiB; "
        f"same table: {agree}"
    )
    return {
        "scale": asdict(scale),
        "data": data_shape(X, Y),
        "same_table": agree,
        "sparse": sparse,
        "dense": dense,
        **ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="bench")
    args = parser.parse_args()

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.scale] = bench_scale(args.scale)
    results["naive_dense_comparison"] = bench_against_naive()
    results["machine"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
