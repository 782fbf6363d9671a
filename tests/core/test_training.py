"""Real training runs on the tiny synthetic corpus: loss goes down, ranking beats chance, models save and
load exactly, stages are cached, and a crashed run resumes."""

import json

import numpy as np
import pytest
import torch

from plant_core import metrics
from plant_core.checkpoint import ModelLoadError, load_model
from plant_core.coder import Coder
from plant_core.config import Config
from plant_core.dataset import encode_split, load_dataset
from plant_core.train import train


def read_log(model_dir):
    return [json.loads(line) for line in (model_dir / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("system", ["plant", "lant"])
def test_training_lowers_the_loss_and_beats_chance(system, tiny_corpus, tiny_plant_model, tiny_lant_model):
    model_dir = tiny_plant_model if system == "plant" else tiny_lant_model
    epochs = [r for r in read_log(model_dir) if r.get("stage_name") == "classifier"]
    assert epochs[-1]["loss"] < epochs[0]["loss"]

    coder = Coder.load(model_dir)
    test = load_dataset(tiny_corpus)["test"]
    gold = encode_split(test, coder.tokenizer_, coder.label_index_).targets.toarray()
    scores = coder.predict_proba([n.text for n in test])
    p_at_5 = metrics.evaluate(gold, scores)["p@5"]
    # Chance: the expected precision of 5 labels drawn at random.
    chance = gold.sum(1).mean() / gold.shape[1]
    assert p_at_5 > 2 * chance, (p_at_5, chance)
    assert coder.info()["metrics"]["test"]["p@5"] == pytest.approx(p_at_5, abs=1e-6)


def test_save_then_load_gives_identical_probabilities(tiny_corpus, tiny_plant_model, tmp_path):
    texts = [n.text for n in load_dataset(tiny_corpus)["test"][:20]]
    first = Coder.load(tiny_plant_model).predict_proba(texts)
    saved = load_model(tiny_plant_model)
    from plant_core.checkpoint import save_model

    copy = save_model(tmp_path / "copy", saved.model, saved.tokenizer, saved.labels, saved.meta)
    np.testing.assert_array_equal(first, Coder.load(copy).predict_proba(texts))


def test_a_second_run_reuses_the_cached_stages(tiny_corpus, tiny_plant_model):
    stages = {p.name.split("-")[0] for p in (tiny_plant_model / "stages").glob("*-*.pt")}
    assert {"tokenizer", "lm", "mi", "l2r"} <= stages
    before = {p.name: p.stat().st_mtime_ns for p in (tiny_plant_model / "stages").glob("*-*.pt")}
    config = Config.named("tiny")
    config.classifier.schedule = [("head", 1)]
    train("plant", tiny_corpus, tiny_plant_model.parent / "again", config, cache_dir=tiny_plant_model / "stages")
    after = {p.name: p.stat().st_mtime_ns for p in (tiny_plant_model / "stages").glob("*-*.pt")}
    assert before == after  # nothing recomputed
    reused = [r for r in read_log(tiny_plant_model.parent / "again") if r.get("event") == "reused cache"]
    assert {r["stage"] for r in reused} == {"tokenizer", "lm", "mi", "l2r"}


def test_resume_continues_from_the_last_checkpoint(tiny_corpus, tmp_path):
    config = Config.named("tiny")
    config.classifier.schedule = [("head", 1)]
    run_dir = tmp_path / "run"
    train("lant", tiny_corpus, run_dir, config)
    config.classifier.schedule = [("head", 1), ("all", 1)]  # the "crashed" run had more to do
    train("lant", tiny_corpus, run_dir, config, resume=True)
    epochs = [r for r in read_log(run_dir) if r.get("stage_name") == "classifier"]
    assert [r["epoch"] for r in epochs] == [1, 2]  # epoch 1 was not trained again
    assert any(r.get("event") == "resumed" for r in read_log(run_dir))


def test_suggestions_carry_evidence_that_is_exactly_the_input_text(tiny_corpus, tiny_plant_model):
    coder = Coder.load(tiny_plant_model)
    note = load_dataset(tiny_corpus)["test"][0].text
    suggestions = coder.suggest(note, top_k=5)
    assert len(suggestions) == 5
    assert [s.probability for s in suggestions] == sorted((s.probability for s in suggestions), reverse=True)
    for s in suggestions:
        assert s.predicted == (s.probability >= coder.threshold_)
        assert s.evidence
        for e in s.evidence:
            assert note[e.start : e.end] == e.text and e.text.strip()


def test_attention_rows_are_scaled_to_one(tiny_plant_model):
    coder = Coder.load(tiny_plant_model)
    text = "Pt with HTN and T2DM, admitted for CHF exacerbation."
    att = coder.attention(text, coder.labels_[:3])
    assert att.weights.shape == (3, len(att.offsets))
    np.testing.assert_allclose(att.weights.max(axis=1), 1.0)


def test_attention_times_gradient_keeps_the_tokens_that_raise_the_logit(tiny_plant_model):
    coder = Coder.load(tiny_plant_model)
    text = "Pt with HTN and T2DM, admitted for CHF exacerbation. Denies chest pain."
    plain = coder.attention(text, coder.labels_[:3])
    weighted = coder.attention(text, coder.labels_[:3], method="attention_x_gradient")
    assert weighted.weights.shape == plain.weights.shape and (weighted.weights >= 0).all()
    assert (weighted.weights.max(axis=1) <= 1.0 + 1e-6).all()
    # A token nobody attends to adds nothing to any logit.
    assert (weighted.weights[plain.weights == 0] == 0).all()
    with pytest.raises(ValueError, match="method"):
        coder.attention(text, coder.labels_[:1], method="saliency")


def test_empty_note_is_refused_with_a_clear_message(tiny_plant_model):
    coder = Coder.load(tiny_plant_model)
    with pytest.raises(ValueError, match="empty"):
        coder.suggest("   \n ")


def test_a_very_long_note_is_read_in_windows(tiny_plant_model):
    coder = Coder.load(tiny_plant_model)
    long_note = " ".join(["Patient has HTN and afib, on apixaban."] * 3000)  # ~18,000 words
    suggestions = coder.suggest(long_note, top_k=3)
    assert len(suggestions) == 3
    assert all(long_note[e.start : e.end] == e.text for s in suggestions for e in s.evidence)


def test_loading_a_broken_model_directory_names_the_problem(tiny_plant_model, tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Coder.load(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "labels.json"):
        (broken / name).write_bytes((tiny_plant_model / name).read_bytes())
    with pytest.raises(ModelLoadError, match="weights.pt"):
        Coder.load(broken)
    (broken / "weights.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="weights.pt"):
        Coder.load(broken)
    meta = json.loads((broken / "config.json").read_text())
    meta["format_version"] = 999
    (broken / "config.json").write_text(json.dumps(meta))
    (broken / "weights.pt").write_bytes((tiny_plant_model / "weights.pt").read_bytes())
    with pytest.raises(ModelLoadError, match="format"):
        Coder.load(broken)


def test_weights_file_holds_tensors_only(tiny_plant_model):
    state = torch.load(tiny_plant_model / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_a_cpu_run_is_reproducible_from_its_seed(tiny_corpus, tmp_path):
    config = Config.named("tiny")
    config.classifier.schedule = [("head", 1), ("all", 1)]
    first = train("plant", tiny_corpus, tmp_path / "a", config, seed=3, device="cpu")
    second = train("plant", tiny_corpus, tmp_path / "b", config, seed=3, device="cpu")
    a = torch.load(first / "weights.pt", weights_only=True)
    b = torch.load(second / "weights.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_a_fraction_limits_the_coded_notes_but_not_the_text_the_lm_reads(tiny_corpus, tmp_path):
    config = Config.named("tiny")
    config.classifier.schedule = [("head", 1)]
    all_notes = len(load_dataset(tiny_corpus)["train"])
    train("lant", tiny_corpus, tmp_path / "all_text", config, fraction=0.25, seed=1)
    data = next(r for r in read_log(tmp_path / "all_text") if r.get("stage") == "data")
    assert data["train_notes"] == round(0.25 * all_notes) and data["text_notes"] == all_notes

    config.lm.text = "subset"
    train("lant", tiny_corpus, tmp_path / "subset_text", config, fraction=0.25, seed=1)
    data = next(r for r in read_log(tmp_path / "subset_text") if r.get("stage") == "data")
    assert data["text_notes"] == data["train_notes"] == round(0.25 * all_notes)
    # A vocabulary built from fewer notes is smaller.
    assert load_model(tmp_path / "subset_text").tokenizer.vocab_size < load_model(tmp_path / "all_text").tokenizer.vocab_size


def test_a_small_training_set_is_read_several_times_per_epoch_to_reach_min_steps(tiny_corpus, tmp_path):
    config = Config.named("tiny")
    config.classifier.schedule = [("head", 1), ("all", 1)]
    config.classifier.min_steps = 20
    train("lant", tiny_corpus, tmp_path / "run", config, fraction=0.1, seed=0)
    epochs = [r for r in read_log(tmp_path / "run") if r.get("stage_name") == "classifier"]
    notes = next(r for r in read_log(tmp_path / "run") if r.get("stage") == "data")["train_notes"]
    one_pass = -(-notes // config.classifier.batch_size)
    assert one_pass * 2 < 20  # without repetition the run would make fewer than min_steps updates
    assert sum(r["steps"] for r in epochs) >= 20 and all(r["steps"] % one_pass == 0 for r in epochs)
