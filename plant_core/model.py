"""The PLANT / LANT coding model in plain PyTorch: an AWD-LSTM encoder with a tied language-model head,
and a label-wise attention decoder whose attention is either learned from scratch (LANT) or planted
from the learning-to-rank factors and the mutual-information table (PLANT).

Shapes: B notes, T tokens, L labels, d hidden size (= embedding size), f L2R factors, V vocabulary.
The one place where PLANT and LANT differ is `LabelAttention.attention_weights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize
from torch.utils.checkpoint import checkpoint

from plant_core.config import DecoderConfig, EncoderConfig
from plant_core.text import PAD_ID

# ----------------------------------------------------------------------------------------------------
# Encoder: AWD-LSTM (Merity et al. 2018) as used by ULMFiT and PLANT


class DropConnect(nn.Module):
    """Drops individual recurrent weights (not activations), registered as a weight parametrization."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return F.dropout(weight, self.p, self.training)


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Variational dropout: one mask per sequence, shared across time. x: (B, T, D)."""
    if not training or p == 0:
        return x
    mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - p) / (1 - p)
    return x * mask


class Encoder(nn.Module):
    def __init__(self, vocab_size: int, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size, cfg.emb_dim, padding_idx=PAD_ID)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        sizes = [cfg.emb_dim] + [cfg.hidden_dim] * (cfg.n_layers - 1) + [cfg.emb_dim]
        self.lstms = nn.ModuleList()
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            lstm = nn.LSTM(n_in, n_out, batch_first=True)
            if cfg.weight_dropout > 0:
                parametrize.register_parametrization(lstm, "weight_hh_l0", DropConnect(cfg.weight_dropout))
            self.lstms.append(lstm)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        weight = self.embedding.weight
        if self.training and self.cfg.embed_dropout > 0:
            keep = weight.new_empty(weight.size(0), 1).bernoulli_(1 - self.cfg.embed_dropout)
            weight = weight * keep / (1 - self.cfg.embed_dropout)
        return F.embedding(ids, weight, padding_idx=PAD_ID)

    def forward(self, ids: torch.Tensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        """ids (B, T) -> hidden states of the last layer (B, T, emb_dim), and the new LSTM state."""
        x = locked_dropout(self.embed(ids), self.cfg.input_dropout, self.training)
        new_state = []
        for i, lstm in enumerate(self.lstms):
            x, layer_state = lstm(x, None if state is None else state[i])
            new_state.append(layer_state)
            if i < len(self.lstms) - 1:
                x = locked_dropout(x, self.cfg.hidden_dropout, self.training)
        return x, new_state


class LMHead(nn.Module):
    """Next-token prediction, tied to the embedding matrix."""

    def __init__(self, encoder: Encoder, output_dropout: float):
        super().__init__()
        self.output_dropout = output_dropout
        self.embedding = encoder.embedding  # tied, not copied
        self.bias = nn.Parameter(torch.zeros(encoder.embedding.num_embeddings))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = locked_dropout(hidden, self.output_dropout, self.training)
        return F.linear(hidden, self.embedding.weight, self.bias)  # (B, T, V)


class LanguageModel(nn.Module):
    def __init__(self, vocab_size: int, cfg: EncoderConfig):
        super().__init__()
        self.encoder = Encoder(vocab_size, cfg)
        self.head = LMHead(self.encoder, cfg.output_dropout)

    def forward(self, ids: torch.Tensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        hidden, state = self.encoder(ids, state)
        return self.head(hidden), state


# ----------------------------------------------------------------------------------------------------
# Decoder: label-wise attention


INFERENCE_LABEL_CHUNK = 2048  # labels scored at once when no gradient is needed


class LabelAttention(nn.Module):
    """Attention maps over tokens, one per label, summed into label vectors, then one logit per label.

    Branches (PLANT.md, stage 3): learned `A = softmax(H Uᵀ)`; planted `P = u_t·v_l + b_t + c_l` with
    inattention (top-k tokens per label, then softmax); static `S = MI(t, l)` top-k, no softmax.
    """

    def __init__(self, n_labels: int, vocab_size: int, dim: int, n_factors: int, cfg: DecoderConfig, planted: bool):
        super().__init__()
        self.cfg = cfg
        self.planted = planted
        self.label_queries = nn.Parameter(torch.empty(n_labels, dim))  # U, the learned branch
        nn.init.trunc_normal_(self.label_queries, std=0.01)
        self.weight = nn.Parameter(torch.empty(n_labels, dim))  # element-wise linear output layer
        nn.init.normal_(self.weight, std=dim**-0.5)
        self.bias = nn.Parameter(torch.empty(n_labels).uniform_(-0.1, 0.1))
        if planted:
            # Overwritten by `plant()` with the L2R factors; zeros until then.
            self.token_factors = nn.Embedding(vocab_size, n_factors)
            self.token_bias = nn.Embedding(vocab_size, 1)
            self.label_factors = nn.Parameter(torch.zeros(n_labels, n_factors))
            self.label_bias = nn.Parameter(torch.zeros(n_labels))
            nn.init.zeros_(self.token_factors.weight)
            nn.init.zeros_(self.token_bias.weight)
            # Static MI table, token-major CSR: token t's labels are mi_labels[mi_indptr[t]:mi_indptr[t+1]].
            self.register_buffer("mi_indptr", torch.zeros(vocab_size + 1, dtype=torch.long))
            self.register_buffer("mi_labels", torch.zeros(0, dtype=torch.long))
            self.register_buffer("mi_values", torch.zeros(0))

    @torch.no_grad()
    def plant(self, token_factors, token_bias, label_factors, label_bias, mi_indptr, mi_labels, mi_values) -> None:
        """Copies the L2R factors and the MI table in: this is the 'planting' of PLANT."""
        self.token_factors.weight.copy_(token_factors)
        self.token_bias.weight.copy_(token_bias.reshape(-1, 1))
        self.label_factors.copy_(label_factors)
        self.label_bias.copy_(label_bias)
        self.mi_indptr = mi_indptr.to(self.mi_indptr.device)
        self.mi_labels = mi_labels.to(self.mi_indptr.device)
        self.mi_values = mi_values.to(self.mi_indptr.device, torch.float32)

    @torch.no_grad()
    def init_bias_at_prior(self, label_frequency: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """Starts each label's logit at its training log-odds, so early gradients are not spent pushing
        ~1,000 rare labels' biases down (they would also drag the element-wise weights along).
        `labels` (indices) limits this to some labels, e.g. the codes a fine-tune adds."""
        p = label_frequency.clamp(1e-6, 1 - 1e-6)
        if labels is None:
            self.bias.copy_(torch.log(p / (1 - p)))
        else:
            self.bias[labels] = torch.log(p / (1 - p))

    def _static_scores(self, tokens: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Dense (B, T, L') MI lookup for the given labels, gathered from the sparse table."""
        B, T = tokens.shape
        scores = tokens.new_zeros(B * T, labels.numel(), dtype=torch.float32)
        flat = tokens.reshape(-1)
        starts, ends = self.mi_indptr[flat], self.mi_indptr[flat + 1]
        counts = (ends - starts) * mask.reshape(-1)
        if counts.sum() == 0:
            return scores.view(B, T, -1)
        rows = torch.repeat_interleave(torch.arange(B * T, device=tokens.device), counts)
        first = torch.repeat_interleave(starts, counts)
        within = torch.arange(rows.numel(), device=tokens.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts
        )
        entries = first + within
        column_of = torch.full((self.label_queries.size(0),), -1, dtype=torch.long, device=tokens.device)
        column_of[labels] = torch.arange(labels.numel(), device=tokens.device)
        cols = column_of[self.mi_labels[entries]]
        keep = cols >= 0
        scores[rows[keep], cols[keep]] = self.mi_values[entries[keep]]
        return scores.view(B, T, -1)

    def attention_weights(
        self, hidden: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Combined attention (B, T, L') of the given labels over the tokens: the sum of the branches.

        hidden (B, T, d); tokens (B, T) token ids the planted branches look up; mask (B, T) true on real tokens.
        """
        pad = ~mask.unsqueeze(-1)  # (B, T, 1)
        learned = hidden @ self.label_queries[labels].T  # (B, T, L')
        weights = learned.masked_fill(pad, float("-inf")).softmax(dim=1)
        if not self.planted:  # LANT: random-initialised label attention alone
            return weights
        if not self.cfg.learned_branch:  # ablation: what the planted branches do without it
            weights = torch.zeros_like(weights)

        planted = self.token_factors(tokens) @ self.label_factors[labels].T  # (B, T, L')
        planted = planted + self.token_bias(tokens) + self.label_bias[labels]
        planted = planted.masked_fill(pad, float("-inf"))
        k = min(self.cfg.planted_k, tokens.size(1))
        top_values, top_index = planted.topk(k, dim=1)  # (B, k, L')
        if self.cfg.inattention == "hard":
            kept = torch.zeros_like(planted).scatter_(1, top_index, top_values.softmax(dim=1))
        else:  # "soft": dropped scores set to 0 but still take softmax mass, as the authors' code does
            dropped = torch.zeros_like(planted).scatter_(1, top_index, top_values)
            kept = dropped.masked_fill(pad, float("-inf")).softmax(dim=1)
        weights = weights + torch.nan_to_num(kept)

        if self.cfg.static_branch:
            static = self._static_scores(tokens, mask, labels)
            k = min(self.cfg.static_k, tokens.size(1))
            top_values, top_index = static.topk(k, dim=1)
            weights = weights + torch.zeros_like(static).scatter_(1, top_index, top_values)
        return weights

    def logits_from_weights(self, weights: torch.Tensor, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        label_vectors = weights.transpose(1, 2) @ hidden  # (B, L', d): V = Aᵀ H + Pᵀ H + Sᵀ H
        return (label_vectors * self.weight[labels]).sum(-1) + self.bias[labels]  # (B, L')

    def logits(self, hidden, tokens, mask, labels) -> torch.Tensor:
        return self.logits_from_weights(self.attention_weights(hidden, tokens, mask, labels), hidden, labels)

    def forward(self, hidden, tokens, mask, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, L) for all labels, or for `labels` (a 1-D index tensor) only."""
        if labels is None:
            labels = torch.arange(self.label_queries.size(0), device=hidden.device)
        chunk = self.cfg.label_chunk
        if chunk <= 0 and not torch.is_grad_enabled():
            chunk = INFERENCE_LABEL_CHUNK  # inference always bounds its memory
        if chunk <= 0 or labels.numel() <= chunk:
            return self.logits(hidden, tokens, mask, labels)
        # Bounded memory: label attention is O(B·T·L); compute it L/chunk labels at a time, and in
        # training recompute each chunk in the backward pass instead of keeping it.
        parts = []
        for piece in labels.split(chunk):
            if self.training and torch.is_grad_enabled():
                parts.append(checkpoint(self.logits, hidden, tokens, mask, piece, use_reentrant=False))
            else:
                parts.append(self.logits(hidden, tokens, mask, piece))
        return torch.cat(parts, dim=1)


# ----------------------------------------------------------------------------------------------------
# The coding model


@dataclass
class Window:
    """One window of encoded tokens: hidden (B, T, d), planted token ids (B, T), mask (B, T), and which
    notes still have tokens in it (B,)."""

    hidden: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor
    has_tokens: torch.Tensor


class CodingModel(nn.Module):
    """Encoder + LM head + label attention. `planted=False` is LANT, `planted=True` is PLANT."""

    def __init__(
        self,
        vocab_size: int,
        n_labels: int,
        encoder_cfg: EncoderConfig,
        decoder_cfg: DecoderConfig,
        n_factors: int,
        planted: bool,
    ):
        super().__init__()
        self.decoder_cfg = decoder_cfg
        self.lm = LanguageModel(vocab_size, encoder_cfg)
        self.attention = LabelAttention(n_labels, vocab_size, encoder_cfg.emb_dim, n_factors, decoder_cfg, planted)

    def planted_tokens(self, ids: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """The token each position's planted scores look up: the input token (ours) or the LM's guess."""
        if self.decoder_cfg.planted_token == "lm_predicted":
            with torch.no_grad():
                return self.lm.head(hidden).argmax(-1)
        return ids

    def forward(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        state: list | None = None,
        labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list]:
        """ids, mask (B, T) -> logits (B, L), encoder state (carried across windows of a long note)."""
        hidden, state = self.lm.encoder(ids, state)
        logits = self.attention(hidden, self.planted_tokens(ids, hidden), mask, labels)
        return logits, state

    def attention_map(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, state=None):
        """Combined attention (B, T, len(labels)) for explanations, and the encoder state."""
        hidden, state = self.lm.encoder(ids, state)
        return self.attention.attention_weights(hidden, self.planted_tokens(ids, hidden), mask, labels), state

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Named groups for gradual unfreezing and discriminative learning rates, top layer first."""
        attention = dict(self.attention.named_parameters())
        l2r_names = {"token_factors.weight", "token_bias.weight", "label_factors", "label_bias"}
        groups = {
            "head": [p for n, p in attention.items() if n not in l2r_names],
            "l2r": [p for n, p in attention.items() if n in l2r_names],
        }
        for i, lstm in reversed(list(enumerate(self.lm.encoder.lstms))):
            groups[f"lstm{i}"] = list(lstm.parameters())
        groups["embedding"] = [self.lm.encoder.embedding.weight, self.lm.head.bias]
        return groups

    def read_windows(self, ids: torch.Tensor, mask: torch.Tensor) -> list[Window]:
        """Encodes a batch of notes of any length in windows of `decoder.window` tokens, carrying the LSTM
        state across windows (the stateful decoder). The encoder runs once; logits and explanations are
        then computed from the windows for whichever labels are asked for."""
        window = self.decoder_cfg.window
        state, windows = None, []
        for start in range(0, ids.size(1), window):
            part, part_mask = ids[:, start : start + window], mask[:, start : start + window]
            has_tokens = part_mask.any(1)
            if not has_tokens.any():
                break
            part_mask = part_mask.clone()
            part_mask[~has_tokens, 0] = True  # a finished note attends to a pad; its logits are dropped
            hidden, state = self.lm.encoder(part, state)
            windows.append(Window(hidden, self.planted_tokens(part, hidden), part_mask, has_tokens))
        return windows

    def window_logits(self, windows: list[Window], labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, L'): a label's logit is its maximum over windows (ours: evidence in any window counts)."""
        best = None
        for w in windows:
            logits = self.attention(w.hidden, w.tokens, w.mask, labels)
            logits = logits.masked_fill(~w.has_tokens.unsqueeze(1), float("-inf"))
            best = logits if best is None else torch.maximum(best, logits)
        return best

    def window_attention(self, windows: list[Window], labels: torch.Tensor) -> torch.Tensor:
        """Combined attention (B, T, L') of a few labels over every window's tokens, side by side."""
        maps = [
            self.attention.attention_weights(w.hidden, w.tokens, w.mask, labels).masked_fill(~w.mask.unsqueeze(-1), 0)
            for w in windows
        ]
        return torch.cat(maps, dim=1)

    def window_contributions(self, windows: list[Window], labels: torch.Tensor) -> torch.Tensor:
        """What each token adds to each label's logit (B, T, L'), every window's tokens side by side.

        A window's logit is z_l = sum_t a_tl (w_l . h_t) + b_l, so a_tl (w_l . h_t) is at once the token's
        share of the logit and its attention times the gradient of the logit with respect to it."""
        attention = self.window_attention(windows, labels)
        hidden = torch.cat([w.hidden for w in windows], dim=1)  # (B, T, d)
        return attention * (hidden @ self.attention.weight[labels].T)

    def windowed(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, L') for notes of any length."""
        return self.window_logits(self.read_windows(ids, mask), labels)

    def _labels(self, labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None:
            return torch.arange(self.attention.label_queries.size(0), device=self.attention.bias.device)
        return labels
