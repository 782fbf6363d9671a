"""Peak memory and latency of inference at MIMIC-III-full scale: one 2,500-token note, 8,922 labels, the
paper's model sizes (embedding 400, 3 LSTM layers of 1,152, 400 L2R factors), CPU.

Label attention is O(labels × tokens × dim); the decoder can compute it in label chunks. Each setting
runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own.

    python -m bench.bench_inference_memory [--labels 8922] [--tokens 2500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from bench import RESULTS_DIR

RESULTS = RESULTS_DIR / "inference_memory.json"


def measure(labels: int, tokens: int, label_chunk: int, system: str, repeats: int) -> dict:
    import torch

    from plant_core.checkpoint import build_model
    from plant_core.config import Config

    torch.manual_seed(0)
    config = Config.named("paper")
    config.decoder.label_chunk = label_chunk
    vocab = 50_000
    model = build_model(config, vocab, labels, system).eval()
    if system == "plant":  # a realistic MI table: 1,000 tokens per label
        nnz = labels * 1000
        per_token = torch.full((vocab,), nnz // vocab)
        indptr = torch.cat([torch.zeros(1, dtype=torch.long), per_token.cumsum(0)])
        model.attention.plant(
            torch.randn(vocab, 400) * 0.01, torch.zeros(vocab), torch.randn(labels, 400) * 0.01,
            torch.zeros(labels), indptr, torch.randint(0, labels, (int(indptr[-1]),)), torch.rand(int(indptr[-1])),
        )
    ids = torch.randint(2, vocab, (1, tokens))
    mask = torch.ones_like(ids, dtype=torch.bool)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            started = time.perf_counter()
            windows = model.read_windows(ids, mask)  # the encoder runs once
            top = model.window_logits(windows)[0].topk(15).indices
            model.window_attention(windows, top)  # evidence for the returned codes only
            times.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in model.parameters())
    return {
        "system": system, "labels": labels, "tokens": tokens, "label_chunk": label_chunk,
        "threads": torch.get_num_threads(), "parameters": params,
        "peak_rss_mb": round(peak, 1), "rss_before_inference_mb": round(base_rss, 1),
        "inference_peak_increase_mb": round(peak - base_rss, 1),
        "latency_s_median": round(statistics.median(times), 3), "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=8922)
    parser.add_argument("--tokens", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("SYSTEM", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.labels, args.tokens, int(args.one[1]), args.one[0], args.repeats)))
        return
    rows = []
    for system, chunk in [("lant", 8922), ("plant", 8922), ("plant", 2048), ("plant", 512)]:
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_inference_memory", "--labels", str(args.labels),
             "--tokens", str(args.tokens), "--repeats", str(args.repeats), "--one", system, str(chunk)],
            capture_output=True, text=True, check=True, env={**os.environ},
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{system:5s} chunk={chunk:5d}: peak RSS {row['peak_rss_mb']:8.1f} MB "
              f"(+{row['inference_peak_increase_mb']:.1f} MB for inference), median {row['latency_s_median']:.2f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
