"""How fast the ICD-10-CM type-ahead is: package load, search index build, and per-keystroke latency.

Run from the project root: `python -m bench.bench_code_search`. Prints medians and writes
bench/results/code_search.json.
"""

import importlib
import json
import os
import platform
import statistics
import time

import numpy as np

from bench import RESULTS_DIR

RESULTS = RESULTS_DIR / "code_search.json"
BUILD_REPEATS = 3
SEARCH_ROUNDS = 5
LIMIT = 20

# What coders type, one keystroke at a time: codes they know and words they look up.
TYPED_CODES = ["E11.9", "I10", "J44.1", "N18.30", "S72.001A", "F32.A", "Z79.4", "M54.50"]
TYPED_WORDS = [
    "type 2 diabetes chronic kidney",
    "essential hypertension",
    "congestive heart failure",
    "pneumonia",
    "atrial fibrillation",
    "urinary tract infection",
    "fracture of femur",
    "major depressive disorder",
]


def keystrokes(typed: list[str]) -> list[str]:
    """Every prefix of every string, in typing order, each once."""
    return list(dict.fromkeys(text[:end] for text in typed for end in range(1, len(text) + 1)))


def latency_ms(search, queries: list[str], billable_only: bool) -> dict[str, float]:
    """Each query's median over SEARCH_ROUNDS, then p50/p95/max over the queries."""
    per_query = {query: [] for query in queries}
    for _ in range(SEARCH_ROUNDS):
        for query in queries:
            started = time.perf_counter()
            search(query, limit=LIMIT, billable_only=billable_only)
            per_query[query].append((time.perf_counter() - started) * 1000)
    medians = np.array([statistics.median(times) for times in per_query.values()])
    slowest = max(per_query, key=lambda query: statistics.median(per_query[query]))
    return {
        "p50": float(np.percentile(medians, 50)),
        "p95": float(np.percentile(medians, 95)),
        "max": float(medians.max()),
        "slowest_query": slowest,
    }


def main() -> None:
    # Imported here rather than at the top so that loading the package's tabular list is timed.
    started = time.perf_counter()
    codes = importlib.import_module("plant_core.codes")
    import_s = time.perf_counter() - started

    build_s = []
    for _ in range(BUILD_REPEATS):
        for cached in (codes._all_codes, codes._billable_codes, codes._search_index):
            cached.cache_clear()
        started = time.perf_counter()
        codes._search_index()
        build_s.append(time.perf_counter() - started)

    code_queries, word_queries = keystrokes(TYPED_CODES), keystrokes(TYPED_WORDS)
    queries = code_queries + word_queries
    search_ms = {
        "all": latency_ms(codes.search, queries, billable_only=False),
        "code_prefixes": latency_ms(codes.search, code_queries, billable_only=False),
        "words": latency_ms(codes.search, word_queries, billable_only=False),
        "all_billable_only": latency_ms(codes.search, queries, billable_only=True),
    }
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "codes_indexed": len(codes._search_index().codes),
        "queries": len(queries),
        "limit": LIMIT,
        "import_s": import_s,
        "index_build_s_median": statistics.median(build_s),
        "index_build_s_runs": build_s,
        "search_ms": search_ms,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    print(f"import plant_core.codes (tabular list load): {import_s:.2f} s")
    print(f"search index build, median of {BUILD_REPEATS}: {results['index_build_s_median']:.2f} s")
    print(
        f"search latency over {len(queries)} keystroke queries (limit {LIMIT}), median of {SEARCH_ROUNDS} rounds:"
    )
    for name, figures in search_ms.items():
        print(
            f"  {name:18s} p50 {figures['p50']:6.2f} ms  p95 {figures['p95']:6.2f} ms  "
            f"max {figures['max']:6.2f} ms ({figures['slowest_query']!r})"
        )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
