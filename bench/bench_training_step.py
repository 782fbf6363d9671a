"""Training cost on CPU: time and peak memory of one classifier step (forward, backward, optimiser) for the
demo config on the demo corpus's shape, and for the demo and paper configs at benchmark / MIMIC-III-full
scale, with the epoch time that follows from it. A whole epoch at those scales takes hours on 2 cores,
so the step is measured and the epoch extrapolated (steps per epoch × median step time).

    python -m bench.bench_training_step [--repeats 5]

Every setting runs in its own process (its peak RSS is its own), with every layer trainable (the
costliest stage of gradual unfreezing). Writes `bench/results/training_step.json`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from bench import RESULTS_DIR

RESULTS = RESULTS_DIR / "training_step.json"

# name: (config, notes per epoch, batch, tokens read per note, labels, label chunk, vocabulary)
SETTINGS = {
    "demo config, demo corpus (3,200 notes, 1,000 codes)": ("demo", 3200, 16, 1024, 1000, 0, 20_000),
    "demo config, bench corpus (40,000 notes, 8,000 codes)": ("demo", 40_000, 16, 1024, 8000, 2048, 50_000),
    "paper config, MIMIC-III-full (47,719 notes, 8,922 codes)": ("paper", 47_719, 8, 2500, 8922, 2048, 50_000),
}


def measure(name: str, threads: int, repeats: int) -> dict:
    import torch
    import torch.nn.functional as F

    from bench.random_planting import plant_at_random
    from plant_core.checkpoint import build_model
    from plant_core.config import Config

    torch.set_num_threads(threads)
    config_name, notes, batch, tokens, labels, chunk, vocab = SETTINGS[name]
    config = Config.named(config_name)
    config.decoder.label_chunk = chunk
    torch.manual_seed(0)
    model = build_model(config, vocab, labels, "plant")
    plant_at_random(model, vocab, labels, config.l2r.factors, config.mi.top_k)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(2, vocab, (batch, tokens))
    mask = torch.ones_like(ids, dtype=torch.bool)
    targets = (torch.rand(batch, labels) < 10 / labels).float()
    times = []
    for step in range(repeats + 1):
        started = time.perf_counter()
        logits, _ = model(ids, mask)
        loss = F.binary_cross_entropy_with_logits(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step > 0:  # the first step allocates
            times.append(time.perf_counter() - started)
    step_s = statistics.median(times)
    steps = -(-notes // batch)
    return {
        "setting": name, "config": config_name, "threads": threads, "batch": batch, "tokens_per_note": tokens,
        "labels": labels, "label_chunk": chunk, "step_s_median": round(step_s, 3), "repeats": repeats,
        "tokens_per_s": round(batch * tokens / step_s), "steps_per_epoch": steps,
        "epoch_h_extrapolated": round(steps * step_s / 3600, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.threads, args.repeats)))
        return
    rows = []
    for name in SETTINGS:
        done = subprocess.run([sys.executable, "-m", "bench.bench_training_step", "--one", name,
                               "--threads", str(args.threads), "--repeats", str(args.repeats)],
                              capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{name}: step {row['step_s_median']:.2f} s, {row['tokens_per_s']:,} tokens/s, "
              f"epoch ≈ {row['epoch_h_extrapolated']:.2f} h, peak RSS {row['peak_rss_mb']:,} MB", flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(rows, indent=1))  # after each setting: the slowest comes last
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
