"""Low-shot fine-tuning on the tiny synthetic corpus: a base model trained without three codes learns them
from corrected notes, known codes keep their weights, planting gives the new codes L2R factors and MI
rows, the held-out split is stable, a stopped fine-tune leaves no model behind, and the CLI runs it."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from plant_core.checkpoint import load_model
from plant_core.coder import Coder
from plant_core.config import Config
from plant_core.corpus.records import Note, iter_jsonl, write_jsonl
from plant_core.finetune import FinetuneConfig, evaluate_models, finetune, split_heldout
from plant_core.train import train

HIDDEN = ["Z79.4", "K21.9", "G89.29"]  # codes the base model never sees


def without_hidden(note: Note) -> Note:
    return Note(id=note.id, text=note.text, codes=[c for c in note.codes if c not in HIDDEN])


@pytest.fixture(scope="module")
def corpus(tiny_corpus):
    return {split: list(iter_jsonl(tiny_corpus / f"{split}.jsonl")) for split in ("train", "dev", "test")}


@pytest.fixture(scope="module")
def base_model(corpus, tmp_path_factory):
    """A PLANT model trained on the tiny corpus with the HIDDEN codes removed from every note."""
    data = tmp_path_factory.mktemp("base_data")
    for split, notes in corpus.items():
        write_jsonl([without_hidden(n) for n in notes], data / f"{split}.jsonl")
    return train("plant", data, tmp_path_factory.mktemp("base") / "model", Config.named("tiny"), device="cpu")


@pytest.fixture(scope="module")
def candidates(base_model, corpus, tmp_path_factory):
    """Fine-tuned on 100 corrected training notes (gold codes, HIDDEN included), planted and at random."""
    root = tmp_path_factory.mktemp("candidates")
    corrected, dev = corpus["train"][:100], corpus["dev"]
    background = [without_hidden(n) for n in corpus["train"][100:]]
    events = []
    out = {}
    for mode in ("planted", "random"):
        out[mode] = finetune(base_model, corrected, dev, root / mode, FinetuneConfig(new_code_attention=mode),
                             background_notes=background, device="cpu", on_progress=events.append)  # fmt: skip
    return out, events


def test_unseen_codes_are_added_and_learned_from_corrected_notes(base_model, candidates, corpus):
    candidate = Coder.load(candidates[0]["planted"])
    base = Coder.load(base_model)
    assert candidate.labels_[: len(base.labels_)] == base.labels_
    assert sorted(candidate.labels_[len(base.labels_) :]) == sorted(HIDDEN)
    result = evaluate_models({"base": base, "candidate": candidate}, corpus["test"], HIDDEN)
    assert result["base"]["micro_recall"] == 0  # it cannot predict codes it does not know
    assert result["candidate"]["micro_auc"] > 0.6, result["candidate"]
    assert result["candidate"]["micro_f1"] > result["base"]["micro_f1"]
    overall = evaluate_models({"base": base, "candidate": candidate}, corpus["test"])
    assert overall["candidate"]["micro_f1"] >= overall["base"]["micro_f1"] - 0.02  # no forgetting


def test_planting_gives_new_codes_l2r_factors_and_static_mi_rows(base_model, candidates):
    base = load_model(base_model).model.attention
    planted = load_model(candidates[0]["planted"]).model.attention
    at_random = load_model(candidates[0]["random"]).model.attention
    n_base = base.bias.numel()
    assert planted.label_factors[n_base:].abs().sum(1).min() > 0
    assert at_random.label_factors[n_base:].abs().sum() < planted.label_factors[n_base:].abs().sum()
    static_labels = set(planted.mi_labels.tolist())
    assert set(range(n_base, n_base + len(HIDDEN))) <= static_labels
    assert not static_labels - set(range(n_base)) & set(at_random.mi_labels.tolist())
    # L2R learned each new code's ranking: one of its five best MI tokens is among the 5% of the
    # vocabulary its planted scores rank first.
    tokens = torch.repeat_interleave(torch.arange(planted.mi_indptr.numel() - 1), planted.mi_indptr.diff())
    for label in range(n_base, n_base + len(HIDDEN)):
        in_table = planted.mi_labels == label
        best_mi = tokens[in_table][planted.mi_values[in_table].argsort(descending=True)[:5]]
        scores = planted.token_factors.weight @ planted.label_factors[label] + planted.token_bias.weight[:, 0]
        rank = scores.argsort(descending=True).argsort()
        assert rank[best_mi].min() < 0.05 * scores.numel()


def test_fine_tuning_reports_phases_steps_and_epochs(candidates):
    events = candidates[1]
    assert {e["event"] for e in events} == {"phase", "step", "epoch"}
    epochs = [e for e in events if e["event"] == "epoch"]
    assert epochs[-1]["epoch"] == epochs[-1]["epochs"] == sum(n for _, n in FinetuneConfig().schedule)
    assert all("dev_p@5" in e and "loss" in e for e in epochs)
    assert [e["phase"] for e in events if e["event"] == "phase"][:2] == ["planting", "training"]


def test_a_fine_tune_stopped_midway_leaves_no_model(base_model, corpus, tmp_path):
    class Stop(Exception):
        pass

    def stop_at_third_step(event):
        if event["event"] == "step" and event["step"] == 3:
            raise Stop

    with pytest.raises(Stop):
        finetune(base_model, corpus["train"][:60], corpus["dev"], tmp_path / "model",
                 work_dir=tmp_path / "work", device="cpu", on_progress=stop_at_third_step)  # fmt: skip
    assert not (tmp_path / "model").exists()


def test_held_out_notes_stay_held_out_as_corrections_accumulate(corpus):
    train_notes, heldout = split_heldout(corpus["train"][:100], 0.2)
    more_train, more_heldout = split_heldout(corpus["train"][:300], 0.2)
    assert {n.id for n in heldout} <= {n.id for n in more_heldout}
    assert not {n.id for n in more_heldout} & {n.id for n in train_notes}
    assert 0.1 < len(more_heldout) / 300 < 0.3


def test_cli_finetunes_and_scores_before_and_after(base_model, corpus, tiny_corpus, tmp_path):
    write_jsonl(corpus["train"][:80], tmp_path / "corrected.jsonl")
    done = subprocess.run(
        [sys.executable, "-m", "plant_core", "finetune", "--model", str(base_model), "--notes",
         str(tmp_path / "corrected.jsonl"), "--out", str(tmp_path / "model"), "--test", str(tiny_corpus),
         "--schedule", '[["head", 2]]', "--device", "cpu", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report) == {"heldout", "test"}
    assert report["test"]["corrected"]["base"]["micro_recall"] == 0
    assert np.isfinite(report["test"]["all"]["candidate"]["micro_f1"])
    assert Coder.load(tmp_path / "model").info()["system"] == "plant"
    assert json.loads((tmp_path / "model" / "evaluation.json").read_text()) == report
