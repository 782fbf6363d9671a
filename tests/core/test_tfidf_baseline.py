"""The TF-IDF + logistic-regression baseline, fitted for real on the tiny synthetic corpus."""

import numpy as np
import scipy.sparse as sp

from plant_core import metrics
from plant_core.config import Config
from plant_core.dataset import label_space, load_dataset
from plant_core.text import Tokenizer
from plant_core.tfidf_baseline import TfidfBaseline, token_counts


def gold(notes, labels):
    index = {code: i for i, code in enumerate(labels)}
    y = np.zeros((len(notes), len(labels)), dtype=np.float32)
    for row, note in enumerate(notes):
        for code in note.codes:
            if code in index:
                y[row, index[code]] = 1
    return sp.csr_matrix(y)


def test_token_counts_count_each_token_of_each_note():
    tokenizer = Tokenizer.train(["fever cough fever", "cough"], vocab_size=100, min_frequency=1)
    counts = token_counts(tokenizer, ["fever cough fever", "cough cough", ""]).toarray()
    fever, cough = tokenizer.token_to_id("fever"), tokenizer.token_to_id("cough")
    assert counts[0, fever] == 2 and counts[0, cough] == 1 and counts[1, cough] == 2 and counts[2].sum() == 0


def test_the_baseline_ranks_codes_well_above_chance_and_tunes_c_and_threshold_on_dev(tiny_corpus):
    dataset = load_dataset(tiny_corpus)
    labels, _ = label_space(dataset["train"])
    model = TfidfBaseline.fit(
        [n.text for n in dataset["train"]], gold(dataset["train"], labels),
        [n.text for n in dataset["dev"]], gold(dataset["dev"], labels), Config.named("tiny").vocab,
        c_grid=(0.1, 10.0),
    )
    assert model.C in (0.1, 10.0) and 0 < model.threshold < 1
    y_test = gold(dataset["test"], labels)
    scores = model.predict_proba([n.text for n in dataset["test"]])
    assert scores.shape == y_test.shape and ((scores >= 0) & (scores <= 1)).all()
    report = metrics.evaluate(y_test, scores, threshold=model.threshold)
    chance = y_test.sum(1).mean() / y_test.shape[1]
    assert report["p@5"] > 3 * chance and report["micro_f1"] > 0.3


def test_codes_missing_from_a_small_training_set_are_never_predicted(tiny_corpus):
    dataset = load_dataset(tiny_corpus)
    labels, _ = label_space(dataset["train"])
    few = dataset["train"][:15]
    y_few = gold(few, labels)
    model = TfidfBaseline.fit([n.text for n in few], y_few, [n.text for n in dataset["dev"]],
                              gold(dataset["dev"], labels), c_grid=(10.0,),
                              text_corpus=[n.text for n in dataset["train"]])
    unseen = np.asarray(y_few.sum(0)).ravel() == 0
    assert unseen.any()
    scores = model.predict_proba([n.text for n in dataset["test"]])
    assert (scores[:, unseen] < 1e-6).all()
    # The vocabulary came from every training note's text, not the 15 coded ones.
    assert model.tokenizer.vocab_size > Tokenizer.train([n.text for n in few], 5000, 1).vocab_size


def test_stacked_scoring_matches_scikit_learns_one_vs_rest(tiny_corpus):
    dataset = load_dataset(tiny_corpus)
    labels, _ = label_space(dataset["train"])
    few = dataset["train"][:40]  # some codes absent: constant predictors are covered too
    model = TfidfBaseline.fit([n.text for n in few], gold(few, labels), [n.text for n in dataset["dev"]],
                              gold(dataset["dev"], labels), c_grid=(10.0,))
    texts = [n.text for n in dataset["test"]]
    x = model.tfidf.transform(token_counts(model.tokenizer, texts))
    np.testing.assert_allclose(model.predict_proba(texts), model.classifier.predict_proba(x), atol=1e-5)
