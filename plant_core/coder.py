"""The inference API: load a saved model, suggest codes for a note with the evidence for each.

    coder = Coder.load("models/demo")
    coder.suggest("74 y/o M with HTN and T2DM ...", top_k=15)   # codes, probabilities, evidence spans
    coder.predict_proba(texts)                                   # (notes, labels)

Evidence is the code's attention over the note's tokens (all branches summed, as the decoder uses it),
computed only for the codes returned, mapped back to character spans of the original text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from plant_core.checkpoint import ModelLoadError, load_model
from plant_core.dataset import pad_batch
from plant_core.text import UNK_ID
from plant_core.train import predict_proba as _predict_proba

__all__ = ["Coder", "Evidence", "ModelLoadError", "NoteAttention", "Suggestion"]


@dataclass
class Evidence:
    start: int
    end: int
    text: str
    weight: float


@dataclass
class Suggestion:
    code: str
    description: str
    probability: float
    predicted: bool  # above the model's threshold
    evidence: list[Evidence]


@dataclass
class NoteAttention:
    offsets: np.ndarray  # (tokens, 2) character spans into the text
    weights: np.ndarray  # (codes, tokens) in [0, 1], each row scaled to its maximum


class Coder:
    """A loaded PLANT / LANT model, scikit-learn style: learned state ends in an underscore."""

    def __init__(self, saved, device: str | torch.device = "cpu", evidence_tokens: int = 6):
        self.model_ = saved.model
        self.tokenizer_ = saved.tokenizer
        self.meta_ = saved.meta
        self.labels_ = [row["code"] for row in saved.labels]
        self.descriptions_ = {row["code"]: row.get("description", "") for row in saved.labels}
        self.threshold_ = float(saved.meta["threshold"])
        self.label_index_ = {code: i for i, code in enumerate(self.labels_)}
        self.device = torch.device(device)
        self.evidence_tokens = evidence_tokens

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "cpu") -> Coder:
        return cls(load_model(model_dir, device), device)

    @property
    def version(self) -> str:
        return self.meta_["version"]

    def info(self) -> dict:
        return {
            "system": self.meta_["system"],
            "version": self.version,
            "labels": list(self.labels_),
            "threshold": self.threshold_,
            "metrics": self.meta_.get("metrics", {}),
            "created_at": self.meta_.get("created_at"),
            "config": self.meta_.get("config", {}),
            "data": self.meta_.get("data", {}),
            "timings_s": self.meta_.get("timings_s", {}),
        }

    def _encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the note is empty: paste or load the text of a clinical note")
        enc = self.tokenizer_.encode(text)
        if enc.ids.size == 0:  # only numbers and punctuation: nothing to attend to
            return np.array([UNK_ID], dtype=np.int64), np.array([[0, 0]], dtype=np.int64)
        return enc.ids, enc.offsets

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Probabilities (notes, labels), columns in the order of `labels_`."""
        ids = [self._encode(t)[0] for t in texts]
        return _predict_proba(self.model_, ids, self.device)

    @torch.no_grad()
    def _read(self, ids: np.ndarray):
        self.model_.eval()
        batch, mask = pad_batch([ids])
        return self.model_.read_windows(batch.to(self.device), mask.to(self.device))

    @torch.no_grad()
    def _attention(self, windows, label_rows: list[int], method: str = "attention") -> np.ndarray:
        labels = torch.tensor(label_rows, dtype=torch.long, device=self.device)
        if method == "attention":
            weights = self.model_.window_attention(windows, labels)[0]  # (tokens, codes)
        elif method == "attention_x_gradient":
            weights = self.model_.window_contributions(windows, labels)[0].clamp(min=0)
        else:
            raise ValueError(f"method must be 'attention' or 'attention_x_gradient', got {method!r}")
        return weights.T.float().cpu().numpy()  # (codes, tokens)

    def attention(self, text: str, codes: list[str], method: str = "attention") -> NoteAttention:
        """Each code's attention over the note's tokens, scaled to a maximum of 1 per code.

        method "attention_x_gradient" weights the attention by each token's contribution to the code's
        logit (tokens that push the logit down get 0)."""
        ids, offsets = self._encode(text)
        rows = [self._row(code) for code in codes]
        weights = self._attention(self._read(ids), rows, method) if rows else np.zeros((0, ids.size))
        peak = weights.max(axis=1, keepdims=True) if weights.size else np.ones((len(rows), 1))
        return NoteAttention(offsets=offsets, weights=weights / np.where(peak > 0, peak, 1))

    def suggest(self, text: str, top_k: int = 15) -> list[Suggestion]:
        """The `top_k` most probable codes, best first, each with its evidence in the text."""
        ids, offsets = self._encode(text)
        windows = self._read(ids)  # the encoder runs once, for the scores and the evidence
        with torch.no_grad():
            probabilities = torch.sigmoid(self.model_.window_logits(windows)[0].float()).cpu().numpy()
        top = np.argsort(-probabilities, kind="stable")[: max(0, top_k)]
        if top.size == 0:
            return []
        weights = self._attention(windows, top.tolist())
        return [
            Suggestion(
                code=self.labels_[row],
                description=self.descriptions_.get(self.labels_[row], ""),
                probability=float(probabilities[row]),
                predicted=bool(probabilities[row] >= self.threshold_),
                evidence=evidence_spans(text, offsets, weights[i], self.evidence_tokens),
            )
            for i, row in enumerate(top)
        ]

    def _row(self, code: str) -> int:
        if code not in self.label_index_:
            raise KeyError(f"code {code!r} is not one of this model's {len(self.labels_)} labels")
        return self.label_index_[code]


def evidence_spans(text: str, offsets: np.ndarray, weights: np.ndarray, n_tokens: int) -> list[Evidence]:
    """The `n_tokens` highest-weighted tokens as character spans, adjacent tokens merged, best first.

    A merged span's weight is the sum of its tokens' weights; `text` is always `text[start:end]`.
    """
    if weights.size == 0 or offsets.size == 0:
        return []
    chosen = np.argsort(-weights, kind="stable")[:n_tokens]
    chosen = np.sort(chosen[weights[chosen] > 0])
    spans: list[list] = []
    for position in chosen:
        start, end = int(offsets[position, 0]), int(offsets[position, 1])
        if end <= start:
            continue
        if spans and position == spans[-1][3] + 1:
            spans[-1][1] = end
            spans[-1][2] += float(weights[position])
            spans[-1][3] = position
        else:
            spans.append([start, end, float(weights[position]), position])
    spans.sort(key=lambda s: -s[2])
    return [Evidence(start=s, end=e, text=text[s:e], weight=w) for s, e, w, _ in spans]
