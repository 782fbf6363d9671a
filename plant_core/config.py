"""Every knob of a PLANT / LANT run, as dataclasses with named presets (tiny, demo, paper).

The CLI, the app and the saved model's config.json all read and write this one structure, so a model
directory says exactly how it was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class EncoderConfig:
    emb_dim: int = 400  # also the hidden size H seen by the decoder (tied LM head)
    hidden_dim: int = 1152
    n_layers: int = 3
    embed_dropout: float = 0.02  # drops whole words from the embedding matrix
    input_dropout: float = 0.25
    weight_dropout: float = 0.2  # DropConnect on the recurrent weights
    hidden_dropout: float = 0.2
    output_dropout: float = 0.1
    bptt: int = 72


@dataclass
class DecoderConfig:
    planted_k: int = 8  # inattention: tokens kept per label in the differentiable planted branch
    static_k: int = 5  # ... and in the static MI branch
    planted_token: str = "input"  # "input" (ours) | "lm_predicted" ([code])
    inattention: str = "hard"  # "hard" (-inf, ours) | "soft" (dropped scores zeroed, [code])
    static_branch: bool = True
    learned_branch: bool = True  # False (ablation): planted and static branches only
    planted_source: str = "l2r"  # "l2r" | "mi" (ablation: plant a factorisation of the MI table)
    # "label_max" (ours: each label's MI scaled to a maximum of 1, so the static branch's mass says how
    # much evidence a note holds) | "raw" ([paper]: raw MI, too small to matter next to two softmaxes)
    static_scale: str = "label_max"
    bias_init: str = "prior"  # "prior" (ours: each label's logit bias at its training log-odds) | "uniform"
    window: int = 2880  # tokens attended at once; longer notes are read in windows
    label_chunk: int = 0  # >0: compute label attention this many labels at a time (bounded memory)


@dataclass
class VocabConfig:
    vocab_size: int = 50000
    min_frequency: int = 3


@dataclass
class MIConfig:
    top_k: int = 1000  # tokens kept per label
    normalise: str = "none"  # "none" (plain I, [paper]) | "jaccard" ([code])


@dataclass
class LMConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    max_tokens_per_epoch: int = 0  # >0 caps the tokens read per epoch (CPU budgets)
    # Which notes the vocabulary and the LM read: "all" training notes (their codes unused) or only the
    # "subset" that `train --fraction` keeps for the label-dependent stages.
    text: str = "all"


@dataclass
class L2RConfig:
    factors: int = 400
    list_size: int = 64
    lists_per_batch: int = 64
    lr: float = 7e-5
    weight_decay: float = 0.1
    epochs: int = 100
    sigma: float = 0.5
    k: int = 15
    n_grades: int = 101
    heldout_fraction: float = 0.1


@dataclass
class ClassifierConfig:
    # Gradual unfreezing, last layer first: (what is trainable, epochs). Groups: "head" (decoder and
    # L2R factors), "lstm_top", "lstm_all", "all" (embedding too).
    schedule: list[tuple[str, int]] = field(
        default_factory=lambda: [("head", 2), ("lstm_top", 2), ("lstm_all", 4), ("all", 12)]
    )
    batch_size: int = 8
    lr: float = 1e-3
    lr_decay_per_layer: float = 2.6  # discriminative rates down the encoder (ULMFiT)
    l2r_lr_ratio: float = 0.4  # [paper] L2R factors at 1/2-1/3 of the head's rate
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    max_train_tokens: int = 2880  # tokens of a training note that are read (its first window)
    min_steps: int = 0  # >0: epochs read the notes several times until the run makes this many updates


@dataclass
class Config:
    name: str = "paper"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    mi: MIConfig = field(default_factory=MIConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    l2r: L2RConfig = field(default_factory=L2RConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        kwargs = {}
        for name, value in d.items():
            if name not in sections:
                continue
            sub = _SECTION_TYPES.get(name)
            if sub is None:
                kwargs[name] = value
            else:
                known = {f.name for f in dataclasses.fields(sub)}
                kwargs[name] = sub(**{k: v for k, v in value.items() if k in known})
        config = cls(**kwargs)
        config.classifier.schedule = [tuple(s) for s in config.classifier.schedule]
        return config

    @classmethod
    def named(cls, name: str) -> Config:
        if name not in PRESETS:
            raise ValueError(f"unknown config {name!r}; choose one of {sorted(PRESETS)}")
        return PRESETS[name]()


_SECTION_TYPES = {
    "encoder": EncoderConfig,
    "decoder": DecoderConfig,
    "vocab": VocabConfig,
    "mi": MIConfig,
    "lm": LMConfig,
    "l2r": L2RConfig,
    "classifier": ClassifierConfig,
}


def _paper() -> Config:
    return Config(name="paper")


def _demo() -> Config:
    # Sized to train end to end in a few minutes on 2 CPU cores.
    return Config(
        name="demo",
        encoder=EncoderConfig(emb_dim=96, hidden_dim=192, n_layers=2, weight_dropout=0.1, hidden_dropout=0.1),
        decoder=DecoderConfig(window=1024),
        vocab=VocabConfig(vocab_size=20000, min_frequency=2),
        mi=MIConfig(top_k=300),
        # 300k tokens in batches of 8 streams: ~520 updates. With 150k tokens in batches of 32 (65 updates)
        # the LM only learned word frequencies (perplexity ~1,240) and its hidden states barely varied
        # between notes, which left LANT nothing to attend to and slowed PLANT's first epoch (dev P@5
        # 0.49 vs 0.77 on the `small` corpus).
        lm=LMConfig(epochs=1, batch_size=8, lr=3e-3, max_tokens_per_epoch=300_000),
        l2r=L2RConfig(factors=64, lr=2e-2, weight_decay=0.01, epochs=25),
        classifier=ClassifierConfig(
            schedule=[("head", 1), ("lstm_top", 1), ("all", 2)], batch_size=16, lr=3e-3, max_train_tokens=1024,
            min_steps=400,
        ),
    )


def _tiny() -> Config:
    # For tests: seconds on one CPU core.
    return Config(
        name="tiny",
        encoder=EncoderConfig(emb_dim=32, hidden_dim=48, n_layers=2, bptt=32),
        decoder=DecoderConfig(window=256, planted_k=4, static_k=3),
        vocab=VocabConfig(vocab_size=5000, min_frequency=1),
        mi=MIConfig(top_k=100),
        lm=LMConfig(epochs=1, batch_size=16, lr=5e-3),
        l2r=L2RConfig(factors=16, list_size=32, lists_per_batch=32, lr=3e-2, weight_decay=0.0, epochs=10),
        classifier=ClassifierConfig(
            schedule=[("head", 2), ("all", 2)], batch_size=16, lr=5e-3, max_train_tokens=256
        ),
    )


PRESETS = {"paper": _paper, "demo": _demo, "tiny": _tiny}
