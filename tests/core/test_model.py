import numpy as np
import scipy.sparse as sp
import torch

from plant_core.checkpoint import build_model
from plant_core.config import Config
from plant_core.train import static_table

VOCAB, LABELS = 60, 6


def planted_model(system="plant", **decoder):
    torch.manual_seed(0)
    config = Config.named("tiny")
    for key, value in decoder.items():
        setattr(config.decoder, key, value)
    model = build_model(config, VOCAB, LABELS, system).eval()
    if system == "plant":
        # Label l's evidence tokens are 10+l and 20+l: high L2R scores and MI for them alone.
        f = config.l2r.factors
        token_factors = torch.zeros(VOCAB, f)
        label_factors = torch.zeros(LABELS, f)
        mi = np.zeros((LABELS, VOCAB))
        for label in range(LABELS):
            token_factors[10 + label, label] = 3.0
            token_factors[20 + label, label] = 2.0
            label_factors[label, label] = 1.0
            mi[label, [10 + label, 20 + label]] = [0.3, 0.2]
        model.attention.plant(
            token_factors, torch.zeros(VOCAB), label_factors, torch.zeros(LABELS),
            *static_table(sp.csr_matrix(mi), "raw"),
        )
    return model


def note_with_evidence_for(label, length=30, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(30, VOCAB, size=length)
    ids[[5, 17]] = [10 + label, 20 + label]
    return torch.from_numpy(ids)[None]


def test_planted_attention_at_initialisation_points_at_high_mi_tokens():
    model = planted_model()
    ids = note_with_evidence_for(label=2)
    mask = torch.ones_like(ids, dtype=torch.bool)
    with torch.no_grad():
        weights, _ = model.attention_map(ids, mask, torch.tensor([2]))
    top = set(weights[0, :, 0].topk(2).indices.tolist())
    assert top == {5, 17}
    # Learned branch (near uniform) spreads 1 over 30 tokens; planted + static put > 1 on the evidence.
    assert weights[0, [5, 17], 0].sum() > 1.0


def test_lant_attention_at_initialisation_is_near_uniform():
    model = planted_model("lant")
    ids = note_with_evidence_for(label=2)
    mask = torch.ones_like(ids, dtype=torch.bool)
    with torch.no_grad():
        weights, _ = model.attention_map(ids, mask, torch.tensor([2]))
    np.testing.assert_allclose(weights[0, :, 0].numpy(), 1 / 30, atol=0.005)


def test_padding_gets_no_attention_and_does_not_change_logits():
    model = planted_model()
    ids = note_with_evidence_for(label=1)
    padded = torch.cat([ids, torch.zeros(1, 10, dtype=torch.long)], dim=1)
    with torch.no_grad():
        short = model.windowed(ids, torch.ones_like(ids, dtype=torch.bool))
        windows = model.read_windows(padded, padded != 0)
        long, maps = model.window_logits(windows), model.window_attention(windows, torch.arange(LABELS))
    torch.testing.assert_close(short, long)
    assert maps[0, 30:].abs().sum() == 0


def test_label_chunks_give_the_same_logits_and_gradients():
    ids = torch.cat([note_with_evidence_for(0), note_with_evidence_for(3, seed=1)])
    mask = torch.ones_like(ids, dtype=torch.bool)
    whole, chunked = planted_model(), planted_model(label_chunk=4)
    for model in (whole, chunked):
        model.train()
        model.lm.encoder.cfg.weight_dropout = 0  # deterministic forward for the comparison
    torch.manual_seed(1)
    a, _ = whole(ids, mask)
    torch.manual_seed(1)
    b, _ = chunked(ids, mask)
    torch.testing.assert_close(a, b)
    a.sum().backward()
    b.sum().backward()
    torch.testing.assert_close(whole.attention.label_queries.grad, chunked.attention.label_queries.grad)


def test_long_notes_are_read_in_windows_with_state_carried():
    model = planted_model(window=16)
    ids = note_with_evidence_for(label=4, length=50)
    mask = torch.ones_like(ids, dtype=torch.bool)
    with torch.no_grad():
        windows = model.read_windows(ids, mask)
        logits, maps = model.window_logits(windows, torch.tensor([4])), model.window_attention(windows, torch.tensor([4]))
        first_window, _ = model(ids[:, :16], mask[:, :16], labels=torch.tensor([4]))
    assert maps.shape == (1, 50, 1)
    assert logits[0, 0] >= first_window[0, 0]  # max over windows


def test_inattention_variants_and_lm_predicted_tokens_run():
    ids = note_with_evidence_for(label=0)
    mask = torch.ones_like(ids, dtype=torch.bool)
    for options in ({"inattention": "soft"}, {"planted_token": "lm_predicted"}, {"static_branch": False}):
        model = planted_model(**options)
        with torch.no_grad():
            logits = model.windowed(ids, mask)
        assert logits.shape == (1, LABELS) and torch.isfinite(logits).all()


def test_token_contributions_add_up_to_the_logit():
    # z_l = sum_t a_tl (w_l . h_t) + b_l: the attention-x-gradient explanation is an exact decomposition.
    model = planted_model()
    ids = note_with_evidence_for(label=3)
    mask = torch.ones_like(ids, dtype=torch.bool)
    labels = torch.tensor([1, 3])
    with torch.no_grad():
        windows = model.read_windows(ids, mask)
        logits = model.window_logits(windows, labels)
        contributions = model.window_contributions(windows, labels)
    rebuilt = contributions.sum(dim=1) + model.attention.bias[labels]
    torch.testing.assert_close(rebuilt, logits, rtol=1e-5, atol=1e-5)


def test_without_the_learned_branch_only_planted_tokens_get_attention():
    model = planted_model(learned_branch=False)
    ids = note_with_evidence_for(label=2)
    mask = torch.ones_like(ids, dtype=torch.bool)
    with torch.no_grad():
        weights, _ = model.attention_map(ids, mask, torch.tensor([2]))
    attended = set(torch.nonzero(weights[0, :, 0]).flatten().tolist())
    # planted_k=4 tokens of the planted branch and static_k=3 of the static one, all among the note's tokens;
    # the two evidence tokens carry most of the mass.
    assert {5, 17} <= attended and len(attended) <= 4 + 3
    assert weights[0, [5, 17], 0].sum() > 0.5 * weights[0, :, 0].sum()
