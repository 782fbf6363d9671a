"""What each part of PLANT buys: PLANT with one part removed or switched back to the paper's choice, at a
tenth of the training notes (where planting matters most; `--fractions` adds others), scored on the
test split like the data-efficiency runs. Also LANT given three times the epochs, to show how far the
equal-budget comparison is from LANT's own best.

    python -m bench.bench_ablations [--corpus small|demo] [--fractions 0.1 [1.0]] [--seed 0] [--jobs 2]

Shares the model folder and stage cache of `bench.bench_data_efficiency` (run that first: the plain PLANT
and LANT models are its runs, and the variants reuse its tokenizers, language models, MI tables and L2R
factors). Writes `bench/results/ablations.json`.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench import RESULTS_DIR
from bench.bench_data_efficiency import SETTINGS, ensure_corpus, gold_matrix, score_run, train_neural
from plant_core.coder import Coder
from plant_core.corpus.subsets import rare_labels
from plant_core.dataset import label_space, load_dataset

RESULTS = RESULTS_DIR / "ablations.json"

# name: (system, overrides). "plant" and "lant" are the data-efficiency runs themselves.
VARIANTS = {
    "plant": ("plant", ()),
    "no L2R stage (MI factorised and planted)": ("plant", ("decoder.planted_source=mi",)),
    "no gradual unfreezing (all layers from the start)": ("plant", ('classifier.schedule=[["all", 4]]',)),
    "no static branch (learned + planted)": ("plant", ("decoder.static_branch=false",)),
    "no learned branch (planted + static)": ("plant", ("decoder.learned_branch=false",)),
    "static branch with raw MI (paper)": ("plant", ("decoder.static_scale=raw",)),
    "label bias U(-0.1, 0.1) (paper)": ("plant", ("decoder.bias_init=uniform",)),
    "lant": ("lant", ()),
    "lant, 3x the epochs": ("lant", ('classifier.schedule=[["head", 3], ["lstm_top", 3], ["all", 6]]',)),
}


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")[:60]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=sorted(SETTINGS), default="small")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), metavar="NAME",
                        help="a subset of the variants (default: all)")
    args = parser.parse_args()
    setting = SETTINGS[args.corpus]
    work = args.work or Path(__file__).parent / "out" / "data_efficiency" / args.corpus
    data_dir = work / "data"
    ensure_corpus(setting.corpus, data_dir)
    dataset = load_dataset(data_dir)
    labels, counts = label_space(dataset["train"])
    train_counts = np.array([counts[code] for code in labels])
    gold = gold_matrix(dataset["test"], labels)
    rare50_codes = set(rare_labels(dataset, 50, 5))
    rare50 = np.array([code in rare50_codes for code in labels])
    test_texts = [note.text for note in dataset["test"]]
    cache = work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def one(name: str, fraction: float) -> dict:
        system, overrides = VARIANTS[name]
        run_name = f"{system}-f{fraction}-s{args.seed}" if not overrides else f"ablation-{slug(name)}-f{fraction}-s{args.seed}"
        model_dir = work / "runs" / run_name
        wall = train_neural(system, setting, data_dir, model_dir, cache, fraction, args.seed, overrides)
        coder = Coder.load(model_dir)
        meta = coder.info()
        row, details = score_run(system, fraction, args.seed, meta["data"]["train_notes"], gold,
                                 coder.predict_proba(test_texts), coder.threshold_, train_counts, rare50, {})
        result = {"variant": name, "overrides": list(overrides), **row, "buckets": details["buckets"],
                  "wall_s": round(wall, 1), "classifier_s": round(meta["timings_s"].get("classifier", 0.0), 1)}
        print(f"{name:52s} fraction {fraction:<4} P@5 {row['p@5']:.3f} P@15 {row['p@15']:.3f} "
              f"micro-F1 {row['micro_f1']:.3f} macro-F1 {row['macro_f1']:.3f} rare {row['macro_f1_rare']:.3f}", flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(one, name, f) for f in args.fractions for name in args.variants]
        rows = [future.result() for future in futures]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"corpus": setting.corpus, "seed": args.seed,
                                   "wall_s": round(time.perf_counter() - started, 1), "rows": rows}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
