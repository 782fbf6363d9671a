"""Low-shot fine-tuning of a saved model on corrected notes: the codes coders accepted and added are a
note's labels (rejected ones are not), and the model continues training from where it was.

Codes the model never saw are added to its label space. For a PLANT model their attention is planted
the way training plants it, from the data at hand (PLANT.md, stages 1–3): the MI table of the new codes
is computed on the corrected notes (beside the base training notes, when given, which hold none of those
codes and sharpen which tokens are common anyway), and an L2R stage learns the new codes' label factors
against the model's own token factors, frozen, so the codes it already knows keep theirs. LANT models,
and `new_code_attention="random"`, start new codes at random: the baseline the planting is measured against.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist

from plant_core import metrics
from plant_core.checkpoint import SavedModel, build_model, load_model, save_model
from plant_core.coder import Coder
from plant_core.config import Config
from plant_core.corpus.records import Note
from plant_core.dataset import encode_split, fingerprint
from plant_core.l2r import FactorRanker
from plant_core.model import CodingModel
from plant_core.mutual_info import mutual_info_gain, presence_matrix
from plant_core.train import (
    ProgressCallback,
    code_descriptions,
    predict_proba,
    seed_everything,
    start_run,
    static_table,
    train_classifier,
    train_l2r,
)

NEW_CODE_ATTENTION = ("planted", "random")


@dataclass
class FinetuneConfig:
    # Gradual unfreezing as in training, shorter: the head (and L2R factors) first, then the top LSTM.
    schedule: list[tuple[str, int]] = field(default_factory=lambda: [("head", 6), ("lstm_top", 2)])
    lr: float | None = None  # None: the base model's classifier rate
    batch_size: int | None = None  # None: the base model's
    new_code_attention: str = "planted"  # "planted" (PLANT's procedure) | "random" (ablation; LANT always)
    # A handful of new codes fill one L2R batch per epoch, so training's epoch count would mean a handful of
    # updates: the new codes' L2R stage runs at least this many.
    l2r_min_steps: int = 300
    seed: int = 0


@dataclass(frozen=True)
class GrownLabels:
    codes: list[str]  # the model's codes, the base model's first and in its order
    n_base: int  # codes[:n_base] are the base model's

    @property
    def new_codes(self) -> list[str]:
        return self.codes[self.n_base :]


def grown_label_space(base_codes: Sequence[str], notes: Sequence[Note]) -> GrownLabels:
    """The base model's codes, then codes of the notes it does not know, most frequent first."""
    known = set(base_codes)
    counts = Counter(code for note in notes for code in set(note.codes) if code not in known)
    new = sorted(counts, key=lambda c: (-counts[c], c))
    return GrownLabels(codes=list(base_codes) + new, n_base=len(base_codes))


def grow_model(saved: SavedModel, config: Config, n_labels: int) -> CodingModel:
    """A copy of the saved model with room for `n_labels` codes: every weight of a known code is kept,
    new codes' rows start as a freshly built model starts them (learned branch at random, planted zero)."""
    old = saved.model
    model = build_model(config, saved.tokenizer.vocab_size, n_labels, saved.meta["system"])
    state = model.state_dict()
    with torch.no_grad():
        for name, value in old.state_dict().items():
            if name.startswith("attention.mi_"):
                continue  # the static MI table is per model; copied as a whole below
            target = state[name]
            if target.shape == value.shape:
                target.copy_(value)
            else:  # label-indexed: (labels, ...) rows of the known codes
                target[: value.size(0)].copy_(value)
    model.load_state_dict(state)
    if model.attention.planted:
        model.attention.mi_indptr = old.attention.mi_indptr.clone()
        model.attention.mi_labels = old.attention.mi_labels.clone()
        model.attention.mi_values = old.attention.mi_values.clone()
    return model


def new_code_mi(
    ids: list[np.ndarray], targets: sp.csr_matrix, vocab_size: int, config: Config
) -> sp.csr_matrix:
    """MI table (new codes × tokens) of the new codes, from token ids and 0/1 targets of the same notes."""
    x = presence_matrix(ids, vocab_size)
    return mutual_info_gain(x, targets, top_k=config.mi.top_k, normalise=config.mi.normalise).tocsr()


def plant_new_codes(
    run, model: CodingModel, config: Config, mi_new: sp.csr_matrix, n_base: int, min_steps: int
) -> None:
    """Plants the new codes (rows n_base..) of a PLANT model: L2R label factors against the model's frozen
    token factors, and the new codes' MI columns appended to the static table."""
    attention = model.attention
    ranker = FactorRanker(
        attention.token_factors.num_embeddings, mi_new.shape[0], attention.label_factors.size(1)
    )
    with torch.no_grad():
        ranker.token_factors.weight.copy_(attention.token_factors.weight)
        ranker.token_bias.weight.copy_(attention.token_bias.weight)
    ranker.token_factors.weight.requires_grad_(False)
    ranker.token_bias.weight.requires_grad_(False)
    batches_per_epoch = math.ceil(mi_new.shape[0] / config.l2r.lists_per_batch)
    l2r = replace(config.l2r, epochs=max(config.l2r.epochs, math.ceil(min_steps / batches_per_epoch)))
    factors = train_l2r(run, replace(config, l2r=l2r), mi_new, ranker=ranker)
    with torch.no_grad():
        attention.label_factors[n_base:] = factors["label_factors.weight"].to(attention.label_factors.device)
        attention.label_bias[n_base:] = (
            factors["label_bias.weight"].reshape(-1).to(attention.label_bias.device)
        )
    # Static branch: the token-major CSR table gains the new codes' columns.
    vocab_size = attention.mi_indptr.numel() - 1
    known = sp.csr_matrix(
        (
            attention.mi_values.cpu().numpy(),
            attention.mi_labels.cpu().numpy(),
            attention.mi_indptr.cpu().numpy(),
        ),
        shape=(vocab_size, n_base),
    )
    indptr, labels, values = static_table(mi_new, config.decoder.static_scale)
    added = sp.csr_matrix(
        (values.numpy(), labels.numpy(), indptr.numpy()), shape=(vocab_size, mi_new.shape[0])
    )
    table = sp.hstack([known, added], format="csr")
    table.sort_indices()
    attention.mi_indptr = torch.from_numpy(table.indptr.astype(np.int64)).to(attention.mi_indptr.device)
    attention.mi_labels = torch.from_numpy(table.indices.astype(np.int64)).to(attention.mi_indptr.device)
    attention.mi_values = torch.from_numpy(table.data.astype(np.float32)).to(attention.mi_indptr.device)


def finetune(
    base_dir: str | Path,
    train_notes: Sequence[Note],
    dev_notes: Sequence[Note],
    out_dir: str | Path,
    settings: FinetuneConfig | None = None,
    *,
    background_notes: Sequence[Note] = (),
    work_dir: str | Path | None = None,
    device: str = "auto",
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Path:
    """Fine-tunes the model in `base_dir` on `train_notes` (their codes are the labels), picks the epoch
    and the threshold on `dev_notes`, and saves the result atomically in `out_dir`.

    `background_notes` (e.g. the base training notes) only join the MI table that plants new codes.
    `work_dir` holds the epoch checkpoint and log (default `out_dir`, carried into it as `train` does);
    `resume` continues from its checkpoint. `on_progress` gets the classifier's step and epoch events
    and `{"event": "phase", ...}` before each stage; an exception it raises stops the fine-tune."""
    settings = settings or FinetuneConfig()
    if settings.new_code_attention not in NEW_CODE_ATTENTION:
        raise ValueError(
            f"new_code_attention must be one of {NEW_CODE_ATTENTION}, got {settings.new_code_attention!r}"
        )
    if not train_notes:
        raise ValueError("no corrected notes to fine-tune on: submit some reviewed notes first")
    if not dev_notes:
        raise ValueError("no held-out notes to pick the epoch and threshold on")
    started = time.perf_counter()
    report = on_progress or (lambda _event: None)
    saved = load_model(base_dir)
    config = saved.config
    config.seed = settings.seed
    config.classifier.schedule = [tuple(stage) for stage in settings.schedule]
    config.classifier.lr = settings.lr or config.classifier.lr
    config.classifier.batch_size = settings.batch_size or config.classifier.batch_size
    run = start_run(Path(work_dir or out_dir), device, None)
    (run.out_dir / "stages").mkdir(exist_ok=True)
    seed_everything(settings.seed)

    grown = grown_label_space([row["code"] for row in saved.labels], train_notes)
    label_index = {code: i for i, code in enumerate(grown.codes)}
    train_split = encode_split(list(train_notes), saved.tokenizer, label_index)
    dev_split = encode_split(list(dev_notes), saved.tokenizer, label_index)
    model = grow_model(saved, config, len(grown.codes))
    run.log(
        stage="finetune",
        base=saved.meta["version"],
        train_notes=len(train_notes),
        dev_notes=len(dev_notes),
        new_codes=grown.new_codes,
    )
    if grown.new_codes:
        new_rows = torch.arange(grown.n_base, len(grown.codes))
        frequency = torch.from_numpy(
            np.asarray(train_split.targets[:, grown.n_base :].mean(axis=0)).ravel()
        ).float()
        model.attention.init_bias_at_prior(frequency, new_rows)
        if model.attention.planted and settings.new_code_attention == "planted":
            report({"event": "phase", "phase": "planting", "new_codes": len(grown.new_codes)})
            planting_notes = list(train_notes) + list(background_notes)
            planting = encode_split(planting_notes, saved.tokenizer, label_index)
            mi_new = new_code_mi(
                planting.ids, planting.targets[:, grown.n_base :], saved.tokenizer.vocab_size, config
            )
            l2r_started = time.perf_counter()
            plant_new_codes(run, model, config, mi_new, grown.n_base, settings.l2r_min_steps)
            run.timings["l2r"] = time.perf_counter() - l2r_started

    report({"event": "phase", "phase": "training"})
    clf_started = time.perf_counter()
    best_state, history = train_classifier(run, config, model, train_split, dev_split, resume, on_progress)
    run.timings["classifier"] = time.perf_counter() - clf_started
    model.load_state_dict(best_state)

    if run.is_main:
        report({"event": "phase", "phase": "saving"})
        dev_scores = predict_proba(model, dev_split.ids, run.device, autocast=run.autocast())
        threshold = metrics.tune_threshold(dev_split.targets, dev_scores)
        created = datetime.now(UTC)
        data_key = fingerprint(list(train_notes))
        system = saved.meta["system"]
        meta = {
            "system": system,
            "version": f"{system}-ft-{created:%Y%m%d-%H%M%S}-{data_key[:8]}",
            "created_at": created.isoformat(),
            "config": config.to_dict(),
            "data": {
                **saved.meta.get("data", {}),
                "finetune_fingerprint": data_key,
                "finetune_notes": len(train_notes),
                "finetune_dev_notes": len(dev_notes),
            },
            "parent": {"version": saved.meta["version"], "dir": str(base_dir)},
            "finetune": {
                **asdict(settings),
                "new_codes": grown.new_codes,
                "background_notes": len(background_notes),
            },
            "threshold": float(threshold),
            "metrics": {
                "threshold_tuned_on": "fine-tune dev micro-F1",
                "dev": metrics.evaluate(dev_split.targets, dev_scores, threshold=threshold),
            },
            "history": history,
            "timings_s": {**run.timings, "total": time.perf_counter() - started},
            "device": str(run.device),
            "world_size": run.world_size,
        }
        counts = Counter(code for note in train_notes for code in set(note.codes))
        descriptions = code_descriptions(grown.new_codes, saved.meta.get("data", {}).get("dir"))
        label_rows = [dict(row) for row in saved.labels] + [
            {"code": code, "description": descriptions.get(code, ""), "train_count": counts[code]}
            for code in grown.new_codes
        ]
        save_model(out_dir, model, saved.tokenizer, label_rows, meta)
        run.log(stage="done", model_dir=str(out_dir), **meta["timings_s"])
    run.barrier()
    if run.distributed:
        dist.destroy_process_group()
    return Path(out_dir)


# ----------------------------------------------------------------------------------------------------
# Before and after: the base model and its fine-tuned candidate on the same notes


def evaluate_models(
    coders: dict[str, Coder], notes: Sequence[Note], codes: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """Metrics of each model on `notes` over one label space (the union of the models' codes and `codes`):
    a model scores 0 on codes it does not know. `codes`, when given, restricts the evaluation to those
    codes (e.g. the ones coders corrected); each model predicts at its own threshold."""
    space = sorted({code for coder in coders.values() for code in coder.labels_} | set(codes or ()))
    index = {code: i for i, code in enumerate(space)}
    gold = np.zeros((len(notes), len(space)), np.float32)
    for row, note in enumerate(notes):
        for code in set(note.codes):
            if code in index:
                gold[row, index[code]] = 1
    mask = None
    if codes is not None:
        mask = np.zeros(len(space), bool)
        mask[[index[c] for c in codes]] = True
    if mask is not None and not mask.any():
        return {name: {} for name in coders}  # no codes to evaluate
    texts = [note.text for note in notes]
    results = {}
    for name, coder in coders.items():
        scores = np.zeros_like(gold)
        scores[:, [index[c] for c in coder.labels_]] = coder.predict_proba(texts)
        results[name] = metrics.evaluate(gold, scores, threshold=coder.threshold_, label_mask=mask)
    return results


def split_heldout(notes: Sequence[Note], fraction: float, seed: int = 0) -> tuple[list[Note], list[Note]]:
    """(fine-tune, held-out) notes. A note's side depends on its id alone, so as corrections accumulate
    a held-out note never moves into training (its before/after figures stay honest)."""
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction}")
    train, heldout = [], []
    for note in notes:
        draw = int(hashlib.sha256(f"{seed}/{note.id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (heldout if draw < fraction else train).append(note)
    if not heldout and len(train) > 1:
        heldout.append(train.pop())
    if not train and len(heldout) > 1:
        train.append(heldout.pop())
    return train, heldout


def before_after(
    base_dir: str | Path,
    candidate_dir: str | Path,
    splits: dict[str, Sequence[Note]],
    corrected_codes: Sequence[str],
) -> dict:
    """`{split: {"all" | "corrected": {"base" | "candidate": metrics}}}` for each named set of notes
    (e.g. the held-out corrections and the standard test split); empty splits are left out."""
    coders = {"base": Coder.load(base_dir), "candidate": Coder.load(candidate_dir)}
    return {
        name: {
            "all": evaluate_models(coders, notes),
            "corrected": evaluate_models(coders, notes, corrected_codes),
        }
        for name, notes in splits.items()
        if notes
    }
