"""The baseline any practitioner tries first: TF-IDF over the note's tokens and one logistic regression
per code (scikit-learn's one-vs-rest), scored by the same `metrics.evaluate` as PLANT and LANT.

It reads notes with the project's tokeniser, trained on the same training notes, so that differences
between systems come from the models and not from preprocessing. The regularisation strength C is
picked on the dev split (best P@15), as the neural systems pick their best epoch there.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from plant_core import metrics
from plant_core.config import VocabConfig
from plant_core.text import Tokenizer

C_GRID = (1.0, 10.0, 100.0)


def token_counts(tokenizer: Tokenizer, texts: Sequence[str]) -> sp.csr_matrix:
    """(notes, vocabulary) token counts: the bag of words the TF-IDF weights are computed from."""
    rows = [enc.ids for enc in tokenizer.encode_batch(list(texts))]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    counts = sp.csr_matrix(
        (np.ones(indices.size, dtype=np.float32), indices, indptr), shape=(len(rows), tokenizer.vocab_size)
    )
    counts.sum_duplicates()
    return counts


@dataclass
class TfidfBaseline:
    tokenizer: Tokenizer
    tfidf: TfidfTransformer
    classifier: OneVsRestClassifier
    n_labels: int
    C: float
    threshold: float = 0.5

    @classmethod
    def fit(
        cls,
        train_texts: Sequence[str],
        train_targets: sp.spmatrix,
        dev_texts: Sequence[str],
        dev_targets: sp.spmatrix,
        vocab: VocabConfig | None = None,
        c_grid: Sequence[float] = C_GRID,
        n_jobs: int = 1,
        text_corpus: Sequence[str] | None = None,
    ) -> TfidfBaseline:
        """Fits one model per C in `c_grid`, keeps the best on dev P@15 and tunes its threshold there.

        `text_corpus` (default: the training texts) is what the vocabulary and the IDF weights are
        computed from; like PLANT's language model they need text, not codes."""
        vocab = vocab or VocabConfig()
        text_corpus = train_texts if text_corpus is None else text_corpus
        tokenizer = Tokenizer.train(text_corpus, vocab.vocab_size, vocab.min_frequency)
        tfidf = TfidfTransformer(sublinear_tf=True).fit(token_counts(tokenizer, text_corpus))
        x_train = tfidf.transform(token_counts(tokenizer, train_texts))
        x_dev = tfidf.transform(token_counts(tokenizer, dev_texts))
        y_train = sp.csr_matrix(train_targets)
        best = None
        for c in c_grid:
            classifier = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear"), n_jobs=n_jobs)
            with warnings.catch_warnings():
                # Codes absent from a small training fraction get a constant "never" predictor; expected.
                warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
                classifier.fit(x_train, y_train)
            dev_scores = _positive_proba(classifier, x_dev, y_train.shape[1])
            p15 = metrics.evaluate(dev_targets, dev_scores)["p@15"]
            if best is None or p15 > best[0]:
                best = (p15, c, classifier, dev_scores)
        _, c, classifier, dev_scores = best
        model = cls(tokenizer, tfidf, classifier, y_train.shape[1], c)
        model.threshold = metrics.tune_threshold(dev_targets, dev_scores)
        return model

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities (notes, labels), columns in the order of the training targets."""
        x = self.tfidf.transform(token_counts(self.tokenizer, texts))
        return _positive_proba(self.classifier, x, self.n_labels)


def _positive_proba(classifier: OneVsRestClassifier, x: sp.spmatrix, n_labels: int) -> np.ndarray:
    """What `classifier.predict_proba(x)` returns, as one sparse-dense product: scikit-learn asks each
    of the ~1,000 binary models in turn, which took 0.8 s for a single note."""
    weights, intercepts, constant = _stacked(classifier)
    if weights.shape[0] != n_labels:
        raise ValueError(f"the classifier scores {weights.shape[0]} labels, expected {n_labels}")
    logits = np.asarray(x @ weights.T) + intercepts
    scores = expit(logits).astype(np.float32)
    fixed = ~np.isnan(constant)
    scores[:, fixed] = constant[fixed]
    return scores


def _stacked(classifier: OneVsRestClassifier) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, features) coefficients, (labels,) intercepts, and the answer of labels whose training
    column was constant (NaN for the others), cached on the classifier."""
    cached = getattr(classifier, "_plant_stacked", None)
    if cached is not None:
        return cached
    n_features = classifier.n_features_in_
    weights = np.zeros((len(classifier.estimators_), n_features), dtype=np.float32)
    intercepts = np.zeros(len(classifier.estimators_), dtype=np.float32)
    constant = np.full(len(classifier.estimators_), np.nan, dtype=np.float32)
    for i, estimator in enumerate(classifier.estimators_):
        if hasattr(estimator, "coef_"):
            weights[i] = estimator.coef_.ravel()
            intercepts[i] = estimator.intercept_[0]
        else:  # scikit-learn's constant predictor for a label that was always (or never) present
            constant[i] = float(np.ravel(estimator.predict_proba(np.zeros((1, n_features))))[-1])
    classifier._plant_stacked = (weights, intercepts, constant)
    return classifier._plant_stacked
