"""Markdown tables of the benchmark results, as they appear in docs/benchmarks.md: the docs' figures are
pasted from this output, never typed in by hand.

    python -m bench.report [data_efficiency|buckets|explanations|ablations|latency|training_step|lowshot ...]
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np

from bench import RESULTS_DIR

NAMES = {"plant": "PLANT", "lant": "LANT", "tfidf": "TF-IDF + LR"}
CURVE_METRICS = ("p@5", "p@8", "p@15", "micro_f1", "macro_f1", "macro_f1_rare", "micro_auc", "macro_auc")


def load(name: str):
    return json.loads((RESULTS_DIR / name).read_text())


def mean_std(values: list[float]) -> str:
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        return f"{values[0]:.3f}"
    return f"{np.nanmean(values):.3f} ± {np.nanstd(values):.3f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def data_efficiency() -> str:
    rows = load("data_efficiency.json")
    grouped = defaultdict(list)
    for row in rows:
        grouped[(row["system"], row["fraction"])].append(row)
    out = []
    for (system, fraction), runs in sorted(grouped.items(), key=lambda kv: (list(NAMES).index(kv[0][0]), kv[0][1])):
        out.append([NAMES[system], f"{fraction:g}", f"{np.mean([r['train_notes'] for r in runs]):.0f}",
                    *[mean_std([r[m] for r in runs]) for m in CURVE_METRICS]])
    seeds = len({r["seed"] for r in rows})
    return (f"Mean ± standard deviation over {seeds} seed(s).\n\n"
            + table(["system", "fraction", "train notes", *CURVE_METRICS], out))


def targets() -> str:
    """The issue's targets, checked on the means over seeds."""
    rows = load("data_efficiency.json")

    def mean(system, fraction, metric):
        values = [r[metric] for r in rows if r["system"] == system and r["fraction"] == fraction]
        return float(np.mean(values)) if values else float("nan")

    checks = [
        ("PLANT at 1/10 vs LANT at all data, P@5", mean("plant", 0.1, "p@5"), mean("lant", 1.0, "p@5")),
        ("PLANT at 1/5 vs LANT at all data, P@15", mean("plant", 0.2, "p@15"), mean("lant", 1.0, "p@15")),
        ("PLANT at 1/10 vs TF-IDF at all data, P@5", mean("plant", 0.1, "p@5"), mean("tfidf", 1.0, "p@5")),
        ("PLANT at 1/5 vs TF-IDF at all data, P@15", mean("plant", 0.2, "p@15"), mean("tfidf", 1.0, "p@15")),
    ]
    out = [[name, f"{a:.3f}", f"{b:.3f}", "no runs" if np.isnan(a) or np.isnan(b) else "met" if a >= b else "not met"]
           for name, a, b in checks]
    rare = [(mean("plant", f, "macro_f1_rare"), mean("lant", f, "macro_f1_rare"), f) for f in (0.05, 0.1, 0.2, 0.5, 1.0)]
    for plant, lant, fraction in rare:
        if not np.isnan(plant):
            ratio = f"×{plant / lant:.1f}" if lant > 0 else "LANT 0"
            out.append([f"macro-F1 on codes with ≤5 training notes, fraction {fraction:g}: PLANT ≥ 1.5 × LANT",
                        f"{plant:.3f}", f"{lant:.3f}", f"{'met' if plant >= 1.5 * lant and plant > 0 else 'not met'} ({ratio})"])
    return table(["target", "PLANT", "baseline", "verdict"], out)


def buckets() -> str:
    details = load("data_efficiency_details.json")
    grouped = defaultdict(list)
    for run in details["runs"]:
        grouped[(run["system"], run["fraction"])].append(run)
    names = list(details["runs"][0]["buckets"])
    out = []
    for (system, fraction), runs in sorted(grouped.items(), key=lambda kv: (kv[0][1], list(NAMES).index(kv[0][0]))):
        if fraction not in (0.1, 1.0):
            continue
        out.append([NAMES[system], f"{fraction:g}",
                    *[mean_std([r["buckets"][b]["macro_f1"] for r in runs]) for b in names],
                    mean_std([r["rare50"]["macro_f1"] for r in runs]), mean_std([r["rare50"]["macro_auc"] for r in runs])])
    sizes = ", ".join(f"{b}: {details['runs'][0]['buckets'][b]['n_labels']} codes" for b in names)
    return (f"Codes per bucket (training notes in the whole split; codes present in the test split): {sizes}.\n\n"
            + table(["system", "fraction", *[f"macro-F1 {b}" for b in names], "rare-50 macro-F1", "rare-50 macro-AUC"], out))


def explanations() -> str:
    results = load("explanations.json")
    grouped = defaultdict(list)
    for row in results["rows"]:
        grouped[row["system"]].append(row)
    out = []
    for system, rows in grouped.items():
        for method in ("attention", "attention_x_gradient"):
            out.append([NAMES[system], method.replace("_", " "), f"{np.mean([r[method]['n'] for r in rows]):.0f}",
                        mean_std([r[method]["top1_in_evidence"] for r in rows]),
                        mean_std([r[method]["top5_any_in_evidence"] for r in rows]),
                        mean_std([r[method]["top5_share_in_evidence"] for r in rows]),
                        mean_std([r[method]["top1_in_distractor"] for r in rows]),
                        mean_std([r[method]["chance_top1_in_evidence"] for r in rows])])
    distractors = [[NAMES[system], f"{np.mean([r['distractor_codes'] for r in rows]):.0f}",
                    mean_std([r["distractor_code_predicted_rate"] for r in rows])] for system, rows in grouped.items()]
    return (table(["system", "explanation", "codes explained", "top-1 in evidence", "top-5: any in evidence",
                   "top-5: share in evidence", "top-1 on a distractor", "chance (evidence share of tokens)"], out)
            + "\n\n" + table(["system", "codes mentioned only as negated / family history / rule-out",
                               "share of them predicted anyway"], distractors))


def ablations() -> str:
    results = load("ablations.json")
    out = [[r["variant"], f"{r['fraction']:g}", f"{r['p@5']:.3f}", f"{r['p@15']:.3f}", f"{r['micro_f1']:.3f}",
            f"{r['macro_f1']:.3f}", f"{r['macro_f1_rare']:.3f}", f"{r['macro_auc']:.3f}", f"{r['classifier_s']:.0f}"]
           for r in sorted(results["rows"], key=lambda r: r["fraction"])]
    return table(["variant", "fraction", "P@5", "P@15", "micro-F1", "macro-F1", "macro-F1 ≤5", "macro-AUC",
                  "classifier s"], out)


def latency() -> str:
    results = load("inference_latency.json")
    out = []
    for row in results["plant"]:
        for words, v in row["by_words"].items():
            out.append([f"PLANT, {row['labels']:,} labels", row["threads"], words, v["tokens"], v["p50_ms"], v["p95_ms"],
                        v["encoder_ms"], v["score_all_labels_ms"], v["evidence_top15_ms"]])
    for row in results["tfidf"]:
        for words, v in row["by_words"].items():
            out.append([f"TF-IDF, {row['labels']:,} labels", row["threads"], words, "", v["p50_ms"], "", "", "", ""])
    text = table(["model", "threads", "words", "tokens", "p50 ms", "p95 ms", "encoder ms", "score all labels ms",
                  "evidence (15 codes) ms"], out)
    load_rows = [[f"PLANT, {r['labels']:,} labels", r["threads"], r["load_s_median"], r["rss_model_mb"],
                  r["batch_notes_per_s"], r["batch_note_words_mean"]] for r in results["plant"]]
    load_rows += [[f"TF-IDF, {r['labels']:,} labels", r["threads"], "", "", r["batch_notes_per_s"], ""] for r in results["tfidf"]]
    return text + "\n\n" + table(["model", "threads", "load s (median)", "resident MB of the loaded model",
                                  "batch notes/s", "words/note in the batch"], load_rows)


def training_step() -> str:
    rows = load("training_step.json")
    return table(["setting", "threads", "batch × tokens", "labels (chunk)", "step s", "tokens/s", "epoch (h, extrapolated)",
                  "peak RSS MB"],
                 [[r["setting"], r["threads"], f"{r['batch']} × {r['tokens_per_note']}", f"{r['labels']:,} ({r['label_chunk'] or 'all'})",
                   r["step_s_median"], f"{r['tokens_per_s']:,}", r["epoch_h_extrapolated"], f"{r['peak_rss_mb']:,}"] for r in rows])


def lowshot() -> str:
    results = load("lowshot.json")
    out = []
    for r in results["rows"]:
        base, tuned = r["base"], r["finetuned"]
        out.append([r["name"], r["corrected_notes"], r["targets_in_corrections"],
                    *[f"{base['target codes'][m]:.3f} → {tuned['target codes'][m]:.3f}" for m in ("macro_f1", "micro_f1", "micro_auc")],
                    *[f"{base['all codes'][m]:.3f} → {tuned['all codes'][m]:.3f}" for m in ("micro_f1", "macro_f1")],
                    f"{r['wall_s']:.0f}"])
    return table(["system", "corrected notes", "target codes among them", "targets macro-F1", "targets micro-F1",
                  "targets micro-AUC", "all codes micro-F1", "all codes macro-F1", "fine-tune s"], out)


REPORTS = {"data_efficiency": data_efficiency, "targets": targets, "buckets": buckets, "explanations": explanations,
           "ablations": ablations, "latency": latency, "training_step": training_step, "lowshot": lowshot}


def main() -> None:
    for name in sys.argv[1:] or list(REPORTS):
        try:
            print(f"### {name}\n\n{REPORTS[name]()}\n")
        except FileNotFoundError as e:
            print(f"### {name}\n\n(no results: {e.filename})\n")


if __name__ == "__main__":
    main()
