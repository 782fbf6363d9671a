"""What a coder waits for: `Coder.suggest` latency on CPU for notes of 200, 2,000 and 8,000 words with 1,000
and 8,000 labels, model load time and resident memory, batch throughput, where the time goes (encoder,
scoring every label, evidence for the 15 returned codes), and the TF-IDF baseline's latency on the same
notes.

    python -m bench.bench_inference_latency [--threads 1 2] [--repeats 15]

Models are the `demo` sizes (embedding 96, LSTMs of 192 and 96, 64 L2R factors, an MI table of 300
tokens per label) with the demo corpus's tokenizer; weights are random (latency does not depend on
their values), planted factors and the MI table included, so the work done is that of a trained model.
Each (labels, threads) setting runs in its own process, so its memory figures are its own.
Writes `bench/results/inference_latency.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import RESULTS_DIR

RESULTS = RESULTS_DIR / "inference_latency.json"
DATA = Path("data/demo")
WORDS = (200, 2000, 8000)
LABELS = (1000, 8000)
BATCH_NOTES = 64


def rss_mb() -> float:
    """Current resident set size (VmRSS) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def note_of(words: int, texts: list[str]) -> str:
    """A note of exactly `words` words, made by joining real notes of the corpus."""
    pool = " ".join(texts).split()
    while len(pool) < words:
        pool = pool + pool
    return " ".join(pool[:words])


def build_model_dir(out: Path, n_labels: int) -> Path:
    """A demo-sized PLANT model with `n_labels` real ICD-10-CM codes and random weights, saved as `train` saves."""
    import torch

    from bench.random_planting import plant_at_random
    from plant_core import codes
    from plant_core.checkpoint import build_model, save_model
    from plant_core.config import Config
    from plant_core.dataset import load_dataset
    from plant_core.text import Tokenizer

    torch.manual_seed(0)
    config = Config.named("demo")
    tokenizer = Tokenizer.train((n.text for n in load_dataset(DATA)["train"]), config.vocab.vocab_size, config.vocab.min_frequency)
    vocab = tokenizer.vocab_size
    model = build_model(config, vocab, n_labels, "plant")
    plant_at_random(model, vocab, n_labels, config.l2r.factors, config.mi.top_k)
    billable = codes.billable_codes()[:n_labels]
    labels = [{"code": c, "description": codes.description(c), "train_count": 1} for c in billable]
    meta = {"system": "plant", "version": f"latency-{n_labels}", "config": config.to_dict(), "threshold": 0.5,
            "metrics": {}, "data": {}, "timings_s": {}}
    return save_model(out, model, tokenizer, labels, meta)


def measure(model_dir: Path, threads: int, repeats: int) -> dict:
    """One process: load the model, then time suggest, its parts and batch prediction."""
    import torch

    torch.set_num_threads(threads)
    from plant_core.coder import Coder
    from plant_core.dataset import load_dataset, pad_batch

    texts = [n.text for n in load_dataset(DATA)["test"]]
    rss_before = rss_mb()
    loads = []
    for _ in range(3):
        started = time.perf_counter()
        coder = Coder.load(model_dir)
        loads.append(time.perf_counter() - started)
    coder.suggest(texts[0])  # first call allocates
    rss_loaded = rss_mb()
    result = {"labels": len(coder.labels_), "threads": threads, "load_s_median": round(statistics.median(loads), 3),
              "rss_model_mb": round(rss_loaded - rss_before, 1), "by_words": {}}
    model = coder.model_
    for words in WORDS:
        text = note_of(words, texts)
        n_repeats = repeats if words < 8000 else max(3, repeats // 3)
        totals, encoder, scoring, evidence = [], [], [], []
        for _ in range(n_repeats):
            started = time.perf_counter()
            coder.suggest(text, top_k=15)
            totals.append(time.perf_counter() - started)
        ids, _ = coder._encode(text)
        with torch.no_grad():
            for _ in range(max(3, n_repeats // 3)):
                t0 = time.perf_counter()
                batch, mask = pad_batch([ids])
                windows = model.read_windows(batch, mask)
                t1 = time.perf_counter()
                top = model.window_logits(windows)[0].topk(15).indices
                t2 = time.perf_counter()
                model.window_attention(windows, top)
                t3 = time.perf_counter()
                encoder.append(t1 - t0)
                scoring.append(t2 - t1)
                evidence.append(t3 - t2)
        totals.sort()
        result["by_words"][str(words)] = {
            "tokens": int(ids.size), "repeats": n_repeats,
            "p50_ms": round(1000 * statistics.median(totals), 1),
            "p95_ms": round(1000 * totals[min(len(totals) - 1, round(0.95 * (len(totals) - 1)))], 1),
            "encoder_ms": round(1000 * statistics.median(encoder), 1),
            "score_all_labels_ms": round(1000 * statistics.median(scoring), 1),
            "evidence_top15_ms": round(1000 * statistics.median(evidence), 1),
        }
    batch = texts[:BATCH_NOTES]
    started = time.perf_counter()
    coder.predict_proba(batch)
    result["batch_notes_per_s"] = round(len(batch) / (time.perf_counter() - started), 1)
    result["batch_note_words_mean"] = round(statistics.mean(len(t.split()) for t in batch))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def measure_tfidf(threads: int, repeats: int) -> dict:
    """The TF-IDF baseline fitted on the demo corpus (1,000 codes, one C), timed on the same notes."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    from bench.bench_data_efficiency import gold_matrix
    from plant_core.config import Config
    from plant_core.dataset import label_space, load_dataset
    from plant_core.tfidf_baseline import TfidfBaseline

    dataset = load_dataset(DATA)
    labels, _ = label_space(dataset["train"])
    model = TfidfBaseline.fit([n.text for n in dataset["train"]], gold_matrix(dataset["train"], labels),
                              [n.text for n in dataset["dev"]], gold_matrix(dataset["dev"], labels),
                              Config.named("demo").vocab, c_grid=(10.0,))
    texts = [n.text for n in dataset["test"]]
    result = {"labels": len(labels), "threads": threads, "by_words": {}}
    for words in WORDS:
        text = note_of(words, texts)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            scores = model.predict_proba([text])[0]
            scores.argsort()[-15:]
            times.append(time.perf_counter() - started)
        result["by_words"][str(words)] = {"p50_ms": round(1000 * statistics.median(times), 1)}
    started = time.perf_counter()
    model.predict_proba(texts[:BATCH_NOTES])
    result["batch_notes_per_s"] = round(BATCH_NOTES / (time.perf_counter() - started), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--one", nargs=2, metavar=("MODEL_DIR", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--tfidf", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one[0]), int(args.one[1]), args.repeats)))
        return
    if args.tfidf:
        print(json.dumps(measure_tfidf(args.tfidf, args.repeats)))
        return
    if not (DATA / "train.jsonl").exists():
        subprocess.run([sys.executable, "-m", "plant_core", "synth", "--config", "demo", "--out", str(DATA)], check=True)

    def child(*extra: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "bench.bench_inference_latency", "--repeats", str(args.repeats), *extra],
                              capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    rows, baseline = [], []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        for n_labels in LABELS:
            model_dir = build_model_dir(Path(tmp) / f"plant-{n_labels}", n_labels)
            for threads in args.threads:
                row = child("--one", str(model_dir), str(threads))
                rows.append(row)
                words = ", ".join(f"{w} words p50 {v['p50_ms']:.0f} ms" for w, v in row["by_words"].items())
                print(f"PLANT {n_labels} labels, {threads} thread(s): load {row['load_s_median']:.2f} s, "
                      f"model {row['rss_model_mb']:.0f} MB; {words}; {row['batch_notes_per_s']:.1f} notes/s", flush=True)
    for threads in args.threads[:1]:  # scikit-learn's sparse products use one thread either way
        row = child("--tfidf", str(threads))
        baseline.append(row)
        words = ", ".join(f"{w} words p50 {v['p50_ms']:.1f} ms" for w, v in row["by_words"].items())
        print(f"TF-IDF {row['labels']} labels, {threads} thread(s): {words}; {row['batch_notes_per_s']:.1f} notes/s", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu_count": os.cpu_count(), "plant": rows, "tfidf": baseline}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
