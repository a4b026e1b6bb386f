"""Elastic Weight Consolidation for stage 1 (method.md): a diagonal Fisher, computed once, and the penalty.

    F_i = mean over n generated samples of (d D(G(z)) / d theta_i)^2          (D's raw logit)
    L_EWC = (lambda / 2) * sum_i F_i (theta_i - theta_G,i)^2

Per-sample gradients are taken one sample at a time with G and D in eval mode, so that BatchNorm uses its
running statistics and one sample's gradient does not depend on the others in its batch.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def fisher_diagonal(G: nn.Module, D: nn.Module, n_samples: int = 32, seed: int = 0) -> list[torch.Tensor]:
    """Mean squared gradient of D's logit on G's samples w.r.t. every parameter of G (same order as
    G.parameters())."""
    G_mode, D_mode = G.training, D.training
    G.eval(), D.eval()
    params = list(G.parameters())
    fisher = [torch.zeros_like(p) for p in params]
    device = params[0].device
    z = torch.randn(n_samples, G.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    for i in range(n_samples):
        logit = D(G(z[i:i + 1])).sum()
        grads = torch.autograd.grad(logit, params, allow_unused=True)
        for f, g in zip(fisher, grads):
            if g is not None:
                f += g.detach() ** 2
    G.train(G_mode), D.train(D_mode)
    return [f / n_samples for f in fisher]


def ewc_penalty(params: list[torch.Tensor], anchor: list[torch.Tensor], fisher: list[torch.Tensor],
                lam: float) -> torch.Tensor:
    """(lam / 2) * sum F (theta - theta_anchor)^2."""
    total = params[0].new_zeros(())
    for p, a, f in zip(params, anchor, fisher):
        total = total + (f * (p - a) ** 2).sum()
    return 0.5 * lam * total
