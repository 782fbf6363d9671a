"""`python -m bench` (what `make bench` runs): the quick benchmark set, one script after another, each
writing its JSON under bench/results/. `--full` adds the slow ones (bench-scale corpus, MIMIC-IV-scale
MI, the PLANT ablations). Figures and discussion: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

QUICK = [
    ["bench.bench_code_search"],
    ["bench.bench_synth", "--config", "demo"],
    ["bench.bench_mutual_info", "--scale", "bench"],
    ["bench.bench_l2r"],
    ["bench.bench_inference_memory"],
    ["bench.bench_demo_training"],
    ["bench.bench_app"],
]
FULL = [
    ["bench.bench_synth", "--config", "bench"],
    ["bench.bench_mutual_info", "--scale", "mimic4"],
    ["bench.bench_demo_training", "--ablations"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also run the slow benchmarks (about an hour)")
    args = parser.parse_args()
    failed = []
    for command in QUICK + (FULL if args.full else []):
        print(f"\n=== python -m {' '.join(command)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", *command])
        print(f"=== {'ok' if result.returncode == 0 else 'FAILED'} in {time.perf_counter() - started:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(" ".join(command))
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
