"""Stage 2's negative-aware D, confident positives and the independent evaluator's view, on tiny tensors."""
import math

import pytest
import torch

from atu.adapt import flatten
from atu.feedback import confident_mask
from atu.losses import d_negative_loss
from atu.metrics import agreement, independent_view
from atu.models import DCGANDiscriminator, DCGANGenerator
from atu.train import GANTrainConfig, train_gan
from atu.unlearn import UnlearnConfig, adapted_sampler, unlearn, user_sampler


def test_d_negative_loss_hand_values():
    # softplus(0) = ln 2; softplus(ln(e - 1)) = ln(e) = 1
    logits = torch.tensor([0.0, math.log(math.e - 1)])
    assert float(d_negative_loss(logits)) == pytest.approx((math.log(2) + 1) / 2, abs=1e-6)


def test_confident_mask_against_hand_made_probabilities():
    probs = torch.tensor([
        [0.95, 0.045, 0.005],   # label 0, p(target=2) 0.005, top 0.95: confident positive
        [0.90, 0.095, 0.005],   # top 0.90 is not > 0.9
        [0.50, 0.49, 0.01],     # p(target) 0.01 is not < 0.01
        [0.02, 0.01, 0.97],     # labelled as the target
        [0.001, 0.994, 0.005],  # label 1, confident
    ])
    assert confident_mask(probs, 2, 0.01, 0.9).tolist() == [True, False, False, False, True]
    # no thresholds: every sample not labelled as the target
    assert confident_mask(probs, 2, 1.0, 0.0).tolist() == [True, True, True, False, True]


def test_independent_view_and_agreement_hand_values():
    before = torch.tensor([8, 8, 8, 8, 1, 2, 3, 4, 5, 6])   # 4 eights in 10
    after = torch.tensor([8, 1, 1, 1, 1, 2, 3, 4, 5, 6])    # 1 eight in 10
    v = independent_view(before, after, 8)
    assert v["pul_independent"] == pytest.approx(75.0)
    assert v["neg_rate_before_independent"] == pytest.approx(0.4)
    assert v["neg_rate_after_independent"] == pytest.approx(0.1)
    assert agreement(before, after) == pytest.approx(0.7)
    assert "collateral_independent" not in v   # two classes (an attribute): no other classes' mix
    # ten classes: the others' mix before 1..6 at 1/6 each, after 1 at 4/9 and 2..6 at 1/9:
    # TV = (|4/9 - 1/6| + 5 |1/9 - 1/6|) / 2 = (5/18 + 5/18) / 2 = 5/18
    v10 = independent_view(before, after, 8, num_classes=10)
    assert v10["collateral_independent"] == pytest.approx(5 / 18)
    assert {k: v10[k] for k in v} == v


def _tiny(seed=0, neg_weight=0.0, source=None, steps=8):
    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    real = torch.rand(16, 1, 32, 32) * 2 - 1
    cfg = GANTrainConfig(steps=steps, batch_size=8, log_every=4, seed=seed, cpu=True, neg_weight=neg_weight)
    return train_gan(G, D, real, cfg, negatives=source)


def test_negative_term_off_changes_nothing_and_never_draws():
    calls = []

    def source(n):
        calls.append(n)
        return torch.zeros(n, 1, 32, 32)

    a, b = _tiny(), _tiny(neg_weight=0.0, source=source)
    assert not calls
    for pa, pb in zip(a.D.state_dict().values(), b.D.state_dict().values()):
        assert torch.equal(pa, pb)
    assert "d_neg" not in a.history[0]


def test_negative_term_on_teaches_d_to_call_negatives_fake():
    torch.manual_seed(1)
    neg = torch.rand(32, 1, 32, 32) * 2 - 1   # a fixed set of "feature" images
    gen = torch.Generator().manual_seed(0)
    source = lambda n: neg[torch.randint(len(neg), (n,), generator=gen)]  # noqa: E731
    off, on = _tiny(steps=20), _tiny(neg_weight=1.0, source=source, steps=20)
    assert "d_neg" in on.history[-1] and on.history[-1]["d_neg"] > 0
    with torch.no_grad():   # D's loss on the negatives, softplus(D(x_neg)), falls only when the term is on
        loss_off = float(d_negative_loss(off.D.eval()(neg)))
        loss_on = float(d_negative_loss(on.D.eval()(neg)))
    assert loss_on < loss_off


def test_adapted_sampler_runs_each_adapted_vector_without_copying_theta():
    torch.manual_seed(0)
    G, G2 = DCGANGenerator(latent_dim=8, width=4), DCGANGenerator(latent_dim=8, width=4)
    theta_N = flatten(G2)[None]   # K = 1: the "adapted" generator is G2
    x = adapted_sampler(G, theta_N, seed=5)(6)
    gen = torch.Generator().manual_seed(5)
    torch.randint(1, (6,), generator=gen)
    z = torch.randn(6, 8, generator=gen)
    with torch.no_grad():
        expected = G2.train()(z)
    assert torch.allclose(x, expected, atol=1e-6)
    assert not torch.equal(x, G.train()(z).detach())


def test_user_sampler_draws_augmented_negatives_and_unlearn_needs_them():
    neg = torch.full((4, 1, 32, 32), -1.0)
    neg[:, :, 8:24, 14:18] = 1.0
    x = user_sampler(neg, seed=0)(10)
    assert x.shape == (10, 1, 32, 32) and x.min() >= -1.001 and x.max() <= 1.001
    assert not torch.equal(x[0], neg[0])   # shifted / rotated
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    with pytest.raises(ValueError, match="needs the negatives"):
        unlearn(G, D, torch.rand(8, 1, 32, 32) * 2 - 1, flatten(G)[None] + 0.1,
                UnlearnConfig(steps=1, batch_size=4, neg_source="user"))


def test_bad_negative_settings_are_refused():
    with pytest.raises(ValueError, match="neg_source"):
        UnlearnConfig(neg_source="disk")
    with pytest.raises(ValueError, match="neg_weight"):
        UnlearnConfig(neg_weight=-1)


def test_class_quotas_keep_the_mix_of_the_other_classes():
    from atu.feedback import class_quotas

    counts = torch.tensor([30, 10, 50, 10])   # target 2 is left out: 30 / 10 / 10 of 50
    assert class_quotas(counts, 2, 10).tolist() == [6, 2, 0, 2]
    assert class_quotas(counts, 2, 7).tolist() == [4, 2, 0, 1]   # 4.2 / 1.4 / 1.4: a tie of remainders, the first wins
    assert int(class_quotas(torch.tensor([3, 3, 3, 1]), 3, 100).sum()) == 100
    with pytest.raises(ValueError, match="nothing to keep"):
        class_quotas(torch.tensor([0, 5]), 1, 10)


def test_pick_positives_confident_and_balanced_on_a_tiny_model(tmp_path):
    from atu.feedback import class_quotas, pick_positives
    from atu.metrics import class_probabilities, classify
    from atu.models import load_generator, load_model
    from atu.sampling import generate
    from tiny import make_tiny_base

    gan, clf = make_tiny_base(tmp_path)
    G, C = load_generator(gan), load_model(clf)
    pos, z, drawn = pick_positives(G, C, 4, 60, seed=0, max_target_prob=0.01, min_top_prob=0.9)
    probs = class_probabilities(C, pos)
    assert len(pos) == 60 and drawn >= 60
    assert torch.equal(generate(G, z), pos)   # each positive's own latent (the GAN anchor's pairs)
    assert (probs[:, 4] < 0.01).all() and (probs.max(1).values > 0.9).all()
    labels = classify(C, pos)
    assert not (labels == 4).any()
    all_labels = classify(C, torch.cat([G.eval()(torch.randn(2000, 8)).detach()]))
    expected = class_quotas(torch.bincount(all_labels, minlength=10), 4, 60)
    assert (torch.bincount(labels, minlength=10) - expected).abs().max() <= 3   # the base's mix, up to sampling


def test_anchor_loss_hand_values():
    from atu.losses import anchor_loss

    a = torch.tensor([[[[0.0, 1.0], [-1.0, 0.5]]]])
    b = torch.tensor([[[[0.0, 0.0], [1.0, 0.5]]]])
    assert float(anchor_loss(a, b)) == pytest.approx((0 + 1 + 4 + 0) / 4)


def test_anchored_adds_the_weighted_anchor_to_the_extra_loss():
    from atu.losses import anchor_loss
    from atu.unlearn import anchored

    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, width=4).eval()
    z, targets = torch.randn(5, 8), torch.zeros(5, 1, 32, 32)
    extra = lambda m: (torch.tensor(2.0), {"repulsion": torch.tensor(2.0)})   # noqa: E731
    loss, logs = anchored(extra, z, targets, weight=3.0, batch=5, seed=0)(g)
    assert set(logs) == {"repulsion", "anchor"}
    # 5 draws with replacement from 5 pairs: the logged anchor is that batch's error, weighted by 3 on top of 2
    assert float(loss.detach()) == pytest.approx(2.0 + 3.0 * float(logs["anchor"]), rel=1e-6)
    idx = torch.randint(5, (5,), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert float(logs["anchor"]) == pytest.approx(float(anchor_loss(g(z[idx]), targets[idx])), rel=1e-5)


def test_anchor_holds_the_base_output_on_the_positives_latents():
    from atu.sampling import generate

    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    z = torch.randn(16, 8)
    real = base = generate(G, z)   # stage 2's positives are the base's own images of these latents
    theta = flatten(G)[None] + 0.05

    def drift(weight):
        cfg = UnlearnConfig(steps=30, batch_size=8, neg_weight=0, guide_weight=0, anchor_weight=weight, anchor_batch=8,
                            ema_beta=0, eval_every=30, lr=1e-3)
        res = unlearn(G, D, real, theta, cfg, positive_latents=z)
        return float((generate(res.G_ema, z) - base).pow(2).mean()), res.history

    free, _ = drift(0.0)
    held, history = drift(100.0)
    assert "anchor" in history[-1]
    assert held < 0.5 * free
    with pytest.raises(ValueError, match="latents"):
        unlearn(G, D, real, theta, UnlearnConfig(steps=1, batch_size=8, neg_weight=0, anchor_weight=1.0))


def test_mixed_latents_draw_the_share_from_the_pool():
    from atu.unlearn import mixed_latents

    pool = torch.full((3, 8), 7.0)
    z = mixed_latents(pool, 0.25, seed=0)(8)
    assert z.shape == (8, 8)
    assert (z[:2] == 7.0).all() and not (z[2:] == 7.0).any()   # round(0.25 * 8) = 2 from the pool
    assert (mixed_latents(pool, 0.0, seed=0)(4) != 7.0).all()


def test_g_step_draws_its_latents_from_g_latents_and_unlearn_needs_them():
    calls = []

    def g_latents(n):
        calls.append(n)
        return torch.randn(n, 8)

    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    real = torch.rand(16, 1, 32, 32) * 2 - 1
    train_gan(G, D, real, GANTrainConfig(steps=3, batch_size=8, log_every=3, cpu=True), g_latents=g_latents)
    assert calls == [8, 8, 8]   # one G batch a step, D's steps keep N(0, I)
    with pytest.raises(ValueError, match="latents of the feature"):
        unlearn(G, D, real, flatten(G)[None] + 0.1, UnlearnConfig(steps=1, batch_size=8, neg_weight=0,
                                                                 target_latents=0.5))


def test_target_latents_are_latents_the_classifier_labels_as_the_target(tmp_path):
    from atu.feedback import target_latents
    from atu.metrics import classify
    from atu.models import load_generator, load_model
    from atu.sampling import generate
    from tiny import make_tiny_base

    gan, clf = make_tiny_base(tmp_path)
    G, C = load_generator(gan), load_model(clf)
    z = target_latents(G, C, 4, 20, seed=0)
    assert len(z) == 20 and (classify(C, generate(G, z)) == 4).all()


def test_stage2_lr_schedule_decays_both_rates_to_zero():
    """unlearn.lr_schedule reaches the loop: "cosine" logs G's rate falling to 0 at the last step, "constant" keeps it
    (D's optimizer gets the same schedule object in atu.train)."""
    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    real, theta = torch.rand(16, 1, 32, 32) * 2 - 1, flatten(G)[None] + 0.05

    def rates(schedule):
        cfg = UnlearnConfig(steps=10, batch_size=8, neg_weight=0, guide_weight=0, lr=1e-3, lr_schedule=schedule,
                            eval_every=5)
        return [row["lr"] for row in unlearn(G, D, real, theta, cfg).history]

    with pytest.raises(ValueError, match="lr_schedule must be"):   # refused before stage 1 runs, not at stage 2
        UnlearnConfig(lr_schedule="cosin")
    assert rates("constant") == [1e-3, 1e-3]
    mid, last = rates("cosine")
    assert mid == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 5 / 10))) and last == pytest.approx(0.0, abs=1e-12)


class Brightness(torch.nn.Module):
    """A two-class "classifier" for the guide's tests: class 0 ("bright") has logit scale x the mean pixel."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        m = self.scale * x.mean((1, 2, 3))
        return torch.stack([m, torch.zeros_like(m)], 1)


def test_guide_lowers_the_classifier_s_target_probability_and_unlearn_needs_the_classifier():
    """guide_weight > 0: G's loss gains -log(1 - p(target)) by the classifier on G's own step samples; after the
    same steps from the same seed, G's samples carry less of the target than without it, and "guide" is logged."""
    from atu.metrics import class_probabilities
    from atu.sampling import generate

    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    C, target = Brightness(), 0
    z = torch.randn(64, 8)
    real = torch.rand(16, 1, 32, 32) * 2 - 1
    theta = flatten(G)[None] + 0.05

    def p_target(weight):
        cfg = UnlearnConfig(steps=20, batch_size=8, neg_weight=0, guide_weight=weight, ema_beta=0, eval_every=20,
                            lr=3e-3)
        res = unlearn(G, D, real, theta, cfg, guide=(C, target))
        return float(class_probabilities(C, generate(res.G_ema, z))[:, target].mean()), res.history

    free, history_free = p_target(0.0)
    guided, history = p_target(100.0)
    assert "guide" in history[-1] and "guide" not in history_free[-1]
    assert guided < free - 0.05
    assert C.scale.requires_grad and C.scale.grad is None   # the caller's classifier is left as it was
    with pytest.raises(ValueError, match="classifier"):
        unlearn(G, D, real, theta, UnlearnConfig(steps=1, batch_size=8, neg_weight=0, guide_weight=1.0))
    with pytest.raises(ValueError, match="guide_weight"):
        UnlearnConfig(guide_weight=-1.0)


class Darkness(torch.nn.Module):
    """Three classes by mean brightness m: logits (0, s m, -s m): class 1 bright, class 2 dark, class 0 (the
    target) in between."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        m = self.scale * x.mean((1, 2, 3))
        return torch.stack([torch.zeros_like(m), m, -m], 1)


def _a_classifier_term(field, history, history_free, model):
    """A stage-2 term on the classifier (`field` = "mix_weight", "keep_weight"): logged under its name when on and
    alone (not the guide), absent when off; unlearn without the classifier and a negative weight are refused."""
    name = field.removesuffix("_weight")
    assert name in history[-1] and name not in history_free[-1] and "guide" not in history[-1]
    with pytest.raises(ValueError, match="classifier"):
        unlearn(*model, UnlearnConfig(steps=1, batch_size=8, neg_weight=0, guide_weight=0, **{field: 1.0}))
    with pytest.raises(ValueError, match=field):
        UnlearnConfig(**{field: -1.0})


def test_mix_term_moves_g_toward_the_positives_class_mix():
    """mix_weight > 0: G's loss gains KL(the positives' class mix || its batch's) by the classifier; positives that
    are all dark (class 2) pull G's samples toward class 2 further than the same steps without it, "mix" is
    logged, and the mix is the positives' (class_mix)."""
    from atu.unlearn import class_mix

    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    C = Darkness()
    z = torch.randn(64, 8)
    real = -0.9 + 0.1 * torch.rand(16, 1, 32, 32)
    assert class_mix(C, real).tolist() == [0.0, 0.0, 1.0]
    theta = flatten(G)[None] + 0.05

    def p_dark(weight):
        cfg = UnlearnConfig(steps=20, batch_size=8, neg_weight=0, guide_weight=0, mix_weight=weight, ema_beta=0,
                            eval_every=20, lr=3e-3)
        res = unlearn(G, D, real, theta, cfg, guide=(C, 0))
        # G's samples as the term saw them, BatchNorm on the batch: after 20 steps a fresh G's running statistics
        # (one update a step) still lag, so eval mode would measure them, not the term
        with torch.no_grad():
            return float(C(res.G_ema.train()(z)).softmax(1)[:, 2].mean()), res.history

    free, history_free = p_dark(0.0)
    mixed, history = p_dark(1000.0)
    assert mixed > free + 0.05
    _a_classifier_term("mix_weight", history, history_free, (G, D, real, theta))


def test_keep_term_holds_each_latent_s_class_from_the_base():
    """keep_weight > 0: G's loss gains the class keep (atu.losses.keep_loss) on its step samples against the base's
    samples of the same latents; positives that are all bright (class 1) pull G's samples toward class 1, and with
    the keep more latents keep the class the base gave them than the same steps without it; "keep" is logged."""
    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:   # running statistics = the batch's: the base's eval-mode labels are those G's steps start from
        m.momentum = None
    with torch.no_grad():
        for _ in range(20):
            G.train()(torch.randn(64, 8))
    for m in bns:
        m.momentum = 0.1
    G.eval()
    C = Darkness()
    z = torch.randn(256, 8)
    real = 0.8 + 0.1 * torch.rand(16, 1, 32, 32)
    theta = flatten(G)[None] + 0.05
    with torch.no_grad():
        base_labels = C(G(z)).argmax(1)

    def kept(weight):
        cfg = UnlearnConfig(steps=20, batch_size=8, neg_weight=0, guide_weight=0, keep_weight=weight, ema_beta=0,
                            eval_every=20, lr=3e-3)
        res = unlearn(G, D, real, theta, cfg, guide=(C, 0))
        with torch.no_grad():
            after = C(res.G_ema.eval()(z)).argmax(1)
        rest = base_labels != 0
        return float((after[rest] == base_labels[rest]).float().mean()), res.history

    free, history_free = kept(0.0)
    held, history = kept(100.0)
    assert held > free + 0.1
    _a_classifier_term("keep_weight", history, history_free, (G, D, real, theta))


def test_g_fake_loss_sees_exactly_g_s_step_samples():
    """g_fake_loss gets G's step samples with their graph, and their latents; D's update of the same step saw the
    same samples, detached (one G forward a step)."""
    from atu.losses import LogisticGANLoss

    seen, zs, d_fakes = [], [], []

    def fake_loss(images, latents):
        seen.append(images)
        zs.append(latents)
        return images.mean() * 0, {"probe": torch.tensor(1.0)}

    class Recording(LogisticGANLoss):
        def d_loss(self, D, real, fake, neg=None):
            d_fakes.append(fake)
            return super().d_loss(D, real, fake, neg)

    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    real = torch.rand(16, 1, 32, 32) * 2 - 1
    res = train_gan(G, D, real, GANTrainConfig(steps=2, batch_size=8, log_every=2, cpu=True), g_fake_loss=fake_loss,
                    loss=Recording())
    assert [x.shape for x in seen] == [(8, 1, 32, 32)] * 2 and all(x.requires_grad for x in seen)
    assert [z.shape for z in zs] == [(8, 8)] * 2 and not torch.equal(zs[0], zs[1])
    assert all(not f.requires_grad and torch.equal(f, x.detach()) for f, x in zip(d_fakes, seen))
    assert res.history[-1]["probe"] == 1.0


def test_buffered_source_hands_out_each_sample_once_in_chunks():
    """unlearn.buffered: n -> the source's next n samples, the source called `chunk` (or n, if larger) at a time."""
    from atu.unlearn import buffered

    calls = []

    def source(n):
        start = sum(calls)
        calls.append(n)
        return torch.arange(start, start + n, dtype=torch.float32)

    draw = buffered(source, 5)
    assert draw(3).tolist() == [0, 1, 2] and draw(3).tolist() == [3, 4, 5] and calls == [5, 5]
    assert draw(7).tolist() == list(range(6, 13)) and calls == [5, 5, 7]
    assert draw(1).tolist() == [13]


def test_guide_jitter_shows_the_classifier_moved_images():
    """guide_jitter: the classifier sees each image rotated, shifted and zoomed, the border filled with the
    background, so on a white image a brightness classifier sees less white than without the jitter."""
    from atu.unlearn import guided

    white = torch.ones(8, 1, 32, 32, requires_grad=True)
    plain, logs = guided(Brightness(), 0, 2.0)(white)
    moved, _ = guided(Brightness(), 0, 2.0, jitter=True, seed=0)(white)
    assert plain.item() == pytest.approx(2.0 * torch.nn.functional.softplus(torch.tensor(10.0)).item())
    assert logs["guide"].item() == pytest.approx(plain.item() / 2)
    assert moved.item() < plain.item()
    moved.backward()
    assert white.grad is not None and white.grad.abs().sum() > 0   # the jitter is differentiable: G still learns


def test_guide_temperature_keeps_pushing_past_the_boundary():
    """guide_temperature T: the guide reads logits / T. On a black image the brightness classifier's target logit
    is -10 (the other 0): at T = 1 the guide costs softplus(-10), almost nothing, at T = 4 softplus(-2.5)."""
    from atu.unlearn import guided

    black = -torch.ones(2, 1, 32, 32)
    softplus = lambda v: torch.nn.functional.softplus(torch.tensor(v)).item()  # noqa: E731
    assert guided(Brightness(), 0, 1.0)(black)[0].item() == pytest.approx(softplus(-10.0), rel=1e-4)
    assert guided(Brightness(), 0, 1.0, temperature=4.0)(black)[0].item() == pytest.approx(softplus(-2.5), rel=1e-5)
    with pytest.raises(ValueError, match="guide_temperature"):
        UnlearnConfig(guide_temperature=0.0)


def test_hard_latents_keep_only_the_pool_latents_g_still_draws_as_the_target():
    """target_refresh: the pool is re-read every `every` draws with G as it is then; only latents still drawn as the
    target are drawn, and a pool with none left gives N(0, I) only."""
    from atu.unlearn import hard_latents

    class SignG(torch.nn.Module):   # an image of tanh(sign * z[0]) everywhere
        latent_dim = 2

        def __init__(self):
            super().__init__()
            self.sign = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, z):
            return torch.tanh(self.sign * z[:, :1]).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)

    class MeanC(torch.nn.Module):   # class 1 (the target) where the image is bright
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            m = self.w * x.mean((1, 2, 3))
            return torch.stack([-m, m], 1)

    G, rows = SignG(), []
    pool = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [-2.0, 0.0]])
    draw = hard_latents(G, MeanC(), 1, pool, 0.5, every=2, seed=0, on_log=lambda step, row: rows.append(row))
    z = draw(8)
    assert (z[:4, 0] > 0).all() and set(z[:4, 0].tolist()) <= {1.0, 2.0}   # round(0.5 * 8) = 4 from what is left
    assert not torch.isin(z[4:, 0], pool[:, 0]).any()
    with torch.no_grad():
        G.sign.fill_(-1.0)                     # now the negative latents are the target
    draw(8)                                    # second draw: the pool is not re-read yet
    z = draw(8)                                # third draw (every = 2): re-read
    assert (z[:4, 0] < 0).all()
    assert rows == [{"step": 0, "target_pool_left": 2}, {"step": 2, "target_pool_left": 2}]
    with torch.no_grad():
        G.sign.fill_(0.0)                      # every image grey: no latent is the target any more
    draw(8)
    z = draw(8)
    assert rows[-1]["target_pool_left"] == 0 and not torch.isin(z[:, 0], pool[:, 0]).any() and z.shape == (8, 2)


def test_unlearn_logs_the_hard_pool_and_needs_the_classifier_for_it():
    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    real, theta, pool = torch.rand(16, 1, 32, 32) * 2 - 1, flatten(G)[None] + 0.1, torch.randn(6, 8)
    cfg = UnlearnConfig(steps=3, batch_size=8, neg_weight=0, guide_weight=0, target_latents=0.5, target_refresh=2)
    with pytest.raises(ValueError, match="classifier"):
        unlearn(G, D, real, theta, cfg, target_latents=pool)

    class AllTarget(torch.nn.Module):   # reads every image as class 1: the whole pool stays
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.tensor([0.0, 1.0]))

        def forward(self, x):
            return self.bias.expand(len(x), 2)

    rows = []
    unlearn(G, D, real, theta, cfg, target_latents=pool, guide=(AllTarget(), 1),
            on_log=lambda step, row: rows.append(row))
    assert [r["target_pool_left"] for r in rows if "target_pool_left" in r] == [6, 6]   # draws 0 and 2 of 3
