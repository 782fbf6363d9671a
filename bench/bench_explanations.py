"""Are the explanations right? For every code a model predicts correctly on the test split, whether its
most-attended token (and its top 5) fall inside the corpus's gold evidence for the code, and how often a
negated, family-history or rule-out mention gets the attention instead. PLANT and LANT, each with plain
attention and with attention × gradient (each token weighted by what it adds to the code's logit).

    python -m bench.bench_explanations [--corpus small|demo] [--seeds 0 1 2]

Reads the full-data models that `bench.bench_data_efficiency` trained for the same corpus; writes
`bench/results/explanations.json`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench import RESULTS_DIR
from plant_core.coder import Coder
from plant_core.dataset import load_dataset
from plant_core.explanation_metrics import score_explanation, summarise, tokens_in_spans

RESULTS = RESULTS_DIR / "explanations.json"
METHODS = ("attention", "attention_x_gradient")


def explain_model(coder: Coder, notes) -> dict:
    """Explanation rates of one model over `notes`, per method, plus how it treats distractor codes."""
    scores = coder.predict_proba([note.text for note in notes])
    index = {code: i for i, code in enumerate(coder.labels_)}
    per_method = {method: [] for method in METHODS}
    distractor_codes, distractor_predicted = 0, 0
    for row, note in enumerate(notes):
        predicted = {coder.labels_[i] for i in np.flatnonzero(scores[row] >= coder.threshold_)}
        correct = sorted(code for code in set(note.codes) & predicted if note.evidence.get(code))
        gold = set(note.codes)
        for code in {d.code for d in note.negated} - gold:
            if code in index:
                distractor_codes += 1
                distractor_predicted += code in predicted
        if not correct:
            continue
        distractor_spans = [(d.start, d.end) for d in note.negated]
        for method in METHODS:
            attention = coder.attention(note.text, correct, method=method)
            in_distractor = tokens_in_spans(attention.offsets, distractor_spans)
            for code, weights in zip(correct, attention.weights, strict=True):
                in_evidence = tokens_in_spans(attention.offsets, note.evidence[code])
                per_method[method].append(score_explanation(weights, in_evidence, in_distractor))
    return {
        **{method: summarise(per_method[method]) for method in METHODS},
        # A code mentioned only as negated / family history / rule-out, predicted anyway.
        "distractor_codes": distractor_codes,
        "distractor_code_predicted_rate": distractor_predicted / distractor_codes if distractor_codes else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="small")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(__file__).parent / "out" / "data_efficiency" / args.corpus
    notes = load_dataset(work / "data")["test"]
    started = time.perf_counter()
    rows = []
    for system in ("plant", "lant"):
        for seed in args.seeds:
            model_dir = work / "runs" / f"{system}-f1.0-s{seed}"
            if not (model_dir / "config.json").exists():
                raise SystemExit(f"{model_dir} is missing: run python -m bench.bench_data_efficiency --corpus {args.corpus} first")
            result = explain_model(Coder.load(model_dir), notes)
            rows.append({"system": system, "seed": seed, **result})
            for method in METHODS:
                r = result[method]
                print(f"{system:5s} seed {seed} {method:21s} n {r['n']:5d}  top-1 in evidence {r['top1_in_evidence']:.3f} "
                      f"(chance {r['chance_top1_in_evidence']:.3f})  top-5 any {r['top5_any_in_evidence']:.3f}  "
                      f"top-1 on a distractor {r['top1_in_distractor']:.3f}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"corpus": args.corpus, "test_notes": len(notes),
                                   "wall_s": round(time.perf_counter() - started, 1), "rows": rows}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
