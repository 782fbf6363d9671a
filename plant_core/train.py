"""Training, all stages: tokenizer → language model → MI table → L2R → planted (or LANT) classifier.

Each stage's output is cached in `<run>/stages/` under a key of its inputs, so a second run (another
system, another decoder setting) reuses the LM, MI table and L2R model. Runs on CPU or CUDA (bf16
autocast), and under `torchrun` as DDP (NCCL on GPU, gloo on CPU) for every stage that trains.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from plant_core import metrics
from plant_core.checkpoint import build_model, save_model
from plant_core.config import Config
from plant_core.dataset import (
    EncodedSplit,
    encode_split,
    fingerprint,
    label_space,
    length_bucketed_batches,
    load_dataset,
    pad_batch,
    token_stream,
    training_subset,
)
from plant_core.l2r import FactorRanker, ListSampler, lambdarank_gradients, ndcg_at_k, relevance_grades
from plant_core.model import CodingModel, LanguageModel
from plant_core.mutual_info import mutual_info_gain, presence_matrix
from plant_core.text import Tokenizer

# ----------------------------------------------------------------------------------------------------
# Run context: device, distributed setup, logging


@dataclass
class Run:
    out_dir: Path
    cache_dir: Path
    device: torch.device
    rank: int = 0
    world_size: int = 1
    log_path: Path | None = None
    timings: dict = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def log(self, **record) -> None:
        if self.is_main and self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"time": time.time(), **record}, default=float) + "\n")

    def progress(self, iterable, **kwargs):
        return tqdm(iterable, disable=not self.is_main or os.environ.get("PLANT_NO_PROGRESS") == "1", **kwargs)

    def autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if not self.distributed:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def shard(self, items: list) -> list:
        """This process's share of a list; every process gets the same number of items."""
        if not self.distributed:
            return items
        per_rank = math.ceil(len(items) / self.world_size)
        padded = items + items[: per_rank * self.world_size - len(items)]
        return padded[self.rank :: self.world_size]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA device is available")
    return torch.device(device)


def start_run(out_dir: Path, device: str, cache_dir: Path | None) -> Run:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dev = resolve_device(device)
    if world_size > 1:
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir or out_dir / "stages"
    cache.mkdir(parents=True, exist_ok=True)
    return Run(out_dir, cache, dev, rank, world_size, log_path=out_dir / "log.jsonl")


def stage_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


# ----------------------------------------------------------------------------------------------------
# Stage 0: language model on the training notes


def train_language_model(run: Run, config: Config, vocab_size: int, train_ids: list[np.ndarray]) -> dict:
    cfg = config.lm
    model = LanguageModel(vocab_size, config.encoder).to(run.device)
    ddp = run.wrap(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.8, 0.99))
    stream = token_stream(train_ids)
    rng = np.random.default_rng(config.seed)
    bptt = config.encoder.bptt
    for epoch in range(cfg.epochs):
        rolled = np.roll(stream, -int(rng.integers(max(stream.size, 1))))
        if cfg.max_tokens_per_epoch:
            rolled = rolled[: cfg.max_tokens_per_epoch]
        # Each process reads its own rows of `batch_size` parallel streams, state carried across chunks.
        rows = max(1, rolled.size // cfg.batch_size)
        data = torch.from_numpy(rolled[: rows * cfg.batch_size].reshape(cfg.batch_size, rows))
        data = data[run.rank :: run.world_size].to(run.device)
        steps = list(range(0, rows - 1, bptt))
        state, total, count = None, 0.0, 0
        bar = run.progress(steps, desc=f"LM epoch {epoch + 1}/{cfg.epochs}", unit="chunk")
        model.train()
        for step, start in enumerate(bar):
            lr = cfg.lr * min(1.0, (step + 1) / max(1, len(steps) // 10))
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = data[:, start : start + bptt]
            y = data[:, start + 1 : start + 1 + bptt]
            x = x[:, : y.size(1)]
            with run.autocast():
                logits, state = ddp(x, state)
                loss = F.cross_entropy(logits.float().reshape(-1, vocab_size), y.reshape(-1))
            state = [tuple(s.detach() for s in layer) for layer in state]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.4)
            optimizer.step()
            total, count = total + loss.item(), count + 1
            bar.set_postfix(loss=f"{loss.item():.3f}", ppl=f"{math.exp(min(total / count, 20)):.1f}")
        run.log(stage="lm", epoch=epoch + 1, loss=total / max(count, 1), perplexity=math.exp(min(total / max(count, 1), 20)))
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------------------------------
# Stage 2: learning to rank tokens for every label


def train_l2r(run: Run, config: Config, mi: sp.csr_matrix, ranker: FactorRanker | None = None) -> dict:
    """The L2R factors of every label of `mi` (labels × tokens). `ranker`, when given, is trained instead
    of a fresh one: fine-tuning passes one whose token factors are the model's own, frozen, so that only
    the new codes' factors are learned (in the token space the model was trained with)."""
    cfg = config.l2r
    n_labels, vocab_size = mi.shape
    grades = relevance_grades(mi, cfg.n_grades)
    sampler = ListSampler(grades, cfg.list_size, cfg.heldout_fraction, seed=config.seed + run.rank)
    model = (ranker or FactorRanker(vocab_size, n_labels, cfg.factors)).to(run.device)
    ddp = run.wrap(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(config.seed)
    eval_labels = np.arange(n_labels)
    bar = run.progress(range(cfg.epochs), desc="L2R", unit="epoch")
    for epoch in bar:
        batches = np.array_split(rng.permutation(n_labels), max(1, math.ceil(n_labels / cfg.lists_per_batch)))
        train_ndcg = []
        model.train()
        for labels in run.shard(batches):
            tokens, rel = sampler.training_batch(labels)
            labels_t = torch.from_numpy(labels).to(run.device)
            tokens_t = torch.from_numpy(tokens).to(run.device)
            rel_t = torch.from_numpy(rel).to(run.device)
            scores = ddp(labels_t, tokens_t)
            lambdas = lambdarank_gradients(scores, rel_t, cfg.sigma, cfg.k)
            optimizer.zero_grad(set_to_none=True)
            scores.backward(lambdas / len(labels))
            optimizer.step()
            train_ndcg.append(ndcg_at_k(scores.detach(), rel_t, cfg.k).mean().item())
        heldout = evaluate_l2r(model, sampler, eval_labels, cfg.k, run.device)
        bar.set_postfix(train_ndcg=f"{np.mean(train_ndcg):.3f}", heldout_ndcg=f"{heldout:.3f}")
        run.log(stage="l2r", epoch=epoch + 1, train_ndcg=float(np.mean(train_ndcg)), heldout_ndcg=heldout)
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


@torch.no_grad()
def evaluate_l2r(model: FactorRanker, sampler: ListSampler, labels: np.ndarray, k: int, device) -> float:
    """Mean NDCG@k of each label's held-out relevant tokens ranked among random ones."""
    model.eval()
    labels, tokens, rel = sampler.heldout_batch(labels)
    if labels.size == 0:
        return float("nan")
    scores = model(torch.from_numpy(labels).to(device), torch.from_numpy(tokens).to(device))
    return ndcg_at_k(scores, torch.from_numpy(rel).to(device), k).mean().item()


def factorise_mi(mi: sp.csr_matrix, n_factors: int) -> dict:
    """Ablation 'L2R skipped': plant a rank-f factorisation of the MI table itself (truncated SVD)."""
    from scipy.sparse.linalg import svds

    k = max(1, min(n_factors, min(mi.shape) - 1))
    u, s, vt = svds(mi.astype(np.float64), k=k, random_state=0)
    root = np.sqrt(s)
    labels = np.zeros((mi.shape[0], n_factors), np.float32)
    tokens = np.zeros((mi.shape[1], n_factors), np.float32)
    labels[:, :k], tokens[:, :k] = u * root, vt.T * root
    return {
        "token_factors.weight": torch.from_numpy(tokens),
        "token_bias.weight": torch.zeros(mi.shape[1], 1),
        "label_factors.weight": torch.from_numpy(labels),
        "label_bias.weight": torch.zeros(mi.shape[0], 1),
    }


def static_table(mi: sp.csr_matrix, scale: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The MI table as token-major CSR tensors (indptr, labels, values) for the static branch."""
    mi = mi.tocsr().astype(np.float32)
    if scale == "label_max":
        peak = mi.max(axis=1).toarray().ravel()
        mi = sp.diags(np.where(peak > 0, 1.0 / np.maximum(peak, 1e-12), 0.0).astype(np.float32)) @ mi
    by_token = mi.T.tocsr()
    by_token.sort_indices()
    return (
        torch.from_numpy(by_token.indptr.astype(np.int64)),
        torch.from_numpy(by_token.indices.astype(np.int64)),
        torch.from_numpy(by_token.data.astype(np.float32)),
    )


# ----------------------------------------------------------------------------------------------------
# Stage 4: the classifier, with gradual unfreezing and discriminative learning rates

UNFREEZE = {  # which parameter groups train in each stage of the schedule
    "head": lambda name: name in ("head", "l2r"),
    "lstm_top": lambda name: name in ("head", "l2r", "lstm_top"),
    "lstm_all": lambda name: name in ("head", "l2r") or name.startswith("lstm"),
    "all": lambda name: True,
}


def optimizer_groups(model: CodingModel, config: Config) -> list[dict]:
    cfg = config.classifier
    groups = model.parameter_groups()
    lstm_names = [n for n in groups if n.startswith("lstm")]  # top first
    result = []
    for name, params in groups.items():
        if name == "head":
            lr = cfg.lr
        elif name == "l2r":
            lr = cfg.lr * cfg.l2r_lr_ratio
        elif name == "embedding":
            lr = cfg.lr / cfg.lr_decay_per_layer ** (len(lstm_names) + 1)
        else:
            lr = cfg.lr / cfg.lr_decay_per_layer ** (lstm_names.index(name) + 1)
        kind = "lstm_top" if name == lstm_names[0] else name
        result.append({"params": params, "lr": lr, "base_lr": lr, "name": name, "kind": kind})
    return result


def set_trainable(optimizer: torch.optim.Optimizer, stage: str) -> None:
    if stage not in UNFREEZE:
        raise ValueError(f"unknown unfreezing stage {stage!r}; choose from {sorted(UNFREEZE)}")
    for group in optimizer.param_groups:
        trainable = UNFREEZE[stage](group["kind"])
        for p in group["params"]:
            p.requires_grad_(trainable)


@torch.no_grad()
def predict_proba(
    model: CodingModel, ids: list[np.ndarray], device: torch.device, batch_size: int = 16, autocast=None
) -> np.ndarray:
    """Probabilities (notes, labels) for tokenised notes of any length."""
    model.eval()
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((len(ids), model.attention.bias.numel()), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch_ids, mask = pad_batch([ids[i] for i in rows])
        with autocast or contextlib.nullcontext():
            logits = model.windowed(batch_ids.to(device), mask.to(device))
        out[rows] = torch.sigmoid(logits.float()).cpu().numpy()
    return out


ProgressCallback = Callable[[dict], None]


def train_classifier(
    run: Run,
    config: Config,
    model: CodingModel,
    train: EncodedSplit,
    dev: EncodedSplit,
    resume: bool,
    on_progress: ProgressCallback | None = None,
) -> tuple[dict, list[dict]]:
    """Trains the classifier; returns the state of the best dev-P@15 epoch and every epoch's record.

    `on_progress`, when given, is called on the main process after every step (`{"event": "step", ...}`)
    and every epoch (`{"event": "epoch", ...}` with the dev metrics); an exception it raises stops
    training (that is how a retraining job is cancelled)."""
    cfg = config.classifier
    report = on_progress if run.is_main and on_progress is not None else (lambda _event: None)
    model.to(run.device)
    optimizer = torch.optim.AdamW(optimizer_groups(model, config), weight_decay=cfg.weight_decay)
    plan = [stage for stage, epochs in cfg.schedule for _ in range(epochs)]  # stage of each epoch
    # On a small training set an "epoch" reads the notes `passes` times, so that the run makes at least
    # `min_steps` updates: 100 notes are not judged after 30 updates (the same rule for every system).
    steps_per_pass = math.ceil(len(train.ids) / cfg.batch_size / run.world_size)
    passes = max(1, math.ceil(cfg.min_steps / max(1, len(plan) * steps_per_pass)))
    checkpoint_path = run.out_dir / "stages" / "classifier_last.pt"
    best = {"p@15": -1.0, "state": None, "epoch": 0}
    history, first_epoch = [], 0
    if resume and checkpoint_path.exists():
        saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        best = {"p@15": saved["best_p15"], "state": saved["best_state"], "epoch": saved["best_epoch"]}
        history, first_epoch = json.loads(saved["history"]), int(saved["epoch"])
        run.log(stage="classifier", event="resumed", epoch=first_epoch)
    rng = np.random.default_rng(config.seed + first_epoch)
    lengths = [min(len(x), cfg.max_train_tokens) for x in train.ids]
    targets = train.targets.tocsr()
    dev_targets = dev.targets
    previous_stage = None
    for epoch in range(first_epoch, len(plan)):
        stage = plan[epoch]
        if stage != previous_stage:
            set_trainable(optimizer, stage)
            ddp = run.wrap(model)  # DDP must see which parameters train in this stage
            previous_stage = stage
        batches = run.shard([b for _ in range(passes) for b in length_bucketed_batches(lengths, cfg.batch_size, rng)])
        model.train()
        total, bar = 0.0, run.progress(batches, desc=f"{stage} epoch {epoch + 1}/{len(plan)}", unit="batch")
        for step, rows in enumerate(bar):
            # Cosine decay within each epoch after a short warm-up, on every group's own base rate.
            progress = step / max(1, len(batches))
            factor = min(1.0, (step + 1) / max(1, len(batches) // 20)) * (0.55 + 0.45 * math.cos(math.pi * progress))
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * factor
            ids, mask = pad_batch([train.ids[i] for i in rows], cfg.max_train_tokens)
            y = torch.from_numpy(targets[rows].toarray()).to(run.device)
            with run.autocast():
                logits, _ = ddp(ids.to(run.device), mask.to(run.device))
                loss = F.binary_cross_entropy_with_logits(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
            optimizer.step()
            total += loss.item()
            bar.set_postfix(loss=f"{loss.item():.4f}")
            report({"event": "step", "epoch": epoch + 1, "epochs": len(plan), "step": step + 1,
                    "steps": len(batches), "stage": stage, "loss": loss.item()})
        scores = predict_proba(model, dev.ids, run.device, autocast=run.autocast())
        dev_metrics = metrics.evaluate(dev_targets, scores)
        record = {"epoch": epoch + 1, "stage": stage, "steps": len(batches), "loss": total / max(1, len(batches)),
                  **_short(dev_metrics)}
        history.append(record)
        run.log(**{"stage_name": "classifier", **record})
        report({"event": "epoch", "epochs": len(plan), **record})
        if run.is_main:
            tqdm.write(
                f"epoch {epoch + 1}: loss {record['loss']:.4f}  dev P@5 {dev_metrics['p@5']:.3f}  "
                f"P@15 {dev_metrics['p@15']:.3f}  micro-F1 {dev_metrics['micro_f1']:.3f}"
            )
        if dev_metrics["p@15"] > best["p@15"]:
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            best = {"p@15": dev_metrics["p@15"], "state": state, "epoch": epoch + 1}
        if run.is_main:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch + 1,
                    "best_p15": best["p@15"],
                    "best_state": best["state"],
                    "best_epoch": best["epoch"],
                    "history": json.dumps(history),
                },
                checkpoint_path.with_suffix(".tmp"),
            )
            os.replace(checkpoint_path.with_suffix(".tmp"), checkpoint_path)
    return best["state"], history


def _short(m: dict) -> dict:
    keys = ("p@5", "p@8", "p@15", "micro_f1", "macro_f1", "micro_auc", "macro_auc")
    return {f"dev_{k}": float(m[k]) for k in keys if k in m}


# ----------------------------------------------------------------------------------------------------
# All stages


def cached(run: Run, name: str, key: str, make):
    """Loads stage `name` from the cache if its key matches, else makes it (main process) and saves it."""
    path = run.cache_dir / f"{name}-{key}.pt"
    exists = path.exists()
    run.barrier()  # every process has looked before the main one writes, so all take the same branch
    if not exists:
        started = time.perf_counter()
        value = make()
        run.timings[name] = time.perf_counter() - started
        if run.is_main:
            torch.save(value, path.with_suffix(".tmp"))
            os.replace(path.with_suffix(".tmp"), path)
        run.barrier()
        return value
    run.log(stage=name, event="reused cache", path=str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def train(
    system: str,
    data_dir: str | Path,
    out_dir: str | Path,
    config: Config,
    *,
    fraction: float = 1.0,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    cache_dir: str | Path | None = None,
) -> Path:
    """Trains `system` ("plant" or "lant") on the corpus in `data_dir` and saves the model in `out_dir`."""
    config.seed = seed
    run = start_run(Path(out_dir), device, Path(cache_dir) if cache_dir else None)
    (run.out_dir / "stages").mkdir(exist_ok=True)
    seed_everything(seed)
    started = time.perf_counter()

    dataset = load_dataset(data_dir)
    for split in ("train", "dev"):
        if not dataset.get(split):
            raise ValueError(f"{data_dir}: the corpus has no {split!r} split; PLANT needs train and dev notes")
    labels, full_counts = label_space(dataset["train"])
    label_index = {c: i for i, c in enumerate(labels)}
    train_notes = training_subset(dataset["train"], fraction, seed)
    data_key = fingerprint(train_notes)
    # The vocabulary and the language model need text, not codes: with lm.text "all" they read every
    # training note, as a hospital has far more uncoded notes than coded ones; `fraction` then limits
    # only what uses the codes (MI, L2R, the classifier).
    text_notes = dataset["train"] if config.lm.text == "all" else train_notes
    run.log(stage="data", train_notes=len(train_notes), text_notes=len(text_notes), labels=len(labels),
            fraction=fraction, seed=seed)

    def make_tokenizer():
        tok = Tokenizer.train((n.text for n in text_notes), config.vocab.vocab_size, config.vocab.min_frequency)
        return {"json": tok.backend.to_str()}

    tok_key = stage_key(fingerprint(text_notes), config.vocab)
    tokenizer = Tokenizer.from_str(cached(run, "tokenizer", tok_key, make_tokenizer)["json"])
    train_split = encode_split(train_notes, tokenizer, label_index)
    dev_split = encode_split(dataset["dev"], tokenizer, label_index)

    lm_key = stage_key(tok_key, config.encoder, config.lm, seed)
    lm_state = cached(
        run, "lm", lm_key,
        lambda: train_language_model(run, config, tokenizer.vocab_size, [tokenizer.encode(n.text).ids for n in text_notes]),
    )

    model = build_model(config, tokenizer.vocab_size, len(labels), system)
    model.lm.load_state_dict(lm_state)
    if config.decoder.bias_init == "prior":
        frequency = np.asarray(train_split.targets.mean(axis=0)).ravel()
        model.attention.init_bias_at_prior(torch.from_numpy(frequency).float())
    if system == "plant":
        mi_key = stage_key(tok_key, data_key, labels, config.mi)

        def make_mi():
            x = presence_matrix(train_split.ids, tokenizer.vocab_size)
            table = mutual_info_gain(x, train_split.targets, top_k=config.mi.top_k, normalise=config.mi.normalise)
            table = table.tocsr()
            return {k: torch.from_numpy(np.asarray(v)) for k, v in
                    {"indptr": table.indptr.astype(np.int64), "indices": table.indices.astype(np.int64),
                     "data": table.data.astype(np.float32), "shape": np.array(table.shape)}.items()}

        mi_parts = cached(run, "mi", mi_key, make_mi)
        mi = sp.csr_matrix(
            (mi_parts["data"].numpy(), mi_parts["indices"].numpy(), mi_parts["indptr"].numpy()),
            shape=tuple(mi_parts["shape"].tolist()),
        )
        if config.decoder.planted_source == "l2r":
            ranker = cached(run, "l2r", stage_key(mi_key, config.l2r, seed), lambda: train_l2r(run, config, mi))
        else:
            ranker = factorise_mi(mi, config.l2r.factors)
        model.attention.plant(
            ranker["token_factors.weight"],
            ranker["token_bias.weight"],
            ranker["label_factors.weight"],
            ranker["label_bias.weight"].reshape(-1),
            *static_table(mi, config.decoder.static_scale),
        )

    clf_started = time.perf_counter()
    best_state, history = train_classifier(run, config, model, train_split, dev_split, resume)
    run.timings["classifier"] = time.perf_counter() - clf_started
    model.load_state_dict(best_state)

    model_dir = run.out_dir
    if run.is_main:
        dev_scores = predict_proba(model, dev_split.ids, run.device, autocast=run.autocast())
        threshold = metrics.tune_threshold(dev_split.targets, dev_scores)
        report = {"threshold_tuned_on": "dev micro-F1", "dev": metrics.evaluate(dev_split.targets, dev_scores, threshold=threshold)}
        if dataset.get("test"):
            test_split = encode_split(dataset["test"], tokenizer, label_index)
            test_scores = predict_proba(model, test_split.ids, run.device, autocast=run.autocast())
            report["test"] = metrics.evaluate(test_split.targets, test_scores, threshold=threshold)
            report["test_at_0.5"] = metrics.evaluate(test_split.targets, test_scores, threshold=0.5)
        created = datetime.now(UTC)
        meta = {
            "system": system,
            "version": f"{system}-{created:%Y%m%d-%H%M%S}-{data_key[:8]}",
            "created_at": created.isoformat(),
            "config": config.to_dict(),
            "data": {"dir": str(data_dir), "fingerprint": data_key, "fraction": fraction, "seed": seed,
                     "train_notes": len(train_notes)},
            "threshold": float(threshold),
            "metrics": report,
            "history": history,
            "timings_s": {**run.timings, "total": time.perf_counter() - started},
            "device": str(run.device),
            "world_size": run.world_size,
        }
        descriptions = code_descriptions(labels, data_dir)
        label_rows = [{"code": c, "description": descriptions.get(c, ""), "train_count": full_counts[c]} for c in labels]
        save_model(model_dir, model, tokenizer, label_rows, meta)
        run.log(stage="done", model_dir=str(model_dir), **{k: v for k, v in meta["timings_s"].items()})
    run.barrier()
    if run.distributed:
        dist.destroy_process_group()
    return model_dir


def code_descriptions(codes: list[str], data_dir: str | Path | None) -> dict[str, str]:
    """Descriptions from the corpus's labels.json when present, else from ICD-10-CM; '' when unknown (ICD-9)."""
    from plant_core import codes as icd10

    path = Path(data_dir) / "labels.json" if data_dir else None
    known = {}
    if path is not None and path.is_file():
        known = {c: v.get("description", "") for c, v in json.loads(path.read_text(encoding="utf-8")).items()}
    out = {}
    for code in codes:
        if known.get(code):
            out[code] = known[code]
        elif icd10.is_valid(code):
            out[code] = icd10.description(code)
        else:
            out[code] = ""
    return out
