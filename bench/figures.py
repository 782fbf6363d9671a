"""Renders the benchmark figures in docs/figures/ (PNG for the docs, interactive HTML beside it) from the
JSON results in bench/results/, so that a figure always shows the numbers of the committed run.

    python -m bench.figures            # every figure whose results exist

PNG export goes through kaleido, which drives the system's Chromium (Debian's `chromium` package).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bench import RESULTS_DIR as RESULTS

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"
COLOURS = {"plant": "#2e7d32", "lant": "#c62828", "tfidf": "#1565c0"}
NAMES = {"plant": "PLANT", "lant": "LANT", "tfidf": "TF-IDF + LR"}


def save(fig: go.Figure, name: str, width: int = 1000, height: int = 600) -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    fig.update_layout(template="plotly_white", width=width, height=height, margin=dict(l=60, r=20, t=70, b=50))
    fig.write_html(FIGURES / f"{name}.html", include_plotlyjs="cdn")
    fig.write_image(FIGURES / f"{name}.png", width=width, height=height, scale=1.5)
    print(f"wrote {FIGURES / name}.png and .html")


def mean_and_spread(rows: list[dict], metric: str) -> dict[str, tuple[np.ndarray, ...]]:
    """Per system: train notes (mean over seeds), metric mean, min and max over seeds, by fraction."""
    grouped = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[row["system"]][row["fraction"]].append(row)
    out = {}
    for system, by_fraction in grouped.items():
        fractions = sorted(by_fraction)
        notes = np.array([np.mean([r["train_notes"] for r in by_fraction[f]]) for f in fractions])
        values = [np.array([r[metric] for r in by_fraction[f]], dtype=float) for f in fractions]
        out[system] = (notes, np.array([v.mean() for v in values]), np.array([v.min() for v in values]),
                       np.array([v.max() for v in values]))
    return out


def data_efficiency_figure() -> None:
    rows = json.loads((RESULTS / "data_efficiency.json").read_text())
    details = json.loads((RESULTS / "data_efficiency_details.json").read_text())
    metrics = [("p@5", "P@5"), ("p@15", "P@15"), ("micro_f1", "micro-F1"), ("macro_f1", "macro-F1"),
               ("macro_f1_rare", "macro-F1, codes with ≤5 training notes"), ("macro_auc", "macro-AUC")]
    fig = make_subplots(rows=2, cols=3, subplot_titles=[title for _, title in metrics], horizontal_spacing=0.07)
    for i, (metric, _) in enumerate(metrics):
        r, c = divmod(i, 3)
        for system, (notes, mean, low, high) in mean_and_spread(rows, metric).items():
            fig.add_trace(go.Scatter(
                x=notes, y=mean, mode="lines+markers", name=NAMES[system], legendgroup=system, showlegend=i == 0,
                line=dict(color=COLOURS[system]),
                error_y=dict(type="data", symmetric=False, array=high - mean, arrayminus=mean - low, thickness=1),
            ), row=r + 1, col=c + 1)
        fig.update_xaxes(type="log", title_text="training notes" if r == 1 else None, row=r + 1, col=c + 1)
    fig.update_layout(title=f"Data efficiency on the {details['corpus']} corpus ({details['labels']} codes, "
                            f"{details['test_notes']} test notes): mean of {len({r['seed'] for r in rows})} seeds, "
                            "bars min–max")
    save(fig, f"data_efficiency_{details['corpus']}", width=1200, height=700)


def frequency_buckets_figure() -> None:
    details = json.loads((RESULTS / "data_efficiency_details.json").read_text())
    present = sorted({run["fraction"] for run in details["runs"]})
    panels = [0.1 if 0.1 in present else present[0], present[-1]]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"{f:g} of the training notes" for f in panels])
    for col, fraction in enumerate(panels, start=1):
        runs = [r for r in details["runs"] if r["fraction"] == fraction]
        for system in ("plant", "lant", "tfidf"):
            mine = [r for r in runs if r["system"] == system]
            if not mine:
                continue
            buckets = list(mine[0]["buckets"])
            values = [np.nanmean([r["buckets"][b]["macro_f1"] for r in mine]) for b in buckets]
            labels = [f"{b} (n={mine[0]['buckets'][b]['n_labels']})" for b in buckets]
            fig.add_trace(go.Bar(x=labels, y=values, name=NAMES[system], marker_color=COLOURS[system],
                                 legendgroup=system, showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(title_text="training notes per code (whole training split)", row=1, col=col)
    fig.update_yaxes(title_text="macro-F1", row=1, col=1)
    fig.update_layout(barmode="group", title=f"Macro-F1 by code frequency, {details['corpus']} corpus (mean of seeds)")
    save(fig, f"frequency_buckets_{details['corpus']}", width=1200, height=500)


def latency_figure() -> None:
    results = json.loads((RESULTS / "inference_latency.json").read_text())
    one_thread = [r for r in results["plant"] if r["threads"] == 1]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["suggest() p50 latency, 1 thread",
                                                        "where the time goes (8,000 words, 1 thread)"])
    for row in one_thread:
        words = [int(w) for w in row["by_words"]]
        fig.add_trace(go.Scatter(x=words, y=[v["p50_ms"] for v in row["by_words"].values()], mode="lines+markers",
                                 name=f"PLANT, {row['labels']:,} labels"), row=1, col=1)
    for row in results["tfidf"]:
        if row["threads"] == 1:
            fig.add_trace(go.Scatter(x=[int(w) for w in row["by_words"]], y=[v["p50_ms"] for v in row["by_words"].values()],
                                     mode="lines+markers", name=f"TF-IDF, {row['labels']:,} labels", line=dict(dash="dot")),
                          row=1, col=1)
    parts = [("encoder_ms", "encoder (LSTM)"), ("score_all_labels_ms", "label attention, every label"),
             ("evidence_top15_ms", "evidence for 15 codes")]
    for key, name in parts:
        fig.add_trace(go.Bar(x=[f"{r['labels']:,} labels" for r in one_thread],
                             y=[r["by_words"]["8000"][key] for r in one_thread], name=name), row=1, col=2)
    fig.update_xaxes(type="log", title_text="words in the note", row=1, col=1)
    fig.update_yaxes(type="log", title_text="ms", row=1, col=1)
    fig.update_yaxes(title_text="ms", row=1, col=2)
    fig.update_layout(barmode="stack", title="Inference cost on CPU: note length and label count")
    save(fig, "inference_latency", width=1200, height=500)


def explanations_figure() -> None:
    results = json.loads((RESULTS / "explanations.json").read_text())
    measures = (("top1_in_evidence", "top-1 token in gold evidence"),
                ("top5_any_in_evidence", "any of top 5 in gold evidence"),
                ("top1_in_distractor", "top-1 token on a negated / family / rule-out mention"))
    fig = go.Figure()
    for method, colour in (("attention", "#2e7d32"), ("attention_x_gradient", "#81c784")):
        x, y = [], []
        for measure, label in measures:
            for system in ("plant", "lant"):
                x.append(f"{NAMES[system]}: {label}")
                y.append(float(np.nanmean([r[method][measure] for r in results["rows"] if r["system"] == system])))
        fig.add_trace(go.Bar(x=x, y=y, name=method.replace("_x_", " × "), marker_color=colour))
    chance = np.nanmean([r["attention"]["chance_top1_in_evidence"] for r in results["rows"]])
    fig.add_hline(y=chance, line_dash="dot", annotation_text=f"chance that a random token is evidence ({chance:.2f})")
    fig.update_layout(barmode="group", yaxis_title="share of correctly predicted codes",
                      title=f"Explanations against gold evidence ({results['corpus']} corpus, test split, mean of seeds)")
    save(fig, f"explanations_{results['corpus']}", width=1200, height=600)


FIGURE_MAKERS = {
    "data_efficiency.json": data_efficiency_figure,
    "data_efficiency_details.json": frequency_buckets_figure,
    "inference_latency.json": latency_figure,
    "explanations.json": explanations_figure,
}


def main() -> None:
    for results_file, make in FIGURE_MAKERS.items():
        if (RESULTS / results_file).exists():
            make()


if __name__ == "__main__":
    main()
