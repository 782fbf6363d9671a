"""Planted factors and an MI table of random values, so an untrained model does the work of a trained one:
latency and memory depend on the tables' sizes, not on their values."""

import torch


def plant_at_random(model, vocab: int, n_labels: int, n_factors: int, tokens_per_label: int) -> None:
    nnz = n_labels * tokens_per_label
    indptr = torch.linspace(0, nnz, vocab + 1).long()  # token-major CSR, tokens share the entries evenly
    model.attention.plant(
        torch.randn(vocab, n_factors) * 0.1, torch.zeros(vocab), torch.randn(n_labels, n_factors) * 0.1,
        torch.zeros(n_labels), indptr, torch.randint(0, n_labels, (nnz,)), torch.rand(nnz),
    )
