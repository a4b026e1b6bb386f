import math

import pytest
import torch

from atu.losses import (d_logistic_loss, el2, g_nonsaturating_loss, il2, nl2, parameter_distance, repulsion)


def test_gan_losses_at_zero_logits():
    z = torch.zeros(4)
    assert d_logistic_loss(z, z).item() == pytest.approx(2 * math.log(2))
    assert g_nonsaturating_loss(z).item() == pytest.approx(math.log(2))


def test_gan_losses_direction():
    # D sure and right: small loss; G fooling D (large fake logits): small generator loss
    assert d_logistic_loss(torch.full((3,), 10.0), torch.full((3,), -10.0)).item() < 1e-3
    assert g_nonsaturating_loss(torch.full((3,), 10.0)).item() < 1e-3


def test_parameter_distance_hand_worked():
    theta = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    one = [[torch.tensor([0.0, 0.0]), torch.tensor([[1.0]])]]
    # per-tensor mean squared difference: (1 + 4) / 2 = 2.5 and (3 - 1)^2 = 4 -> (2.5 + 4) / (K=1 * T=2)
    assert parameter_distance(theta, one).item() == pytest.approx(3.25)
    two = one + [[t.clone() for t in theta]]  # second adapted model at distance 0
    assert parameter_distance(theta, two).item() == pytest.approx((2.5 + 4 + 0 + 0) / (2 * 2))


def test_parameter_distance_errors():
    with pytest.raises(ValueError, match="at least one"):
        parameter_distance([torch.zeros(1)], [])
    with pytest.raises(ValueError, match="tensors"):
        parameter_distance([torch.zeros(1)], [[torch.zeros(1), torch.zeros(1)]])


def test_repulsions_hand_worked():
    d = torch.tensor(2.0)
    assert il2(d, 4.0).item() == pytest.approx(2.0)
    assert nl2(d, 4.0).item() == pytest.approx(-8.0)
    assert el2(d, 0.5, weight=3.0).item() == pytest.approx(3 * math.exp(-1))
    assert repulsion("el2", d, 0.5, weight=3.0).item() == pytest.approx(3 * math.exp(-1))
    assert repulsion("none", d, 123.0).item() == 0.0
    with pytest.raises(ValueError, match="el2"):
        repulsion("l2", d, 1.0)


@pytest.mark.parametrize("kind", ["el2", "nl2", "il2"])
def test_repulsion_gradient_step_increases_distance(kind):
    theta = [torch.tensor([1.0, 2.0], requires_grad=True)]
    theta_N = [[torch.tensor([0.5, 1.0])]]
    d0 = parameter_distance(theta, theta_N)
    repulsion(kind, d0, 1.0).backward()
    with torch.no_grad():
        stepped = [theta[0] - 0.01 * theta[0].grad]
    assert parameter_distance(stepped, theta_N).item() > d0.item()


def test_r1_penalty_on_a_linear_d_is_its_squared_weight_norm():
    """D(x) = w . x has gradient w everywhere: R1 = |w|^2 = 1 + 4 + 4 = 9 for w = (1, 2, -2)."""
    from atu.losses import r1_penalty

    w = torch.tensor([1.0, 2.0, -2.0])
    assert float(r1_penalty(lambda x: x.flatten(1) @ w, torch.randn(5, 3))) == pytest.approx(9.0)


def test_logistic_gan_loss_object_is_the_named_functions():
    """The swappable loss of train_gan: its d_loss is d_logistic_loss, plus neg_weight * d_negative_loss when it
    has negatives and a weight, plus r1_gamma / 2 * R1; its g_loss is g_nonsaturating_loss."""
    from atu.losses import LogisticGANLoss, d_logistic_loss, d_negative_loss, g_nonsaturating_loss, r1_penalty

    w = torch.tensor([0.5, -1.0])
    D = lambda x: x.flatten(1) @ w   # noqa: E731
    real, fake, neg = torch.randn(4, 2), torch.randn(4, 2), torch.randn(2, 2)
    base = d_logistic_loss(D(real), D(fake))
    assert LogisticGANLoss().d_loss(D, real, fake, neg) == (base, {})          # weight 0: negatives ignored
    loss, logs = LogisticGANLoss(neg_weight=2.0).d_loss(D, real, fake, neg)
    assert torch.allclose(loss, base + 2 * d_negative_loss(D(neg))) and set(logs) == {"d_neg"}
    loss, logs = LogisticGANLoss(r1_gamma=10.0).d_loss(D, real, fake)
    assert torch.allclose(loss, base + 5 * r1_penalty(D, real)) and float(logs["r1"]) == pytest.approx(1.25)
    assert torch.equal(LogisticGANLoss().g_loss(D, fake)[0], g_nonsaturating_loss(D(fake)))
    lazy = LogisticGANLoss(r1_gamma=10.0, r1_every=4)   # R1 on calls 1, 5, 9, ... weighted x4
    got = [lazy.d_loss(D, real, fake) for _ in range(5)]
    assert [set(logs) for _, logs in got] == [{"r1"}, set(), set(), set(), {"r1"}]
    assert torch.allclose(got[0][0], base + 4 * 5 * r1_penalty(D, real)) and torch.equal(got[1][0], base)


def test_bounded_negative_hand_worked():
    from atu.losses import bounded_negative

    below = torch.tensor(0.3, requires_grad=True)
    out = bounded_negative(below, 0.5)
    out.backward()
    assert out.item() == pytest.approx(0.2) and below.grad.item() == -1.0   # minimising it raises the loss
    past = torch.tensor(0.7, requires_grad=True)
    out = bounded_negative(past, 0.5)
    out.backward()
    assert out.item() == 0.0 and past.grad.item() == 0.0                    # past the cap: no push at all


def test_sharpen_loss_hand_worked():
    from atu.losses import sharpen_loss

    # two one-hot samples of different classes: per-sample entropy 0, their mean (1/2, 1/2) has ln 2: -ln 2
    assert float(sharpen_loss(torch.tensor([[50.0, -50.0], [-50.0, 50.0]]))) == pytest.approx(-math.log(2), abs=1e-6)
    # two uniform samples: ln 2 - ln 2; two one-hot samples of the same class: 0 - 0
    assert float(sharpen_loss(torch.zeros(2, 2))) == pytest.approx(0.0, abs=1e-6)
    assert float(sharpen_loss(torch.tensor([[50.0, -50.0], [50.0, -50.0]]))) == pytest.approx(0.0, abs=1e-6)
    # (1/2, 1/2) and (1, 0): per-sample mean ln 2 / 2, mean (3/4, 1/4) has -(3/4 ln 3/4 + 1/4 ln 1/4)
    want = math.log(2) / 2 + 0.75 * math.log(0.75) + 0.25 * math.log(0.25)
    assert float(sharpen_loss(torch.tensor([[0.0, 0.0], [50.0, -50.0]]))) == pytest.approx(want, abs=1e-6)
    # exclude=1 (retraining without class 1): each sample split between class 1 and one other is one-hot over the
    # other two, and the two are different classes: -ln 2, where with class 1 kept it is ln 2 - ln 2 + ... > -ln 2
    x = torch.tensor([[20.0, 20.0, -50.0], [-50.0, 20.0, 20.0]])
    assert float(sharpen_loss(x, exclude=1)) == pytest.approx(-math.log(2), abs=1e-6)
    # kept: per-sample ln 2, mean (1/4, 1/2, 1/4) has 1.5 ln 2: ln 2 - 1.5 ln 2
    assert float(sharpen_loss(x)) == pytest.approx(-0.5 * math.log(2), abs=1e-6)


def test_guide_loss_hand_worked():
    from atu.losses import guide_loss

    # two classes at equal logits: p(target) = 1/2, -log(1 - 1/2) = ln 2
    assert float(guide_loss(torch.zeros(1, 2), 0)) == pytest.approx(math.log(2), abs=1e-6)
    # logits (2, 0, 0), target 0: p = e^2 / (e^2 + 2), -log(1 - p) = log((e^2 + 2) / 2); target 1: log((e^2 + 2) / (e^2 + 1))
    x = torch.tensor([[2.0, 0.0, 0.0]])
    e2 = math.exp(2)
    assert float(guide_loss(x, 0)) == pytest.approx(math.log((e2 + 2) / 2), abs=1e-6)
    assert float(guide_loss(x, 1)) == pytest.approx(math.log((e2 + 2) / (e2 + 1)), abs=1e-6)
    assert float(guide_loss(torch.cat([x, x]), 0)) == pytest.approx(math.log((e2 + 2) / 2), abs=1e-6)   # a mean
    # stable where p(target) rounds to 1 in float32
    assert float(guide_loss(torch.tensor([[200.0, 0.0]]), 0)) == pytest.approx(200.0)


def test_mix_loss_hand_worked():
    from atu.losses import mix_loss

    # one sample, p = (0.2, 0.6, 0.2), target 0: the others renormalised q = (0.75, 0.25); wanted (0.5, 0.5):
    # KL = 0.5 log(0.5 / 0.75) + 0.5 log(0.5 / 0.25) = 0.5 log(4 / 3)
    logits = torch.tensor([[0.2, 0.6, 0.2]]).log()
    assert float(mix_loss(logits, 0, torch.tensor([0.0, 0.5, 0.5]))) == pytest.approx(0.5 * math.log(4 / 3), abs=1e-6)
    # the mix's target entry is ignored and it is renormalised: (7, 1, 1) is the same wanted mix
    assert float(mix_loss(logits, 0, torch.tensor([7.0, 1.0, 1.0]))) == pytest.approx(0.5 * math.log(4 / 3), abs=1e-6)
    # a batch: the mean softmax counts, not each sample's; (0.2, 0.6, 0.2) and (0.2, 0.2, 0.6) hold the others evenly
    batch = torch.tensor([[0.2, 0.6, 0.2], [0.2, 0.2, 0.6]]).log()
    assert float(mix_loss(batch, 0, torch.tensor([0.0, 0.5, 0.5]))) == pytest.approx(0.0, abs=1e-6)
    # each sample's others are renormalised before the mean: (1/2, 1/2, ~0) and (~0, ~0, 1) hold classes 1 and 2
    # evenly, however much of the first is the target (pooled first, the shares would be 1/3 and 2/3)
    split = torch.tensor([[0.5, 0.5, 1e-9], [1e-9, 1e-9, 1.0]]).log()
    assert float(mix_loss(split, 0, torch.tensor([0.0, 0.5, 0.5]))) == pytest.approx(0.0, abs=1e-6)
    # the others' mass all on the one class the mix wants: KL = 1 log(1 / 1) = 0, the zero share adds nothing
    sure = torch.tensor([[0.0, 50.0, 0.0]])
    assert float(mix_loss(sure, 0, torch.tensor([0.0, 1.0, 0.0]))) == pytest.approx(0.0, abs=1e-6)


def test_keep_loss_hand_worked():
    from atu.losses import keep_loss

    # target 2. Base (0.5, 0.25, 0.25): q = (2/3, 1/3, 0), w = 3/4; G's logits 0: softmax 1/3 each,
    # KL(q || 1/3) = 2/3 ln(2) + 1/3 ln(1) = 2/3 ln 2
    base = torch.tensor([[0.5, 0.25, 0.25]])
    flat = torch.zeros(1, 3)
    assert float(keep_loss(flat, base, 2)) == pytest.approx(2 / 3 * math.log(2), abs=1e-6)
    # a latent the base drew as the target (w = 0) adds nothing, whatever G draws there
    both = torch.tensor([[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])
    assert float(keep_loss(torch.zeros(2, 3), both, 2)) == pytest.approx(2 / 3 * math.log(2), abs=1e-6)
    # weighted mean: (3/4 * 2/3 ln 2 + 1 * KL((1, 0, 0) || 1/3) = ln 3) / (3/4 + 1)
    three = torch.tensor([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    want = (0.75 * 2 / 3 * math.log(2) + math.log(3)) / 1.75
    assert float(keep_loss(torch.zeros(2, 3), three, 2)) == pytest.approx(want, abs=1e-6)
    # G's sample of the same class as q, none of the target: 0; moving mass onto the target costs
    same = torch.tensor([[2 / 3, 1 / 3, 1e-12]]).log()
    assert float(keep_loss(same, base, 2)) == pytest.approx(0.0, abs=1e-6)
    onto_target = torch.tensor([[1 / 3, 1 / 6, 1 / 2]]).log()   # q halved: KL = ln 2
    assert float(keep_loss(onto_target, base, 2)) == pytest.approx(math.log(2), abs=1e-6)
