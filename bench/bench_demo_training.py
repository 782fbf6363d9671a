"""PLANT against LANT on the demo corpus: quality on the test split, stage timings and peak memory, with
the CPU-sized `demo` config. Both systems share one stage cache, so LANT reuses the tokenizer and LM
that PLANT trained (the LM is the same for both by construction). With `--ablations`, also PLANT with
each of our choices switched back to the alternative.

    python -m bench.bench_demo_training [--data data/demo] [--ablations] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "demo_training.json"
KEYS = ("p@5", "p@8", "p@15", "r@15", "micro_f1", "macro_f1", "micro_auc", "macro_auc")

VARIANTS = {
    "plant": ("plant", []),
    "lant": ("lant", []),
}
ABLATIONS = {
    "plant, static MI raw (paper)": ("plant", ["decoder.static_scale=raw"]),
    "plant, label bias uniform": ("plant", ["decoder.bias_init=uniform"]),
    "plant, no L2R (MI factorised)": ("plant", ["decoder.planted_source=mi"]),
    "plant, no static branch": ("plant", ["decoder.static_branch=false"]),
    "plant, no gradual unfreezing": ("plant", ['classifier.schedule=[["all", 4]]']),
}


def train_once(name: str, system: str, overrides: list[str], data: Path, work: Path, threads: int) -> dict:
    out = work / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
    command = [sys.executable, "-m", "plant_core", "train", "--system", system, "--data", str(data),
               "--out", str(out), "--config", "demo", "--device", "cpu", "--cache", str(work / "cache")]
    for override in overrides:
        command += ["--set", override]
    env = {**os.environ, "PLANT_NO_PROGRESS": "1", "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far
    meta = json.loads((out / "config.json").read_text())
    test = meta["metrics"]["test"]
    row = {
        "name": name, "system": system, "overrides": overrides, "wall_s": round(wall, 1),
        "peak_rss_mb_so_far": round(peak_mb, 1),
        "timings_s": {k: round(v, 1) for k, v in meta["timings_s"].items()},
        "threshold": meta["threshold"],
        **{k: round(test[k], 4) for k in KEYS},
        "micro_f1_at_0.5": round(meta["metrics"]["test_at_0.5"]["micro_f1"], 4),
    }
    print(f"{name:32s} P@5 {row['p@5']:.3f} P@15 {row['p@15']:.3f} micro-F1 {row['micro_f1']:.3f} "
          f"macro-F1 {row['macro_f1']:.3f} micro-AUC {row['micro_auc']:.3f}  ({wall:.0f} s)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/demo"))
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not (args.data / "train.jsonl").exists():
        subprocess.run([sys.executable, "-m", "plant_core", "synth", "--config", "demo", "--out", str(args.data)], check=True)
    variants = {**VARIANTS, **(ABLATIONS if args.ablations else {})}
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        rows = [train_once(name, system, overrides, args.data, Path(tmp), args.threads)
                for name, (system, overrides) in variants.items()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"threads": args.threads, "cpu_count": os.cpu_count(), "rows": rows}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
