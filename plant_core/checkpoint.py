"""A saved model is one directory: config.json, weights.pt, tokenizer.json, labels.json.

Weights are plain tensors read with `torch.load(weights_only=True)`, never unpickled code. A model is
written to a temporary directory beside its destination and renamed into place, so a crash never leaves
a half-written model where a server would load it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from plant_core import __version__
from plant_core.config import Config
from plant_core.model import CodingModel
from plant_core.text import Tokenizer

FORMAT_VERSION = 1
MODEL_FILES = ("config.json", "weights.pt", "tokenizer.json", "labels.json")


class ModelLoadError(ValueError):
    """A model directory that is missing, corrupt or from an incompatible version."""


@dataclass
class SavedModel:
    model: CodingModel
    tokenizer: Tokenizer
    labels: list[dict]  # [{"code", "description", "train_count"}], in the model's label order
    meta: dict  # config.json as written

    @property
    def config(self) -> Config:
        return Config.from_dict(self.meta["config"])


def build_model(config: Config, vocab_size: int, n_labels: int, system: str) -> CodingModel:
    if system not in ("plant", "lant"):
        raise ValueError(f"unknown system {system!r}: choose 'plant' or 'lant'")
    return CodingModel(
        vocab_size, n_labels, config.encoder, config.decoder, config.l2r.factors, planted=(system == "plant")
    )


def save_model(out_dir: str | Path, model: CodingModel, tokenizer: Tokenizer, labels: list[dict], meta: dict) -> Path:
    """Writes the model directory atomically; files already in `out_dir` that are not model files
    (stage caches, logs) are carried over."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.saving-", dir=out_dir.parent))
    try:
        meta = {**meta, "format_version": FORMAT_VERSION, "code_version": __version__}
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, tmp / "weights.pt")
        tokenizer.save(tmp / "tokenizer.json")
        (tmp / "labels.json").write_text(json.dumps(labels, indent=1, ensure_ascii=False))
        (tmp / "config.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str))
        if out_dir.exists():
            for child in out_dir.iterdir():
                if child.name not in MODEL_FILES:
                    os.replace(child, tmp / child.name)
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def load_model(model_dir: str | Path, device: str | torch.device = "cpu") -> SavedModel:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory {model_dir} does not exist")
    missing = [name for name in MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelLoadError(f"{model_dir} is not a complete model directory: missing {', '.join(missing)}")
    try:
        meta = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        labels = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{model_dir}: config.json or labels.json is corrupt ({e})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            f"{model_dir} was saved in model format {meta.get('format_version')!r} "
            f"(code {meta.get('code_version')!r}); this code reads format {FORMAT_VERSION}: retrain the model"
        )
    try:
        tokenizer = Tokenizer.load(model_dir / "tokenizer.json")
    except Exception as e:  # the tokenizers library raises its own exception types
        raise ModelLoadError(f"{model_dir}/tokenizer.json is corrupt ({e})") from None
    try:
        state = torch.load(model_dir / "weights.pt", map_location="cpu", weights_only=True)
    except Exception as e:  # zip, pickle and unpickling-policy errors alike
        raise ModelLoadError(f"{model_dir}/weights.pt cannot be read safely ({type(e).__name__}: {e})") from None
    try:
        config = Config.from_dict(meta["config"])
        model = build_model(config, tokenizer.vocab_size, len(labels), meta["system"])
        # The MI table's size varies per model: shape the buffers before loading them.
        if model.attention.planted:
            for name in ("mi_labels", "mi_values"):
                setattr(model.attention, name, torch.empty_like(state[f"attention.{name}"]))
        model.load_state_dict(state)
    except (KeyError, RuntimeError, TypeError) as e:
        raise ModelLoadError(f"{model_dir}: weights do not match the configuration ({e})") from None
    model.to(device).eval()
    return SavedModel(model=model, tokenizer=tokenizer, labels=labels, meta=meta)
