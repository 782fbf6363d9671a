"""Tokenisation and vocabulary: a word-level `tokenizers` model trained on the training split.

Tokens keep their character offsets into the original text, so that attention weights can be drawn on
the note as the coder wrote it. Pieces without a letter (numbers, punctuation, blanks) are dropped, as
in PLANT's preprocessing, but clinical shorthand that mixes letters and digits (T2DM, CKD3b, A1c) and
slash or hyphen compounds (s/p, h/o, a-fib) stay single tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, normalizers, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer
from tokenizers.models import WordLevel

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
WORD_PATTERN = r"[^\W_]+(?:[-/'][^\W_]+)*"
_HAS_LETTER = re.compile(r"[^\W\d_]")


@dataclass
class Encoded:
    ids: np.ndarray  # (tokens,) int64
    offsets: np.ndarray  # (tokens, 2) int64 character spans into the original text


class Tokenizer:
    def __init__(self, backend: HFTokenizer):
        self.backend = backend
        vocab = backend.get_vocab()
        self.vocab_size = len(vocab)
        self._id_to_token = [""] * self.vocab_size
        for token, idx in vocab.items():
            self._id_to_token[idx] = token
        # Vocabulary entries that are whole words; pieces without a letter are dropped at encode time.
        self._is_word = np.array([bool(_HAS_LETTER.search(t)) for t in self._id_to_token], dtype=bool)
        self._is_word[PAD_ID] = False

    @staticmethod
    def _blank() -> HFTokenizer:
        backend = HFTokenizer(WordLevel(unk_token=UNK))
        backend.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        backend.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")
        return backend

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 30000, min_frequency: int = 2) -> Tokenizer:
        backend = cls._blank()
        trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD, UNK], show_progress=False
        )
        backend.train_from_iterator(texts, trainer=trainer)
        return cls(backend)

    def encode(self, text: str) -> Encoded:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[Encoded]:
        results = []
        for text, enc in zip(texts, self.backend.encode_batch(list(texts), add_special_tokens=False), strict=True):
            ids = np.asarray(enc.ids, dtype=np.int64)
            offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
            keep = self._is_word[ids]
            unknown = np.flatnonzero(ids == UNK_ID)
            # An unknown piece is kept only if it is a word (an unseen term), not punctuation.
            keep[unknown] = [bool(_HAS_LETTER.search(text[s:e])) for s, e in offsets[unknown]]
            results.append(Encoded(ids=ids[keep], offsets=offsets[keep]))
        return results

    def id_to_token(self, idx: int) -> str:
        return self._id_to_token[idx]

    def token_to_id(self, token: str) -> int:
        idx = self.backend.token_to_id(token)
        return UNK_ID if idx is None else idx

    def save(self, path: str | Path) -> None:
        self.backend.save(str(path))

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        return cls(HFTokenizer.from_file(str(path)))

    @classmethod
    def from_str(cls, serialized: str) -> Tokenizer:
        return cls(HFTokenizer.from_str(serialized))
