"""How fast the synthetic corpus generator is, and what it makes: notes/s, words, labels, file sizes.

Run from the project root: `python -m bench.bench_synth [--config demo|bench] [--workers N]`. Prints
medians and writes bench/results/synth_<config>.json. The corpus goes to a temporary folder that is
deleted afterwards unless --keep names a folder for it.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import RESULTS_DIR
from plant_core.corpus.records import SPLITS
from plant_core.corpus.synthetic import (
    SynthConfig,
    build_label_space,
    generate_corpus,
    label_table,
    write_corpus_files,
)

DEFAULT_REPEATS = {"tiny": 5, "demo": 3, "bench": 1}


def corpus_shape(dataset, config: SynthConfig) -> dict:
    notes = [note for split in SPLITS for note in dataset[split]]
    words = sorted(len(note.text.split()) for note in notes)
    train_counts = [entry["train_count"] for entry in label_table(dataset, config).values()]
    seen = [count for count in train_counts if count > 0]
    return {
        "notes": {split: len(dataset[split]) for split in SPLITS},
        "words_per_note": {
            "mean": statistics.mean(words),
            "median": statistics.median(words),
            "p10": words[len(words) // 10],
            "p90": words[9 * len(words) // 10],
        },
        "chars_per_note_mean": statistics.mean(len(note.text) for note in notes),
        "codes_per_note_mean": statistics.mean(len(note.codes) for note in notes),
        "evidence_spans_per_code_mean": statistics.mean(len(s) for n in notes for s in n.evidence.values()),
        "distractors_per_note_mean": statistics.mean(len(note.negated) for note in notes),
        "labels": {
            "label_space": len(train_counts),
            "in_train": len(seen),
            "with_1_to_5_train_notes": sum(1 for count in seen if count <= 5),
            "max_train_count": max(seen),
            "median_train_count": statistics.median(seen),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="demo", choices=("tiny", "demo", "bench"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default: 5/3/1 by config)")
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the last corpus in")
    args = parser.parse_args()
    config = SynthConfig.named(args.config)
    repeats = args.repeats or DEFAULT_REPEATS[args.config]

    started = time.perf_counter()
    build_label_space(config)
    label_space_s = time.perf_counter() - started

    generate_s, write_s = [], []
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix=f"synth_{args.config}_"))
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            dataset = generate_corpus(config, workers=args.workers)
            generate_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            write_corpus_files(dataset, config, out_dir)
            write_s.append(time.perf_counter() - started)
        file_bytes = {path.name: path.stat().st_size for path in sorted(out_dir.iterdir())}
    finally:
        if args.keep is None:
            shutil.rmtree(out_dir)

    generate_median = statistics.median(generate_s)
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_1min_at_end": os.getloadavg()[0],
        "python": platform.python_version(),
        "config": config.__dict__ | {"split_fractions": list(config.split_fractions)},
        "workers": args.workers,
        "repeats": repeats,
        "label_space_build_s": label_space_s,
        "generate_s_median": generate_median,
        "generate_s_runs": generate_s,
        "notes_per_s": config.n_notes / generate_median,
        "write_s_median": statistics.median(write_s),
        "file_bytes": file_bytes,
        "total_mb": sum(file_bytes.values()) / 1e6,
        **corpus_shape(dataset, config),
    }
    path = RESULTS_DIR / f"synth_{args.config}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")

    words, labels = results["words_per_note"], results["labels"]
    print(f"config {args.config}: {config.n_notes} notes, {config.n_labels} labels, {args.workers} worker(s)")
    print(f"label space build: {label_space_s:.2f} s")
    print(f"generate, median of {repeats}: {generate_median:.2f} s ({results['notes_per_s']:.0f} notes/s)")
    write_median, megabytes = results["write_s_median"], results["total_mb"]
    print(f"write files, median of {repeats}: {write_median:.2f} s ({megabytes:.0f} MB)")
    print(f"words/note: mean {words['mean']:.0f}, median {words['median']:.0f}, p10 {words['p10']}, "
          f"p90 {words['p90']}")
    print(f"codes/note {results['codes_per_note_mean']:.1f}, "
          f"evidence spans/code {results['evidence_spans_per_code_mean']:.2f}, "
          f"distractors/note {results['distractors_per_note_mean']:.2f}")
    print(f"labels: {labels['in_train']} of {labels['label_space']} in train, "
          f"{labels['with_1_to_5_train_notes']} with 1-5 train notes, "
          f"max {labels['max_train_count']}, median {labels['median_train_count']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
