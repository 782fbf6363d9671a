"""`python -m bench` (what `make bench` runs): the quick benchmark set, one script after another, each
writing its JSON under bench/results/, then the figures in docs/figures/. `--full` runs the slow set
instead (about 2.5 hours on 2 cores). Figures and discussion: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

# 11.5 minutes on an idle 2-core machine (measured; the target is under 20).
QUICK = [
    ["bench.bench_code_search"],
    ["bench.bench_synth", "--config", "demo"],
    ["bench.bench_inference_latency"],
    ["bench.bench_data_efficiency", "--corpus", "small", "--seeds", "0", "--fractions", "0.05", "1.0"],
    ["bench.bench_explanations", "--corpus", "small", "--seeds", "0"],
    ["bench.bench_app"],
    ["bench.figures"],
]
# The figures in docs/benchmarks.md: three seeds, the ablations, and the stage and scale benchmarks.
FULL = [
    ["bench.bench_code_search"],
    ["bench.bench_synth", "--config", "demo"],
    ["bench.bench_synth", "--config", "bench"],
    ["bench.bench_mutual_info", "--scale", "bench"],
    ["bench.bench_mutual_info", "--scale", "mimic4"],
    ["bench.bench_l2r"],
    ["bench.bench_inference_memory"],
    ["bench.bench_inference_latency"],
    ["bench.bench_training_step"],
    ["bench.bench_data_efficiency", "--corpus", "small"],
    ["bench.bench_explanations", "--corpus", "small"],
    ["bench.bench_ablations", "--corpus", "small"],
    ["bench.bench_lowshot"],
    ["bench.bench_stress"],
    ["bench.bench_app"],
    ["bench.figures"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the full set (about 2.5 hours) instead of the quick one")
    args = parser.parse_args()
    failed = []
    started_all = time.perf_counter()
    for command in FULL if args.full else QUICK:
        print(f"\n=== python -m {' '.join(command)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", *command])
        print(f"=== {'ok' if result.returncode == 0 else 'FAILED'} in {time.perf_counter() - started:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(" ".join(command))
    print(f"\n=== all done in {(time.perf_counter() - started_all) / 60:.1f} min", flush=True)
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
