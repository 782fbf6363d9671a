"""The command-line contracts other tools depend on, run as subprocesses, and a 2-process DDP run."""

import json
import os
import subprocess
import sys

import pytest

from plant_core.corpus.records import iter_jsonl

ENV = {**os.environ, "PLANT_NO_PROGRESS": "1", "PYTHONPATH": os.getcwd()}


def cli(*args, check=True, timeout=600):
    result = subprocess.run(
        [sys.executable, "-m", "plant_core", *map(str, args)],
        capture_output=True, text=True, env=ENV, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def test_info_json_contract(tiny_plant_model):
    info = json.loads(cli("info", "--model", tiny_plant_model, "--json").stdout)
    assert info["system"] == "plant"
    assert isinstance(info["labels"], list) and info["labels"] and all(isinstance(c, str) for c in info["labels"])
    assert 0 < info["threshold"] < 1
    assert {"dev", "test"} <= set(info["metrics"])


def test_predict_contract(tiny_plant_model, tmp_path):
    notes = tmp_path / "in.jsonl"
    notes.write_text(
        json.dumps({"id": "probe-1", "text": "74 y/o M with HTN and T2DM on insulin, admitted for CHF exacerbation.",
                    "extra": "ignored"}) + "\n"
        + json.dumps({"id": 7, "text": "No evidence of pneumonia. Afib on apixaban."}) + "\n"
    )
    out = tmp_path / "out.jsonl"
    cli("predict", "--model", tiny_plant_model, "--input", notes, "--output", out, "--top-k", 5)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["probe-1", 7]
    texts = [json.loads(line)["text"] for line in notes.read_text().splitlines()]
    for row, text in zip(rows, texts, strict=True):
        assert len(row["codes"]) == 5
        probabilities = [c["probability"] for c in row["codes"]]
        assert probabilities == sorted(probabilities, reverse=True)
        for code in row["codes"]:
            assert {"code", "description", "probability", "predicted", "evidence"} <= set(code)
            assert isinstance(code["predicted"], bool)
            for e in code["evidence"]:
                assert text[e["start"] : e["end"]] == e["text"] and isinstance(e["weight"], float)


def test_evaluate_json_matches_the_models_own_test_metrics(tiny_plant_model, tiny_corpus):
    result = json.loads(cli("evaluate", "--model", tiny_plant_model, "--data", tiny_corpus, "--split", "test", "--json").stdout)
    saved = json.loads((tiny_plant_model / "config.json").read_text())["metrics"]["test"]
    for key in ("p@5", "p@15", "micro_f1", "macro_f1", "micro_auc"):
        assert result[key] == pytest.approx(saved[key], abs=1e-6)


def test_bad_input_gets_a_one_line_error(tiny_plant_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "text": "ok"}\n{"id": "b", "text": "\xff\xfe broken"}\n')
    result = cli("predict", "--model", tiny_plant_model, "--input", bad, "--output", tmp_path / "o.jsonl", check=False)
    assert result.returncode == 2
    assert "bad.jsonl:2" in result.stderr and "UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
    missing = cli("info", "--model", tmp_path / "no-model", check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_synth_and_train_from_the_command_line(tmp_path):
    cli("synth", "--config", "tiny", "--out", tmp_path / "data", "--format", "all")
    assert sorted(p.name for p in (tmp_path / "data").glob("*.jsonl")) == ["dev.jsonl", "test.jsonl", "train.jsonl"]
    assert (tmp_path / "data" / "caml" / "train_full.csv").is_file()
    cli("train", "--system", "lant", "--data", tmp_path / "data" / "caml", "--out", tmp_path / "model",
        "--config", "tiny", "--set", 'classifier.schedule=[["head", 1]]', "--device", "cpu")
    assert (tmp_path / "model" / "config.json").is_file()
    n_train = len(list(iter_jsonl(tmp_path / "data" / "train.jsonl")))
    meta = json.loads((tmp_path / "model" / "config.json").read_text())
    assert meta["data"]["train_notes"] == n_train


def test_two_process_ddp_training_on_cpu(tiny_corpus, tmp_path):
    """torchrun with 2 CPU processes (gloo) trains every stage and rank 0 saves one model."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "plant_core", "train", "--system", "plant", "--data", str(tiny_corpus), "--out", str(tmp_path / "ddp"),
        "--config", "tiny", "--device", "cpu", "--set", 'classifier.schedule=[["head", 1], ["all", 1]]',
        "--set", "l2r.epochs=2",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env={**ENV, "OMP_NUM_THREADS": "1"}, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert meta["world_size"] == 2
    assert meta["metrics"]["test"]["p@5"] > 0
