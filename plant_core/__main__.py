"""The command line: `python -m plant_core {synth,train,finetune,info,predict,evaluate}`. Thin: it parses
arguments and calls the library. Errors the user can fix are printed as one line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def cmd_synth(args: argparse.Namespace) -> None:
    from plant_core.corpus.synthetic import SynthConfig, write_synthetic_corpus

    config = SynthConfig.named(args.config)
    if args.seed is not None:
        config.seed = args.seed
    out = write_synthetic_corpus(config, args.out)
    if args.format in ("caml", "all"):
        from plant_core.corpus.loaders import load_corpus, write_caml

        write_caml(load_corpus(out, format="jsonl"), Path(out) / "caml")
    print(f"wrote the {args.config!r} synthetic corpus to {out}")


def cmd_train(args: argparse.Namespace) -> None:
    from plant_core.config import Config
    from plant_core.train import train

    config = Config.named(args.config)
    for override in args.set or []:
        apply_override(config, override)
    out = train(
        args.system,
        args.data,
        args.out,
        config,
        fraction=args.fraction,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        cache_dir=args.cache,
    )
    print(f"saved model to {out}")


def apply_override(config, override: str) -> None:
    """`section.field=value`, value parsed as JSON when it can be (numbers, booleans, lists)."""
    key, _, raw = override.partition("=")
    section, _, name = key.partition(".")
    target = getattr(config, section, None)
    if target is None or not name or not hasattr(target, name):
        raise ValueError(f"--set {override!r}: no config field {key!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    setattr(target, name, value)


def cmd_info(args: argparse.Namespace) -> None:
    from plant_core.coder import Coder

    info = Coder.load(args.model).info()
    if args.json:
        print(json.dumps(info, default=str))
        return
    print(f"{info['system'].upper()} model {info['version']}: {len(info['labels'])} codes, threshold {info['threshold']:.3f}")
    for split in ("dev", "test"):
        m = info["metrics"].get(split)
        if m:
            print(f"  {split}: P@5 {m['p@5']:.3f}  P@15 {m['p@15']:.3f}  micro-F1 {m['micro_f1']:.3f}  macro-F1 {m['macro_f1']:.3f}")


def cmd_predict(args: argparse.Namespace) -> None:
    from plant_core.coder import Coder
    from plant_core.corpus.records import CorpusFormatError

    coder = Coder.load(args.model)
    rows = []
    with open(args.input, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
                note_id, text = row["id"], row["text"]
            except UnicodeDecodeError:
                raise CorpusFormatError(f"{args.input}:{line_no}: not UTF-8") from None
            except (json.JSONDecodeError, KeyError, TypeError):
                raise CorpusFormatError(f"{args.input}:{line_no}: expected a JSON object with 'id' and 'text'") from None
            rows.append((note_id, text))
    with open(args.output, "w", encoding="utf-8") as out:
        for note_id, text in rows:
            suggestions = coder.suggest(text, top_k=args.top_k) if text.strip() else []
            codes = [
                {
                    "code": s.code,
                    "description": s.description,
                    "probability": round(s.probability, 6),
                    "predicted": s.predicted,
                    "evidence": [vars(e) for e in s.evidence],
                }
                for s in suggestions
            ]
            out.write(json.dumps({"id": note_id, "codes": codes}, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} predictions to {args.output}", file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from plant_core import metrics
    from plant_core.coder import Coder
    from plant_core.dataset import encode_split, load_dataset

    coder = Coder.load(args.model)
    dataset = load_dataset(args.data)
    if not dataset.get(args.split):
        raise ValueError(f"{args.data} has no {args.split!r} split")
    split = encode_split(dataset[args.split], coder.tokenizer_, coder.label_index_)
    scores = coder.predict_proba([n.text for n in dataset[args.split]])
    result = {
        "model": coder.version,
        "split": args.split,
        "threshold": coder.threshold_,
        **metrics.evaluate(split.targets, scores, threshold=coder.threshold_),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value:.4f}" if isinstance(value, float) else f"{key:>20}: {value}")


def cmd_finetune(args: argparse.Namespace) -> None:
    from plant_core.corpus.records import iter_json_objects, iter_jsonl
    from plant_core.dataset import load_dataset
    from plant_core.finetune import FinetuneConfig, before_after, finetune, split_heldout

    corrected = list(iter_jsonl(args.notes))
    train_notes, heldout = split_heldout(corrected, args.heldout, args.seed)
    background = load_dataset(args.background)["train"] if args.background else []
    settings = FinetuneConfig(new_code_attention=args.new_codes, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    if args.schedule:
        settings.schedule = [tuple(stage) for stage in json.loads(args.schedule)]
    out = finetune(
        args.model, train_notes, heldout, args.out, settings,
        background_notes=background, device=args.device, resume=args.resume,
    )  # fmt: skip
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun the main process alone scores and reports
        return
    # Codes coders changed (rejected or added; the app's JSONL export lists each note's decisions).
    changed = {d["code"] for _, row in iter_json_objects(args.notes) for d in row.get("decisions") or []
               if d.get("decision") in ("rejected", "added")}  # fmt: skip
    if not changed:  # plain corpus notes: score the codes the base model did not know
        changed = set(json.loads((Path(out) / "config.json").read_text())["finetune"]["new_codes"])
    test = load_dataset(args.test).get("test", []) if args.test else []
    report = before_after(args.model, out, {"heldout": heldout, "test": test}, sorted(changed))
    (Path(out) / "evaluation.json").write_text(json.dumps(report, indent=1, default=float))
    print(json.dumps(report, default=float) if args.json else f"saved the fine-tuned model to {out}")
    if not args.json:
        for split, scopes in report.items():
            for scope, models in scopes.items():
                for name, m in models.items():
                    if m:
                        print(f"  {split:8s} {scope:9s} {name:9s} micro-F1 {m['micro_f1']:.3f}  "
                              f"macro-F1 {m['macro_f1']:.3f}  micro-AUC {m['micro_auc']:.3f}")  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m plant_core", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate the synthetic corpus")
    s.add_argument("--config", default="demo", help="tiny | small | demo | bench")
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--seed", type=int)
    s.add_argument("--format", choices=("jsonl", "caml", "all"), default="jsonl", help="also write CAML CSVs")
    s.set_defaults(run=cmd_synth)

    t = sub.add_parser("train", help="train PLANT or LANT (all stages, cached in the run directory)")
    t.add_argument("--system", choices=("plant", "lant"), default="plant")
    t.add_argument("--data", required=True, type=Path, help="corpus directory (JSONL, CAML, Edin, xcube)")
    t.add_argument("--out", required=True, type=Path, help="run directory; the model is saved here")
    t.add_argument("--config", default="demo", help="tiny | demo | paper")
    t.add_argument("--fraction", type=float, default=1.0, help="train on this fraction of the training split")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--resume", action="store_true", help="continue from the last classifier checkpoint")
    t.add_argument("--cache", type=Path, help="stage cache shared between runs (default <out>/stages)")
    t.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE", help="override a config field")
    t.set_defaults(run=cmd_train)

    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("--model", required=True, type=Path)
    i.add_argument("--json", action="store_true")
    i.set_defaults(run=cmd_info)

    r = sub.add_parser("predict", help="suggest codes for notes in a JSONL file")
    r.add_argument("--model", required=True, type=Path)
    r.add_argument("--input", required=True, type=Path)
    r.add_argument("--output", required=True, type=Path)
    r.add_argument("--top-k", type=int, default=15)
    r.set_defaults(run=cmd_predict)

    e = sub.add_parser("evaluate", help="score a saved model on a corpus split")
    e.add_argument("--model", required=True, type=Path)
    e.add_argument("--data", required=True, type=Path)
    e.add_argument("--split", default="test")
    e.add_argument("--json", action="store_true")
    e.set_defaults(run=cmd_evaluate)

    f = sub.add_parser("finetune", help="low-shot fine-tune of a saved model on corrected notes")
    f.add_argument("--model", required=True, type=Path, help="the base model directory")
    f.add_argument("--notes", required=True, type=Path, help="corrected notes, JSONL (the app's JSONL export)")
    f.add_argument("--out", required=True, type=Path, help="where the fine-tuned model is saved")
    f.add_argument("--heldout", type=float, default=0.2, help="share of the notes held out for dev/evaluation")
    f.add_argument("--background", type=Path, help="corpus whose training notes join the MI of new codes")
    f.add_argument("--test", type=Path, help="corpus whose test split is scored before and after")
    f.add_argument("--new-codes", choices=("planted", "random"), default="planted", help="new codes' attention")
    f.add_argument("--schedule", help='unfreezing schedule as JSON, e.g. \'[["head", 6], ["lstm_top", 2]]\'')
    f.add_argument("--lr", type=float)
    f.add_argument("--batch-size", type=int)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    f.add_argument("--resume", action="store_true", help="continue from the last epoch checkpoint in --out")
    f.add_argument("--json", action="store_true", help="print the before/after evaluation as JSON")
    f.set_defaults(run=cmd_finetune)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
