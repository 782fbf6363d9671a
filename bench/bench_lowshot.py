"""Low-shot fine-tuning from corrections (issue 8): how much do 50 / 200 / 1,000 corrected notes improve
the codes that were rare or unseen when the base model was trained, PLANT fine-tune against LANT?

Set-up, all from one corpus: a set of target codes (moderately frequent, not among the most frequent)
is hidden from the base model: the base PLANT and LANT models train on the training split minus a pool
of notes, with the target codes removed from their labels (`--rare-keep K` keeps K notes per target code
instead: rare rather than unseen). The pool plays the coders' corrected notes, with their full gold
codes; the first N of it fine-tune each base model (`plant_core.finetune`, 20% held out for the epoch and
threshold, the base training notes beside them for the MI of new codes). PLANT plants new codes'
attention from the L2R stage recomputed on that data; LANT starts them at random (`--ablation` adds PLANT
with random new codes). Everything is scored on the full-gold test split: target codes, and all codes
(does the rest of the model hold?).

    python -m bench.bench_lowshot                                   # demo corpus, 50/200/1000 notes
    python -m bench.bench_lowshot --data /tmp/tiny --config tiny --sizes 20 50 --targets 4 --min-count 8 --skip-top 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import RESULTS_DIR

RESULTS = RESULTS_DIR / "lowshot.json"
KEYS = ("micro_f1", "macro_f1", "micro_precision", "micro_recall", "micro_auc", "macro_auc")
SYSTEMS = {  # name: (base system, how new codes' attention starts)
    "PLANT fine-tune": ("plant", "planted"),
    "LANT fine-tune": ("lant", "random"),
}
ABLATION = {"PLANT fine-tune, new codes at random": ("plant", "random")}


def choose_targets(train_notes, count: int, min_count: int, skip_top: int) -> list[str]:
    """`count` codes, each in at least `min_count` training notes, skipping the `skip_top` most frequent;
    spread over the frequency range that is left (most frequent first)."""
    counts = Counter(code for note in train_notes for code in set(note.codes))
    ranked = sorted(counts, key=lambda c: (-counts[c], c))[skip_top:]
    eligible = [c for c in ranked if counts[c] >= min_count]
    if len(eligible) < count:
        raise ValueError(f"only {len(eligible)} codes have >= {min_count} training notes; lower --min-count")
    step = len(eligible) / count
    return [eligible[int(i * step)] for i in range(count)]


def split_pool(train_notes, targets: list[str], pool_size: int, seed: int):
    """(correction pool, base training notes): the pool takes notes holding a target code first."""
    rng = random.Random(seed)
    holding = [n for n in train_notes if set(n.codes) & set(targets)]
    others = [n for n in train_notes if not set(n.codes) & set(targets)]
    rng.shuffle(holding)
    rng.shuffle(others)
    pool = (holding + others)[:pool_size]
    chosen = {n.id for n in pool}
    return pool, [n for n in train_notes if n.id not in chosen]


def strip_targets(notes, targets: list[str], keep: int):
    """The notes with the target codes removed, except in the first `keep` notes of each target code."""
    from plant_core.corpus.records import Note

    kept = Counter()
    out = []
    for note in notes:
        codes = []
        for code in note.codes:
            if code in targets:
                if kept[code] >= keep:
                    continue
                kept[code] += 1
            codes.append(code)
        out.append(Note(id=note.id, text=note.text, codes=codes))
    return out


def scores(coders: dict, notes, targets: list[str]) -> dict:
    from plant_core.finetune import evaluate_models

    return {
        scope: {
            name: {k: round(float(m[k]), 4) for k in KEYS}
            for name, m in evaluate_models(coders, notes, codes).items()
        }
        for scope, codes in (("target codes", targets), ("all codes", None))
    }


def run(args: argparse.Namespace) -> dict:
    import torch

    from plant_core.coder import Coder
    from plant_core.config import Config
    from plant_core.corpus.records import write_jsonl
    from plant_core.dataset import load_dataset
    from plant_core.finetune import FinetuneConfig, finetune, split_heldout
    from plant_core.train import train

    torch.set_num_threads(args.threads)
    corpus = load_dataset(args.data)
    targets = choose_targets(corpus["train"], args.targets, args.min_count, args.skip_top)
    pool, base_train = split_pool(corpus["train"], targets, max(args.sizes), args.seed)
    base_train = strip_targets(base_train, targets, args.rare_keep)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-lowshot-"))
    base_data = work / "base_data"
    base_data.mkdir(parents=True, exist_ok=True)
    write_jsonl(base_train, base_data / "train.jsonl")
    write_jsonl(strip_targets(corpus["dev"], targets, 0), base_data / "dev.jsonl")
    write_jsonl(corpus["test"], base_data / "test.jsonl")  # full gold: training never reads test labels
    print(f"targets {targets}\nbase training notes {len(base_train)}, pool {len(pool)}, test {len(corpus['test'])}",
          flush=True)  # fmt: skip

    bases, base_times = {}, {}
    for system in ("plant", "lant"):
        started = time.perf_counter()
        bases[system] = train(system, base_data, work / f"base-{system}", Config.named(args.config), seed=args.seed,
                              device=args.device, cache_dir=work / "cache")  # fmt: skip
        base_times[system] = round(time.perf_counter() - started, 1)
        print(f"base {system} trained in {base_times[system]} s", flush=True)

    systems = {**SYSTEMS, **(ABLATION if args.ablation else {})}
    test = corpus["test"]
    base_scores = {
        system: scores({"base": Coder.load(path)}, test, targets) for system, path in bases.items()
    }
    rows = []
    for size in args.sizes:
        corrected = pool[:size]
        finetune_notes, heldout = split_heldout(corrected, 0.2, args.seed)
        present = sorted({c for n in finetune_notes for c in n.codes} & set(targets))
        for name, (system, new_codes) in systems.items():
            out = work / f"{system}-{new_codes}-{size}"
            started = time.perf_counter()
            finetune(bases[system], finetune_notes, heldout, out, FinetuneConfig(new_code_attention=new_codes, seed=args.seed),
                     background_notes=base_train, device=args.device)  # fmt: skip
            wall = round(time.perf_counter() - started, 1)
            after = scores({"finetuned": Coder.load(out)}, test, targets)
            row = {"name": name, "system": system, "new_codes": new_codes, "corrected_notes": size,
                   "finetune_notes": len(finetune_notes), "heldout_notes": len(heldout),
                   "targets_in_corrections": len(present), "wall_s": wall,
                   "base": {scope: v["base"] for scope, v in base_scores[system].items()},
                   "finetuned": {scope: v["finetuned"] for scope, v in after.items()}}  # fmt: skip
            rows.append(row)
            t, a = row["finetuned"]["target codes"], row["finetuned"]["all codes"]
            b = row["base"]["target codes"]
            print(f"{size:5d} notes  {name:40s} targets macro-F1 {b['macro_f1']:.3f} -> {t['macro_f1']:.3f}  "
                  f"micro-AUC {b['micro_auc']:.3f} -> {t['micro_auc']:.3f}  all micro-F1 {a['micro_f1']:.3f}  "
                  f"({wall:.0f} s)", flush=True)  # fmt: skip
    return {"data": str(args.data), "config": args.config, "targets": targets, "rare_keep": args.rare_keep,
            "base_train_notes": len(base_train), "test_notes": len(test), "threads": args.threads,
            "cpu_count": os.cpu_count(), "base_train_s": base_times, "rows": rows}  # fmt: skip


def figure(results: dict, name: str) -> None:
    """Target-code macro-F1 and micro-AUC, and all-code micro-F1, by corrected notes; dotted: the bases."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from bench.figures import COLOURS, save

    panels = [("target codes", "macro_f1", "macro-F1, target codes"), ("target codes", "micro_auc", "micro-AUC, target codes"),
              ("all codes", "micro_f1", "micro-F1, all codes")]  # fmt: skip
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for *_, title in panels])
    series = sorted({r["name"] for r in results["rows"]}, key=lambda n: (not n.startswith("PLANT"), len(n)))
    for col, (scope, metric, _) in enumerate(panels, start=1):
        for label in series:
            mine = sorted(
                (r for r in results["rows"] if r["name"] == label), key=lambda r: r["corrected_notes"]
            )
            colour = COLOURS[mine[0]["system"]]
            dash = "dash" if mine[0]["system"] == "plant" and mine[0]["new_codes"] == "random" else "solid"
            fig.add_trace(go.Scatter(x=[r["corrected_notes"] for r in mine], y=[r["finetuned"][scope][metric] for r in mine],
                                     mode="lines+markers", name=label, legendgroup=label, showlegend=col == 1,
                                     line=dict(color=colour, dash=dash)), row=1, col=col)  # fmt: skip
            if dash == "solid":
                fig.add_hline(y=mine[0]["base"][scope][metric], line=dict(color=colour, dash="dot", width=1),
                              row=1, col=col)  # fmt: skip
        fig.update_xaxes(type="log", title_text="corrected notes", row=1, col=col)
    keep = "unseen" if not results["rare_keep"] else f"in {results['rare_keep']} notes each"
    fig.update_layout(title=f"Fine-tuning on corrected notes: {len(results['targets'])} target codes {keep} in the base "
                            f"training data ({results['config']} config); dotted lines: base models")  # fmt: skip
    save(fig, name, width=1300, height=480)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/demo"))
    parser.add_argument("--config", default="demo", help="model config of the base models")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000], help="corrected notes")
    parser.add_argument("--targets", type=int, default=40, help="codes hidden from the base models")
    parser.add_argument("--min-count", type=int, default=25, help="training notes a target code has at least")
    parser.add_argument("--skip-top", type=int, default=50, help="the most frequent codes never are targets")
    parser.add_argument("--rare-keep", type=int, default=0, help="base training notes kept per target code")
    parser.add_argument("--ablation", action="store_true", help="also PLANT with new codes started at random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, help="keep the models here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-figure", action="store_true", help="skip the PNG (needs chromium for kaleido)")
    args = parser.parse_args()
    os.environ.setdefault("PLANT_NO_PROGRESS", "1")
    results = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    if not args.no_figure:
        figure(results, args.out.stem)


if __name__ == "__main__":
    main()
