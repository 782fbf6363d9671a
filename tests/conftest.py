"""Fixtures shared across the suite: a tiny synthetic corpus and PLANT / LANT models trained on it.

Training runs once per test session (seconds on CPU) and every test that needs a real model uses these.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PLANT_NO_PROGRESS", "1")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    from plant_core.corpus.synthetic import SynthConfig, write_synthetic_corpus

    out = tmp_path_factory.mktemp("tiny_corpus")
    write_synthetic_corpus(SynthConfig.named("tiny"), out)
    return out


def _train(system, corpus, out):
    from plant_core.config import Config
    from plant_core.train import train

    return train(system, corpus, out, Config.named("tiny"), seed=0, device="cpu")


@pytest.fixture(scope="session")
def tiny_plant_model(tiny_corpus, tmp_path_factory):
    return _train("plant", tiny_corpus, tmp_path_factory.mktemp("models") / "plant")


@pytest.fixture(scope="session")
def tiny_lant_model(tiny_corpus, tmp_path_factory):
    return _train("lant", tiny_corpus, tmp_path_factory.mktemp("models") / "lant")
