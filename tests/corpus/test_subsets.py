"""Label subsets on a small handmade dataset whose answers were counted by hand."""

from __future__ import annotations

import copy

import pytest

from plant_core.corpus.records import Dataset, Distractor, Note
from plant_core.corpus.subsets import filter_labels, label_counts, rare_labels, top_labels


def handmade() -> Dataset:
    # Train counts (notes per code): A=4, B=3, C=3, D=1, E=2, F=1, G=1 (listed twice on t5, counts once).
    # Test codes: A, D, E, G, H (H never in train).
    return {
        "train": [
            Note("t1", "note one", ["A", "B", "C"], evidence={"A": [(0, 4)], "B": [(5, 8)]},
                 negated=[Distractor("C", 0, 4, "negated"), Distractor("Z", 5, 8, "rule_out")]),
            Note("t2", "note two", ["A", "B", "E"]),
            Note("t3", "note three", ["A", "C", "D"]),
            Note("t4", "note four", ["A", "B", "C", "E"]),
            Note("t5", "note five", ["F", "G", "G"]),
        ],
        "dev": [Note("d1", "dev note", ["B", "F"])],
        "test": [
            Note("s1", "test one", ["A", "D", "H"]),
            Note("s2", "test two", ["E", "G"]),
        ],
    }


def test_label_counts_counts_notes_not_mentions():
    assert label_counts(handmade()["train"]) == {"A": 4, "B": 3, "C": 3, "E": 2, "D": 1, "F": 1, "G": 1}


def test_top_labels_most_frequent_in_train_with_ties_broken_by_code():
    assert top_labels(handmade(), k=3) == ["A", "B", "C"]
    assert top_labels(handmade(), k=5) == ["A", "B", "C", "E", "D"]
    assert top_labels(handmade(), k=50) == ["A", "B", "C", "E", "D", "F", "G"]


def test_rare_labels_fewest_train_notes_among_codes_seen_in_train_and_test():
    # F is rare in train but absent from test; H is in test but never in train: neither qualifies.
    assert rare_labels(handmade(), k=2) == ["D", "G"]
    assert rare_labels(handmade(), k=50) == ["D", "G", "E", "A"]
    assert rare_labels(handmade(), k=50, max_train_count=2) == ["D", "G", "E"]


def test_subsets_need_the_splits_they_rank_on():
    with pytest.raises(ValueError, match="rare_labels needs a 'test' split"):
        rare_labels({"train": handmade()["train"]})
    with pytest.raises(ValueError, match="top_labels needs a 'train' split"):
        top_labels({"test": handmade()["test"]})


def test_filter_labels_keeps_codes_evidence_and_distractors_of_the_kept_codes():
    dataset = handmade()
    before = copy.deepcopy(dataset)
    filtered = filter_labels(dataset, ["A", "C"])
    assert {split: [(n.id, n.codes) for n in notes] for split, notes in filtered.items()} == {
        "train": [("t1", ["A", "C"]), ("t2", ["A"]), ("t3", ["A", "C"]), ("t4", ["A", "C"])],
        "dev": [],
        "test": [("s1", ["A"])],
    }
    t1 = filtered["train"][0]
    assert t1.evidence == {"A": [(0, 4)]}
    assert t1.negated == [Distractor("C", 0, 4, "negated")]
    assert dataset == before  # the input is untouched


def test_filter_labels_can_keep_notes_left_without_codes():
    filtered = filter_labels(handmade(), {"D"}, drop_empty=False)
    assert [(n.id, n.codes) for n in filtered["train"]] == [
        ("t1", []), ("t2", []), ("t3", ["D"]), ("t4", []), ("t5", [])]
    assert filtered["train"][0].text == "note one"


def test_top_50_style_subset_chains_top_labels_and_filter_labels():
    dataset = handmade()
    top2 = filter_labels(dataset, top_labels(dataset, k=2))
    assert label_counts(top2["train"]) == {"A": 4, "B": 3}
    assert [n.id for n in top2["test"]] == ["s1"]
