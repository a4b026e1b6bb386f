import pytest
import torch
import torch.nn as nn

from atu.ewc import ewc_penalty, fisher_diagonal


class TinyG(nn.Module):
    latent_dim = 1

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([3.0]))
        self.b = nn.Parameter(torch.tensor([0.5]))

    def forward(self, z):
        return self.w * z + self.b


class TinyD(nn.Module):
    def forward(self, x):
        return 2.0 * x ** 2   # logit = 2 (w z + b)^2


def test_fisher_matches_hand_computed_gradient():
    # d logit / d w = 4 (w z + b) z ; d logit / d b = 4 (w z + b)
    z = torch.randn(5, 1, generator=torch.Generator().manual_seed(7))
    u = 3.0 * z + 0.5
    expect_w, expect_b = (4 * u * z).pow(2).mean(), (4 * u).pow(2).mean()
    F = fisher_diagonal(TinyG(), TinyD(), n_samples=5, seed=7)
    assert F[0].item() == pytest.approx(expect_w.item(), rel=1e-5)
    assert F[1].item() == pytest.approx(expect_b.item(), rel=1e-5)


def test_ewc_penalty_hand_worked():
    p = [torch.tensor([1.0, 2.0]), torch.tensor([0.0])]
    a = [torch.tensor([0.0, 0.0]), torch.tensor([1.0])]
    F = [torch.tensor([1.0, 0.5]), torch.tensor([4.0])]
    # sum F d^2 = 1*1 + 0.5*4 + 4*1 = 7 ; (lam / 2) * 7 with lam = 10 -> 35
    assert ewc_penalty(p, a, F, 10.0).item() == pytest.approx(35.0)
