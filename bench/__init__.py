"""The benchmarks; each script writes its JSON under `RESULTS_DIR` (bench/results/, or the folder named by
PLANT_BENCH_RESULTS, e.g. to time a run without replacing the committed results)."""

import os
from pathlib import Path

RESULTS_DIR = Path(os.environ.get("PLANT_BENCH_RESULTS") or Path(__file__).parent / "results")
