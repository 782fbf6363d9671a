"""Data-efficiency curves: PLANT, LANT and the TF-IDF baseline trained on 1/20, 1/10, 1/5, 1/2 and all of
the training split, three seeds each, every model scored by the same `metrics.evaluate` on the same test
split. Writes `bench/results/data_efficiency.json` (one row per run, the issue's contract) and
`data_efficiency_details.json` (frequency buckets, the rare-50 subset, thresholds, timings).

    python -m bench.bench_data_efficiency                     # quick set: the `small` corpus (~15 min, 2 cores)
    python -m bench.bench_data_efficiency --corpus demo       # full set: the demo corpus and config (~1.5 h)

Neural runs go through the CLI (`python -m plant_core train --fraction F --seed S`) in `--jobs` parallel
processes of one thread each (on a CPU, two one-thread processes finish sooner than one two-thread
process); each (fraction, seed) trains PLANT, then LANT on the same stage cache, so LANT reuses the
tokenizer and language model PLANT trained on those notes. A run whose model is already on disk is
scored again, not retrained, so an interrupted benchmark resumes where it stopped.

"Rare" codes are those with 1 to 5 notes in the *whole* training split, the same set for every
fraction, so the curves follow one set of codes as data grows (at 1/20 most of them are unseen).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bench import RESULTS_DIR
from plant_core import metrics
from plant_core.coder import Coder
from plant_core.config import Config
from plant_core.corpus.records import Note
from plant_core.corpus.subsets import rare_labels
from plant_core.dataset import label_space, load_dataset, training_subset
from plant_core.tfidf_baseline import C_GRID, TfidfBaseline

FRACTIONS = (0.05, 0.1, 0.2, 0.5, 1.0)
SEEDS = (0, 1, 2)
RARE_MAX_TRAIN_NOTES = 5
ROW_METRICS = ("p@5", "p@8", "p@15", "micro_f1", "macro_f1", "micro_auc", "macro_auc")


@dataclass(frozen=True)
class Setting:
    """A corpus preset and the model config trained on it."""

    corpus: str
    config: str
    overrides: tuple[str, ...] = ()


SETTINGS = {
    # The quick set: the `small` corpus (2,000 training notes of ~220 words over 1,000 codes), the demo
    # model with notes read up to 320 tokens.
    "small": Setting("small", "demo", ("classifier.max_train_tokens=320",)),
    # The full set: the corpus and model `make run` builds.
    "demo": Setting("demo", "demo"),
}


def ensure_corpus(name: str, data_dir: Path) -> None:
    if not (data_dir / "train.jsonl").exists():
        subprocess.run(
            [sys.executable, "-m", "plant_core", "synth", "--config", name, "--out", str(data_dir)], check=True
        )


def gold_matrix(notes: list[Note], labels: list[str]) -> sp.csr_matrix:
    index = {code: i for i, code in enumerate(labels)}
    rows, cols = [], []
    for row, note in enumerate(notes):
        for code in set(note.codes):
            if code in index:
                rows.append(row)
                cols.append(index[code])
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(notes), len(labels)))


def score_run(
    system: str, fraction: float, seed: int, train_notes: int, gold: sp.csr_matrix, scores: np.ndarray,
    threshold: float, train_counts: np.ndarray, rare50: np.ndarray, extra: dict,
) -> tuple[dict, dict]:
    """(the contract's row, the details) of one trained system on the test split."""
    report = metrics.evaluate(gold, scores, threshold=threshold)
    buckets = metrics.macro_f1_by_frequency(gold, scores, train_counts, threshold)
    row = {
        "system": system, "fraction": fraction, "seed": seed, "train_notes": train_notes,
        **{k: round(float(report[k]), 4) for k in ROW_METRICS},
        "macro_f1_rare": round(float(buckets[f"1-{RARE_MAX_TRAIN_NOTES}"]["macro_f1"]), 4),
    }
    rare50_report = metrics.evaluate(gold, scores, threshold=threshold, label_mask=rare50)
    details = {
        "system": system, "fraction": fraction, "seed": seed, "threshold": float(threshold),
        "buckets": buckets,
        "rare50": {k: round(float(rare50_report[k]), 4) for k in ("micro_f1", "macro_f1", "micro_auc", "macro_auc", "p@5")},
        "micro_f1_at_0.5": round(float(metrics.evaluate(gold, scores, threshold=0.5)["micro_f1"]), 4),
        **extra,
    }
    return row, details


def train_neural(
    system: str, setting: Setting, data_dir: Path, out: Path, cache: Path, fraction: float, seed: int,
    overrides: tuple[str, ...] = (),
) -> float:
    """Trains one model through the CLI unless it is on disk already; returns the wall time (0 if reused).
    `overrides` (`section.field=value`) come after the setting's own."""
    if (out / "config.json").exists():
        return 0.0
    command = [
        sys.executable, "-m", "plant_core", "train", "--system", system, "--data", str(data_dir),
        "--out", str(out), "--config", setting.config, "--fraction", str(fraction), "--seed", str(seed),
        "--device", "cpu", "--cache", str(cache),
    ]  # fmt: skip
    for override in (*setting.overrides, *overrides):
        command += ["--set", override]
    env = {**os.environ, "PLANT_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=sorted(SETTINGS), default="small")
    parser.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--systems", nargs="+", choices=("plant", "lant", "tfidf"), default=["plant", "lant", "tfidf"])
    parser.add_argument("--jobs", type=int, default=2, help="neural runs trained at once, one thread each")
    parser.add_argument("--work", type=Path, default=None, help="where models are kept (default bench/out/data_efficiency/<corpus>)")
    args = parser.parse_args()

    setting = SETTINGS[args.corpus]
    work = args.work or Path(__file__).parent / "out" / "data_efficiency" / args.corpus
    data_dir = work / "data"
    ensure_corpus(setting.corpus, data_dir)
    dataset = load_dataset(data_dir)
    labels, counts = label_space(dataset["train"])
    train_counts = np.array([counts[code] for code in labels])
    test_texts = [note.text for note in dataset["test"]]
    gold = gold_matrix(dataset["test"], labels)
    rare50_codes = set(rare_labels(dataset, 50, RARE_MAX_TRAIN_NOTES))
    rare50 = np.array([code in rare50_codes for code in labels])
    started = time.perf_counter()

    rows, details = [], []

    def record(row_and_details: tuple[dict, dict]) -> None:
        row, detail = row_and_details
        rows.append(row)
        details.append(detail)
        print(f"{row['system']:6s} fraction {row['fraction']:<5} seed {row['seed']}  notes {row['train_notes']:5d}  "
              f"P@5 {row['p@5']:.3f}  P@15 {row['p@15']:.3f}  micro-F1 {row['micro_f1']:.3f}  "
              f"macro-F1 {row['macro_f1']:.3f}  rare {row['macro_f1_rare']:.3f}", flush=True)

    def neural_pair(fraction: float, seed: int) -> list[tuple[dict, dict]]:
        out = []
        cache = work / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        for system in (s for s in ("plant", "lant") if s in args.systems):
            model_dir = work / "runs" / f"{system}-f{fraction}-s{seed}"
            wall = train_neural(system, setting, data_dir, model_dir, cache, fraction, seed)
            coder = Coder.load(model_dir)
            if coder.labels_ != labels:
                raise RuntimeError(f"{model_dir}: label space differs from the corpus's; delete it and rerun")
            scores = coder.predict_proba(test_texts)
            meta = coder.info()
            extra = {"wall_s": round(wall, 1), "timings_s": {k: round(v, 1) for k, v in meta["timings_s"].items()},
                     "model_dir": str(model_dir)}
            out.append(score_run(system, fraction, seed, meta["data"]["train_notes"], gold, scores,
                                 coder.threshold_, train_counts, rare50, extra))
        return out

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(neural_pair, f, s) for f in args.fractions for s in args.seeds
                   if {"plant", "lant"} & set(args.systems)]
        for future in futures:
            for result in future.result():
                record(result)
    if "tfidf" in args.systems:  # after the neural runs, with their cores (one-vs-rest fits in parallel)
        run_tfidf(dataset, labels, args.fractions, args.seeds, Config.named(setting.config), gold,
                  test_texts, train_counts, rare50, record, n_jobs=args.jobs)

    order = {"plant": 0, "lant": 1, "tfidf": 2}
    rows.sort(key=lambda r: (order[r["system"]], r["fraction"], r["seed"]))
    details.sort(key=lambda r: (order[r["system"]], r["fraction"], r["seed"]))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "data_efficiency.json").write_text(json.dumps(rows, indent=1))
    (RESULTS_DIR / "data_efficiency_details.json").write_text(json.dumps({
        "corpus": setting.corpus, "config": setting.config, "overrides": list(setting.overrides),
        "train_notes_all": len(dataset["train"]), "test_notes": len(dataset["test"]), "labels": len(labels),
        "rare_codes_in_test": int(((train_counts <= RARE_MAX_TRAIN_NOTES) & (np.asarray(gold.sum(0)).ravel() > 0)).sum()),
        "rare50_codes": sorted(rare50_codes), "jobs": args.jobs, "cpu_count": os.cpu_count(),
        "wall_s": round(time.perf_counter() - started, 1), "runs": details,
    }, indent=1))
    print(f"wrote {RESULTS_DIR / 'data_efficiency.json'} in {time.perf_counter() - started:.0f} s")


def run_tfidf(dataset, labels, fractions, seeds, config: Config, gold, test_texts, train_counts, rare50, record,
              n_jobs: int) -> None:
    """TF-IDF + logistic regression at every fraction and seed. C is chosen once, on dev P@15 with all the
    training notes, and kept for the smaller fractions (a grid per run would triple the cost)."""
    dev_texts = [note.text for note in dataset["dev"]]
    all_train_texts = [note.text for note in dataset["train"]]  # vocabulary and IDF, as PLANT's LM (lm.text "all")
    dev_gold = gold_matrix(dataset["dev"], labels)
    chosen_c = None
    for fraction in sorted(fractions, reverse=True):
        for seed in seeds:
            notes = training_subset(dataset["train"], fraction, seed)
            started = time.perf_counter()
            model = TfidfBaseline.fit(
                [n.text for n in notes], gold_matrix(notes, labels), dev_texts, dev_gold, config.vocab,
                c_grid=C_GRID if chosen_c is None else (chosen_c,), n_jobs=n_jobs, text_corpus=all_train_texts,
            )
            chosen_c = model.C if chosen_c is None else chosen_c
            scores = model.predict_proba(test_texts)
            extra = {"wall_s": round(time.perf_counter() - started, 1), "C": model.C}
            record(score_run("tfidf", fraction, seed, len(notes), gold, scores, model.threshold,
                             train_counts, rare50, extra))


if __name__ == "__main__":
    main()
