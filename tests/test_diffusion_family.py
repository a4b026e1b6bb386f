"""The diffusion family (issue #17 part 2): a DDPM as an atu generator, its denoising Fisher, the bounded
negative term, stage 2's repulsion, and the whole pipeline on a tiny UNet (seconds)."""
import dataclasses

import pytest
import torch

from atu.adapt import AdaptConfig, flatten
from atu.data import mnist_split
from atu.diffusion import (DDPMGenerator, DiffusionTrainConfig, adapt_one_ddpm, filtered_pool, fisher_denoising,
                           train_diffusion, unlearn_ddpm)
from atu.models import load_generator
from atu.sampling import generate
from atu.unlearn import UnlearnConfig

from tiny import make_tiny_ddpm_base


def tiny(seed=0):
    torch.manual_seed(seed)
    return DDPMGenerator(1, 32, (8, 16), 1, norm_num_groups=4, sample_steps=2)


def test_ddpm_lr_schedule_after_warmup():
    # cosine over 4 steps, no warm-up: half the rate after step 2, 0 after 4; "constant" with a 2-step warm-up: full
    # rate from step 2 on (min(1, (s + 1) / 2) after s = 2 scheduler steps)
    x = torch.rand(8, 1, 32, 32) * 2 - 1
    cfg = DiffusionTrainConfig(steps=4, batch_size=4, lr=1e-3, ema_beta=0, log_every=2)
    cos = train_diffusion(tiny(), x, dataclasses.replace(cfg, warmup=0, lr_schedule="cosine"))
    const = train_diffusion(tiny(), x, dataclasses.replace(cfg, warmup=2))
    assert [h["lr"] for h in cos.history] == pytest.approx([5e-4, 0.0])
    assert [h["lr"] for h in const.history] == pytest.approx([1e-3, 1e-3])
    # stage 2's own setting reaches the loop: UnlearnConfig.lr_schedule on a DDPM
    G = tiny()
    u = UnlearnConfig(steps=4, batch_size=4, lr=1e-3, ema_beta=0, eval_every=2, neg_weight=0, lr_schedule="cosine")
    assert [h["lr"] for h in unlearn_ddpm(G, x, (flatten(G) + 0.01)[None], u).history] == pytest.approx([5e-4, 0.0])


def digits(d, n):
    x, y = mnist_split("train")
    return x[y == d][:n]


def test_ddpm_generator_is_a_deterministic_function_of_z_and_round_trips(tmp_path):
    G = tiny().eval()
    z = torch.randn(3, G.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = G(z), G(z)
    assert a.shape == (3, 1, 32, 32) and torch.equal(a, b) and a.abs().max() <= 1
    G.save_pretrained(tmp_path / "g")
    H = load_generator(tmp_path / "g")
    assert type(H) is DDPMGenerator and H.sample_steps == 2
    with torch.no_grad():
        assert torch.equal(H(z), a)


def test_fisher_denoising_is_the_mean_squared_gradient():
    G = tiny()
    x = digits(3, 2)
    fisher = fisher_denoising(G, x, seed=5)
    gen = torch.Generator().manual_seed(5)   # the same t and noise, image by image
    params = list(G.parameters())
    want = [torch.zeros_like(p) for p in params]
    for img in x:
        for w, g in zip(want, torch.autograd.grad(G.denoising_loss(img[None], gen), params)):
            w += g ** 2 / 2
    assert all(torch.allclose(f, w) for f, w in zip(fisher, want))
    assert sum(float(f.sum()) for f in fisher) > 0


def _loss_on(G, x):
    with torch.no_grad():
        return float(G.denoising_loss(x, torch.Generator().manual_seed(123)))


def test_negative_term_raises_the_loss_on_negatives_and_weight_0_never_draws_them():
    pos, neg = digits(1, 64), digits(8, 64)
    calls = []

    def source(n):
        calls.append(n)
        return neg[:n]

    cfg = DiffusionTrainConfig(steps=30, batch_size=16, lr=1e-3, warmup=0, ema_beta=0, log_every=10)
    off = train_diffusion(tiny(), pos, dataclasses.replace(cfg, neg_weight=0.0, neg_cap=3.0), negatives=source)
    assert calls == []
    on = train_diffusion(tiny(), pos, dataclasses.replace(cfg, neg_weight=1.0, neg_cap=3.0), negatives=source)
    assert calls and "loss_neg" in on.history[-1]
    assert _loss_on(on.G, neg) > _loss_on(off.G, neg)


def test_redirect_term_teaches_the_negatives_states_to_denoise_towards_the_positives():
    """redirect_weight > 0 (and no raise): 30 steps on ones with eights as negatives leave the eights' noised states
    denoised towards the ones (redirect_loss lower than without the term); no cap is measured, so it needs none."""
    pos, neg = digits(1, 64), digits(8, 64)
    cfg = DiffusionTrainConfig(steps=30, batch_size=16, lr=1e-3, warmup=0, ema_beta=0, log_every=10,
                               redirect_t_min=500)
    off = train_diffusion(tiny(), pos, dataclasses.replace(cfg, neg_weight=0.0), negatives=lambda n: neg[:n])
    on = train_diffusion(tiny(), pos, dataclasses.replace(cfg, neg_weight=0.0, redirect_weight=1.0),
                         negatives=lambda n: neg[:n])
    assert "loss_redirect" in on.history[-1]
    with torch.no_grad():
        loss = [float(G.G.redirect_loss(neg, pos, torch.Generator().manual_seed(5), t_min=500)) for G in (off, on)]
    assert loss[1] < loss[0]


def test_with_a_teacher_the_target_is_its_prediction_so_the_same_model_has_nothing_to_learn():
    """denoising_loss(teacher=...): the target is the teacher's eps on the same x_t, not the noise; a model is its
    own teacher with loss 0 (and no gradient), another model is not. Without a teacher it is DDPM's loss."""
    G, x = tiny(), digits(3, 8)
    same = G.denoising_loss(x, torch.Generator().manual_seed(0), teacher=tiny())
    assert float(same.detach()) == 0.0
    other = G.denoising_loss(x, torch.Generator().manual_seed(0), teacher=tiny(seed=1))
    plain = G.denoising_loss(x, torch.Generator().manual_seed(0))
    other, plain = float(other.detach()), float(plain.detach())
    assert other > 0 and plain > 0 and other != plain


def test_t_min_draws_only_the_noisier_timesteps():
    """denoising_loss(t_min=k) is the loss at timesteps drawn from [k, T), computed here by hand."""
    import torch.nn.functional as F

    G, x = tiny(), digits(3, 4)
    k = 900
    got = G.denoising_loss(x, torch.Generator().manual_seed(0), t_min=k)
    gen = torch.Generator().manual_seed(0)
    t = torch.randint(k, 1000, (4,), generator=gen)
    noise = torch.randn(x.shape, generator=gen)
    with torch.no_grad():
        want = F.mse_loss(G.unet(G.scheduler.add_noise(x, noise, t), t).sample, noise)
    assert torch.allclose(got.detach(), want) and bool((t >= k).all())


def test_teacher_t_max_takes_the_teacher_below_it_and_the_noise_above():
    """denoising_loss(teacher=G, teacher_t_max=k) with G its own teacher: 0 on the images whose t < k, DDPM's own
    loss on the others (computed here by hand, per image)."""
    import torch.nn.functional as F

    G, x = tiny(), digits(3, 6)
    k = 500
    got = G.denoising_loss(x, torch.Generator().manual_seed(0), reduction="none", teacher=tiny(), teacher_t_max=k)
    gen = torch.Generator().manual_seed(0)
    t = torch.randint(0, 1000, (6,), generator=gen)
    noise = torch.randn(x.shape, generator=gen)
    with torch.no_grad():
        plain = F.mse_loss(G.unet(G.scheduler.add_noise(x, noise, t), t).sample, noise,
                           reduction="none").flatten(1).mean(1)
    want = torch.where(t < k, torch.zeros_like(plain), plain)
    assert bool((t < k).any()) and bool((t >= k).any())   # the seed gives both kinds
    assert torch.allclose(got.detach(), want, atol=1e-7)


def test_posterior_mean_weighs_the_images_by_how_likely_they_made_x_t():
    """One-pixel images 0 and 1, x_t = 0.5 at a = 0.25 (sqrt(a) = 0.5): squared distances 0.25 and 0, divided by
    2 (1 - a) = 1.5, give weights softmax(-1/6, 0) = (0.458429, 0.541571): the mean is 0.541571. At a -> 1 it is the
    nearest image; the one image of a pool of one at any a."""
    from atu.diffusion import posterior_mean

    imgs = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1)
    got = posterior_mean(torch.full((1, 1, 1, 1), 0.5), torch.full((1, 1, 1, 1), 0.25), imgs)
    assert abs(float(got) - 0.541571) < 1e-6
    assert float(posterior_mean(torch.full((1, 1, 1, 1), 0.8), torch.full((1, 1, 1, 1), 0.9999), imgs)) > 0.999
    assert float(posterior_mean(torch.randn(3, 1, 1, 1), torch.full((3, 1, 1, 1), 0.3), imgs[1:]).min()) == 1.0


def test_redirect_loss_targets_the_noise_that_would_have_made_x_t_from_the_positives():
    """redirect_loss(x_neg, positives) with one positive p: its posterior mean is p, so the target is
    eps + sqrt(a_t) / sqrt(1 - a_t) (x_neg - p), worked out here from x_t's definition; with the negative itself as
    the only positive it is DDPM's own loss (same t and noise)."""
    import torch.nn.functional as F

    G, x_neg, p = tiny(), digits(8, 1), digits(1, 1)
    same = G.redirect_loss(x_neg, x_neg, torch.Generator().manual_seed(0), t_min=300)
    assert torch.allclose(same, G.denoising_loss(x_neg, torch.Generator().manual_seed(0), t_min=300), atol=1e-6)
    gen = torch.Generator().manual_seed(1)
    t = torch.randint(300, 1000, (1,), generator=gen)
    noise = torch.randn(x_neg.shape, generator=gen)
    a = G.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    want_target = noise + a.sqrt() / (1 - a).sqrt() * (x_neg - p)
    with torch.no_grad():
        want = F.mse_loss(G.unet(G.scheduler.add_noise(x_neg, noise, t), t).sample, want_target)
        got = G.redirect_loss(x_neg, p, torch.Generator().manual_seed(1), t_min=300)
    assert torch.allclose(got, want, atol=1e-6) and got > same


def test_each_negative_term_draws_its_timesteps_from_its_own_range(monkeypatch):
    """UnlearnConfig.neg_t_min / neg_t_max bound the raise's timesteps and redirect_t_min / redirect_t_max the
    redirect's, through unlearn_ddpm to train_diffusion: every noised batch is drawn in the range it was asked for, and
    all three ranges occur (the positives' over every t)."""
    seen, noised = [], DDPMGenerator.noised

    def spy(self, x0, generator=None, t_min=0, t_max=0):
        out = noised(self, x0, generator, t_min, t_max)
        seen.append((t_min, t_max, int(out[1].min()), int(out[1].max())))
        return out

    monkeypatch.setattr(DDPMGenerator, "noised", spy)
    G = tiny()
    cfg = UnlearnConfig(loss="none", steps=3, batch_size=8, lr=1e-3, eval_every=3, neg_source="user",
                        neg_weight=0.5, neg_t_min=300, neg_t_max=310, redirect_weight=1.0, redirect_t_min=700,
                        redirect_t_max=705)
    unlearn_ddpm(G, digits(1, 16), (flatten(G) + 0.01)[None], cfg, negatives=digits(8, 8))
    assert {(lo, hi) for lo, hi, _, _ in seen} == {(0, 0), (300, 310), (700, 705)}
    assert all(lowest >= lo and highest < (hi or 1000) for lo, hi, lowest, highest in seen)


def test_a_sampler_redirect_range_without_a_sampler_step_is_refused_with_what_to_do():
    G = tiny()
    cfg = UnlearnConfig(loss="none", steps=2, batch_size=8, eval_every=2, neg_weight=0.0, redirect_weight=1.0,
                        redirect_states="sampler", redirect_t_min=700, redirect_t_max=705, neg_pool=4)
    with pytest.raises(ValueError, match=r"takes no step at 700 <= t < 705 \(its timesteps: \[\d+, "):   # the sampler's steps
        unlearn_ddpm(G, digits(1, 16), (flatten(G) + 0.01)[None], cfg)


def test_a_negative_terms_timesteps_must_be_a_range():
    UnlearnConfig(neg_t_min=500, neg_t_max=900, redirect_t_min=500)
    for bad in ({"neg_t_min": 500, "neg_t_max": 500}, {"redirect_t_min": 800, "redirect_t_max": 700},
                {"neg_t_max": -1}):
        with pytest.raises(ValueError, match="must be a range"):
            UnlearnConfig(**bad)


def test_negative_weights_are_checked():
    with pytest.raises(ValueError, match="redirect_weight"):
        UnlearnConfig(redirect_weight=-1.0)


def test_stage_2_towards_the_base_leaves_a_model_without_other_terms_where_it_was():
    """UnlearnConfig.pos_target "base": with no repulsion and no negative term, the positives' loss is 0 at the
    base and stage 2 keeps the model; with "noise" (DDPM's loss on the base's samples) it moves."""
    G = tiny()
    theta_N = (flatten(G) + 0.01)[None]
    cfg = UnlearnConfig(loss="none", steps=10, batch_size=8, lr=1e-3, neg_weight=0.0, eval_every=5)
    kept = unlearn_ddpm(G, digits(1, 16), theta_N, dataclasses.replace(cfg, pos_target="base"))
    moved = unlearn_ddpm(G, digits(1, 16), theta_N, dataclasses.replace(cfg, pos_target="noise"))
    assert torch.equal(flatten(kept.G), flatten(G))
    assert not torch.equal(flatten(moved.G), flatten(G))
    with pytest.raises(ValueError, match="pos_target"):
        UnlearnConfig(pos_target="eps")


def test_adapted_model_moves_and_el2_pushes_further_from_it_than_plain_fine_tuning():
    G = tiny()
    fisher = fisher_denoising(G, digits(8, 4))
    adapted = adapt_one_ddpm(G, digits(8, 8), AdaptConfig(steps=10, batch_size=8, lr=1e-3, ewc_lambda=1.0), seed=0,
                             fisher=fisher)
    theta_N = flatten(adapted.G)[None]
    assert not torch.equal(theta_N[0], flatten(G))
    cfg = UnlearnConfig(steps=20, batch_size=16, lr=1e-3, neg_weight=0.0, eval_every=10)
    el2 = unlearn_ddpm(G, digits(1, 32), theta_N, dataclasses.replace(cfg, loss="el2", gamma=1.0, el2_weight=30))
    none = unlearn_ddpm(G, digits(1, 32), theta_N, dataclasses.replace(cfg, loss="none"))
    assert el2.history[-1]["distance"] > none.history[-1]["distance"]


@pytest.mark.parametrize("paths", [{}, {"redirect_weight": 1.0, "redirect_states": "sampler", "anchor_weight": 1.0,
                                       "anchor_pool": 4},
                                   {"redirect_weight": 1.0, "anchor_weight": 1.0, "anchor_pool": 4, "anchor_paths": "any"}],
                         ids=["noised", "sampler-paths", "anchor-any"])
def test_pipeline_unlearns_a_tiny_ddpm_and_saves_a_loadable_run(tmp_path, paths):
    from atu.pipeline import RunConfig, run_unlearning, save_run

    gan, clf = make_tiny_ddpm_base(tmp_path)
    cfg = RunConfig(model=str(gan), classifier=str(clf), target=3, eval_latents=200, n_negatives=8,
                    adapt=AdaptConfig(K=1, steps=5, batch_size=8, fisher_samples=4),
                    unlearn=UnlearnConfig(steps=6, batch_size=8, n_positives=40, pos_max_target_prob=1.0,
                                          pos_min_top_prob=0.0, eval_every=3, eval_latents=20, neg_pool=8, **paths))
    res = run_unlearning(cfg)
    assert res.theta_N.shape == (1, sum(p.numel() for p in res.G_before.parameters()))
    assert {"pul", "fid_ratio", "collateral"} <= set(res.metrics)
    logged = set().union(*(e for e in res.history if e.get("stage") == "unlearn"))
    assert {"loss_neg"} | ({"loss_redirect", "loss_anchor"} if paths else set()) <= logged
    # the app's plots name every series this run draws before it starts (session.plot_series, read from the config)
    from atu.session import plot_series, progress_rows

    losses, rates = progress_rows(res.history, cfg)
    assert {r["series"] for r in losses} == set(plot_series(cfg)[0]) and "2: loss" in plot_series(cfg)[0]
    assert rates and {r["series"] for r in rates} <= set(plot_series(cfg)[1])
    out = save_run(res, tmp_path / "run")
    G = load_generator(out)
    z = torch.randn(2, G.latent_dim)
    with torch.no_grad():
        assert torch.equal(G(z), res.G_after.eval()(z))
    card = " ".join((out / "README.md").read_text().split())   # the card tells the DDPM's stage-2 terms
    assert "There is no discriminator" in card and "raised the denoising loss" in card
    assert ("to denoise into the positives near them" in card) == bool(paths.get("redirect_weight"))
    assert ("held the base model's own predictions on its sampler's paths" in card) == bool(paths.get("anchor_weight"))
    assert "neg_pool_draws" not in res.metrics and "labels as the feature" not in card   # no filtered pool


def test_pipeline_filters_a_ddpms_negative_pool_by_the_training_classifier_and_says_so(tmp_path):
    """unlearn.neg_pool_min_p through the pipeline: the pool is filtered by the run's classifier on the run's
    target, the draws it took are a metric, and the card names the samples the negative terms saw. (The tiny base's
    adapted model draws only what its mean-bucket classifier calls 9 after stage 1, so 9 is the target here.)"""
    from atu.pipeline import RunConfig, run_unlearning, save_run

    gan, clf = make_tiny_ddpm_base(tmp_path)
    cfg = RunConfig(model=str(gan), classifier=str(clf), target=9, eval_latents=100, n_negatives=8,
                    adapt=AdaptConfig(K=1, steps=5, batch_size=8, fisher_samples=4),
                    unlearn=UnlearnConfig(steps=2, batch_size=8, n_positives=40, pos_max_target_prob=1.0,
                                          pos_min_top_prob=0.0, eval_every=2, eval_latents=20, neg_pool=8,
                                          redirect_weight=1.0, neg_pool_min_p=0.5))
    res = run_unlearning(cfg)
    assert res.metrics["neg_pool_draws"] % 8 == 0 and res.metrics["neg_pool_draws"] >= 8
    card = " ".join((save_run(res, tmp_path / "run") / "README.md").read_text().split())
    assert "samples of the adapted models that the classifier labels as the feature (p >= 0.5)" in card


def test_a_saved_ddpm_run_is_diffusers_own_ddim_pipeline(tmp_path):
    from diffusers import DiffusionPipeline

    from atu.diffusers_layout import write_diffusers_layout

    G = tiny().eval()
    G.save_pretrained(tmp_path / "g")
    assert write_diffusers_layout(tmp_path / "g", G)
    pipe = DiffusionPipeline.from_pretrained(tmp_path / "g")   # no trust_remote_code: diffusers' own classes
    assert type(pipe).__name__ == "DDIMPipeline"
    out = pipe(batch_size=2, num_inference_steps=G.sample_steps, generator=torch.Generator().manual_seed(0),
               output_type="np").images
    z = torch.randn((2, 1, 32, 32), generator=torch.Generator().manual_seed(0)).flatten(1)
    with torch.no_grad():
        want = ((G(z) / 2 + 0.5).clamp(0, 1)).permute(0, 2, 3, 1).numpy()
    assert abs(out - want).max() < 1e-5


def test_train_ddpm_goes_on_from_a_saved_run_and_its_card_lists_both_commands(tmp_path, monkeypatch):
    """train-ddpm --init: the raw weights go on training from the saved run's (with lr 0 they are the saved ones
    exactly), the EMA goes on from its EMA, the card's reproduce block gives the earlier command first, and a folder
    whose UNet differs from the options is refused with what to pass."""
    import dataclasses

    from atu.diffusion import DiffusionTrainConfig
    from atu.mnist import DDPMRunConfig, run_train_ddpm
    from atu.models import CheckpointError

    monkeypatch.setattr("atu.mnist.DDPM_LATENT_BANK_SIZE", 100)   # the measured bank: 2,000 samples cost 20 s here
    tiny = dict(block_out_channels="8,16", sample_steps=2, evaluator="")
    # no warm-up and a large rate, so that run 1's raw weights and its EMA part by far more than the tolerance below
    first = DDPMRunConfig(out=str(tmp_path / "a"), **tiny, train=DiffusionTrainConfig(steps=2, batch_size=4, log_every=1,
                                                                                       warmup=0, lr=1e-2))
    run_train_ddpm(first)
    second = dataclasses.replace(first, out=str(tmp_path / "b"), init=first.out,
                                 train=DiffusionTrainConfig(steps=2, batch_size=4, log_every=1, lr=0.0))
    m = run_train_ddpm(second)
    raw_a, raw_b = (load_generator(tmp_path / f / "model-raw") for f in "ab")
    ema_a, ema_b = (load_generator(tmp_path / f) for f in "ab")
    assert all(torch.equal(p, q) for p, q in zip(raw_a.parameters(), raw_b.parameters()))
    # two EMA steps towards the unchanged raw weights, from run 1's EMA (not from the raw weights, as a fresh run would)
    beta2 = second.train.ema_beta ** 2
    assert max(float((p - r).detach().abs().max()) for p, r in zip(ema_a.parameters(), raw_a.parameters())) > 1e-3
    assert all(torch.allclose(q, beta2 * p + (1 - beta2) * r, atol=1e-6)
               for p, q, r in zip(ema_a.parameters(), ema_b.parameters(), raw_a.parameters()))
    assert [r["command"] for r in m["earlier_runs"]] == [f"python -m atu train-ddpm --out {first.out} "
                                                         "--evaluator '' --block_out_channels 8,16 --sample_steps 2 "
                                                         "--train.steps 2 --train.batch_size 4 --train.lr 0.01 "
                                                         "--train.warmup 0 --train.log_every 1"]
    card = (tmp_path / "b" / "README.md").read_text()
    assert card.index(m["earlier_runs"][0]["command"]) < card.index(f"--init {first.out}")
    assert "needs `--overwrite` too" in card   # the shipped folder exists in a checkout: the chain must say so
    with pytest.raises(CheckpointError, match="--block_out_channels"):
        run_train_ddpm(dataclasses.replace(second, out=str(tmp_path / "c"), block_out_channels="8,8"))


def test_train_ddpm_sharpen_term_reaches_the_noise_through_the_sampler_and_never_reads_a_measuring_classifier(
        tmp_path, monkeypatch):
    """train-ddpm --sharpen_weight: the loss gains the co-classifier's sharpening term on the model's own samples,
    its gradient through every sampler step (it reaches the initial noise, which only the first step reads) or the
    last `sharpen_grad_steps` only, logged as "sharpen" (absent when off); the classifier or the evaluator that
    measure the model are refused."""
    import dataclasses
    import json

    from atu.diffusion import DiffusionTrainConfig
    from atu.mnist import DDPMRunConfig, run_train_ddpm, sampled_loss

    seen = []

    def term(images):
        seen.append(images)
        return images.square().mean(), {"sharpen": images.detach().mean()}

    for grad_steps in (0, 1):   # every step (the tiny sampler's 2), or the last one only (DRaFT-K)
        G = tiny()
        z = torch.randn(2, G.latent_dim, requires_grad=True)
        monkeypatch.setattr(torch, "randn", lambda *a, **k: z)   # sampled_loss's draw, so that its gradient shows
        loss, logs = sampled_loss(term, 2, seed=0, grad_steps=grad_steps)(G)
        monkeypatch.undo()
        loss.backward()
        assert seen[-1].shape == (2, *G.image_shape) and "sharpen" in logs
        assert all(p.grad is not None for p in G.unet.parameters() if p.requires_grad)
        assert (z.grad is None) == (grad_steps == 1)   # the first step reads z: with it cut, no gradient reaches z
        with torch.no_grad():
            assert torch.equal(seen[-1].detach(), G(z))   # the same images as G(z), whatever the gradient's path

    monkeypatch.setattr("atu.mnist.DDPM_LATENT_BANK_SIZE", 20)
    cfg = DDPMRunConfig(out=str(tmp_path / "a"), block_out_channels="8,16", sample_steps=2, evaluator="",
                        sharpen_weight=1.0, sharpen_batch=2,
                        train=DiffusionTrainConfig(steps=2, batch_size=4, log_every=1))
    run_train_ddpm(cfg)
    assert all("sharpen" in row for row in json.loads((tmp_path / "a" / "train_history.json").read_text()))
    run_train_ddpm(dataclasses.replace(cfg, out=str(tmp_path / "b"), sharpen_weight=0.0))
    assert not any("sharpen" in row for row in json.loads((tmp_path / "b" / "train_history.json").read_text()))
    with pytest.raises(ValueError, match="measures the model"):
        run_train_ddpm(dataclasses.replace(cfg, out=str(tmp_path / "c"), sharpen_classifier=cfg.classifier))


def test_sampler_path_records_the_states_the_sampler_passes_through_and_its_predictions():
    """sampler_path(z): its images are generate(G, z)'s to the bit (G(z)'s up to the memory layout), and the model
    stays in the mode it was (it runs on a private copy); the first state is the noise itself; each state is the DDIM
    step from the one before with the recorded prediction; t_min keeps the steps at t >= t_min only."""
    G = tiny().train()
    z = torch.randn(3, G.latent_dim, generator=torch.Generator().manual_seed(0))
    path = G.sampler_path(z)
    assert G.training
    G.eval()
    assert torch.equal(path.images, generate(G, z))
    with torch.no_grad():
        assert torch.allclose(path.images, G(z), atol=1e-5)
    assert path.states.shape == (3, 2, 1, 32, 32) and torch.equal(path.states[:, 0], z.view(3, 1, 32, 32))
    sched = G.sampler()
    step = sched.step(path.preds[:, 0], path.t[0], path.states[:, 0], eta=0.0).prev_sample
    assert torch.allclose(step, path.states[:, 1])
    with torch.no_grad():
        assert torch.allclose(path.preds[:, 1], G.unet(path.states[:, 1], path.t[1]).sample, atol=1e-5)
    high = G.sampler_path(z, t_min=int(path.t[0]))
    assert high.states.shape[1] == 1 and torch.equal(high.states[:, 0], path.states[:, 0])
    low = G.sampler_path(z, t_max=int(path.t[0]))
    assert torch.equal(low.t, path.t[1:]) and torch.equal(low.states[:, 0], path.states[:, 1])


def test_redirect_at_given_states_is_the_redirect_term_on_those_states():
    """redirect_loss(x_neg) is redirect_loss_at on the states it noised (same generator draws)."""
    G, neg, pos = tiny(), digits(8, 4), digits(1, 8)
    x_t, t, _ = G.noised(neg, torch.Generator().manual_seed(3), 500)
    with torch.no_grad():
        a = G.redirect_loss(neg, pos, torch.Generator().manual_seed(3), t_min=500)
        b = G.redirect_loss_at(x_t, t, pos)
    assert float(a) == float(b)


def test_redirect_on_the_sampler_states_needs_the_adapted_models():
    with pytest.raises(ValueError, match="redirect_states"):
        UnlearnConfig(redirect_states="sampler", neg_source="user")
    with pytest.raises(ValueError, match="redirect_states"):
        UnlearnConfig(redirect_states="paths")


def test_sampler_redirect_teaches_the_adapted_models_own_states_and_the_anchor_holds_the_positives_paths():
    """redirect_states "sampler": stage 2's redirect acts on the states the adapted model's sampler passed through
    (its loss there falls more than with "noised"); anchor_weight > 0: the base's own predictions on the paths to
    positives stay closer than without it. Tiny UNet, 20 steps, only the redirect term (no raise, no repulsion)."""
    from atu.diffusion import SamplerPath, adapted_paths

    G = tiny()
    theta_N = (flatten(G) + 0.02 * torch.randn(flatten(G).shape, generator=torch.Generator().manual_seed(1)))[None]
    pos = digits(1, 32)
    cfg = UnlearnConfig(loss="none", steps=20, batch_size=16, lr=1e-3, neg_weight=0.0, redirect_weight=1.0,
                        redirect_t_min=0, pos_target="base", neg_pool=16, eval_every=10)
    path = adapted_paths(G, theta_N, cfg.neg_pool, seed=cfg.seed + 17)   # the path unlearn_ddpm draws
    x_t, t = path.states.flatten(0, 1), path.t.repeat(path.states.shape[0])

    def redirect_there(res):
        with torch.no_grad():
            return float(res.G.redirect_loss_at(x_t, t, pos))

    noised = unlearn_ddpm(G, pos, theta_N, cfg)
    sampler = unlearn_ddpm(G, pos, theta_N, dataclasses.replace(cfg, redirect_states="sampler"))
    assert redirect_there(sampler) < redirect_there(noised)

    base_path = G.sampler_path(torch.randn(8, G.latent_dim, generator=torch.Generator().manual_seed(2)))
    with pytest.raises(ValueError, match="anchor_path"):
        unlearn_ddpm(G, pos, theta_N, dataclasses.replace(cfg, anchor_weight=1.0))
    held = unlearn_ddpm(G, pos, theta_N, dataclasses.replace(cfg, redirect_states="sampler", anchor_weight=10.0),
                        anchor_path=base_path)
    assert "loss_anchor" in held.history[-1]

    def drift(res):   # how far the model moved from the base's predictions on the anchored states
        s, ts, p = base_path.states.flatten(0, 1), base_path.t.repeat(8), base_path.preds.flatten(0, 1)
        with torch.no_grad():
            return float(res.G.anchor_loss(s, ts, p))

    assert drift(held) < drift(sampler)
    assert isinstance(SamplerPath.cat([base_path, base_path]).images, torch.Tensor)


def test_base_paths_are_the_samplers_paths_from_their_own_noises():
    """base_paths: n paths, in chunks of sample_chunk, each the sampler's own path from the seed's noises in order
    (the same images as G on those noises), whatever they draw."""
    from atu.diffusion import base_paths

    G = tiny().eval()
    G.sample_chunk = 2
    path = base_paths(G, n=5, seed=3)
    z = torch.randn(5, G.latent_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(path.images, G(z), atol=1e-5)
    assert path.states.shape[:2] == (5, 2) and path.preds.shape == path.states.shape
    with pytest.raises(ValueError, match="anchor_paths"):
        UnlearnConfig(anchor_paths="everything")


class ByInk(torch.nn.Module):   # a two-class "classifier": 1 when the image is mostly dark, else 0, always confident
    input_range = (-1.0, 1.0)

    def __init__(self, cut=0.0):
        super().__init__()
        self.cut = cut
        self.scale = torch.nn.Parameter(torch.tensor(20.0))   # a parameter: atu reads the device from one

    def forward(self, x):
        dark = (x.mean((1, 2, 3)) < self.cut).float()
        return torch.stack([1 - dark, dark], 1) * self.scale


def test_the_positives_pass_keeps_their_paths_and_the_anchor_holds_a_random_subset_of_them():
    """PathRecorder as pick_positives' sampler: the same positives, latents and draws as without it (its images are
    generate(G, z)'s to the bit), and paths_of gives each positive's own path, in the order asked, sampled again
    past max_bytes;
    anchor_path takes anchor_pool of them at random by its seed, the same whether recorded or sampled again."""
    from atu.diffusion import PathRecorder, anchor_path
    from atu.feedback import pick_positives

    G = tiny().eval()
    G.sample_chunk = 4
    z0 = torch.randn(8, G.latent_dim, generator=torch.Generator().manual_seed(0))
    assert torch.equal(G.sampler_path(z0).images, generate(G, z0))
    with torch.no_grad():   # the cut: the median ink of the tiny model's samples, so about half are positives
        cut = float(G(torch.randn(64, G.latent_dim, generator=torch.Generator().manual_seed(0))).mean((1, 2, 3)).median())
    C = ByInk(cut)
    plain = pick_positives(G, C, 0, 6, seed=0, max_target_prob=0.01, min_top_prob=0.9)
    one = G.sampler_path(z0[:1])
    record = PathRecorder(G, max_bytes=4 * (one.states.nbytes + one.preds.nbytes))   # keeps the first draw of 4 only
    x, z, drawn = pick_positives(G, C, 0, 6, seed=0, max_target_prob=0.01, min_top_prob=0.9, sample=record)
    assert torch.equal(x, plain[0]) and torch.equal(z, plain[1]) and drawn == plain[2]
    assert drawn > 4 and len(record.paths) == 1   # some positives come from a draw it did not keep
    path = record.paths_of(z)
    assert torch.allclose(path.images, x, atol=1e-5) and path.states.shape[:2] == (6, 2)   # a batch of its own
    again = G.sampler_path(z)
    assert torch.allclose(path.states, again.states, atol=1e-5) and torch.allclose(path.preds, again.preds, atol=1e-5)
    assert torch.allclose(record.paths_of(z.flip(0)).states, path.states.flip(0), atol=1e-5)   # the order asked

    u = UnlearnConfig(anchor_pool=4)
    held, sampled = anchor_path(G, u, 5, z, path), anchor_path(G, u, 5, z)
    pick = torch.randperm(6, generator=torch.Generator().manual_seed(5))[:4]
    assert torch.equal(held.images, path.images[pick]) and torch.allclose(held.states, sampled.states, atol=1e-5)
    assert not torch.equal(anchor_path(G, u, 6, z, path).images, held.images)   # another seed, another subset


def test_filtered_pool_keeps_what_the_filter_passes_in_draw_order_and_says_what_to_do_when_too_few():
    """unlearn.neg_pool_min_p: draws of 4 numbered images (0, 1, 2, ...), the filter passes the even ones: the pool
    is the first 4 even images, after 2 draws (8 samples); a filter that passes 1 in 8 runs out of rounds."""
    counter = iter(range(10_000))

    def draw(n):
        return torch.tensor([float(next(counter)) for _ in range(n)]).view(n, 1, 1, 1)

    pool, drawn = filtered_pool(draw, lambda x: x.view(-1) % 2 == 0, 4)
    assert pool.view(-1).tolist() == [0.0, 2.0, 4.0, 6.0] and drawn == 8
    with pytest.raises(ValueError, match=r"drew 2 samples of the feature in 16 .*lower neg_pool_min_p"):
        filtered_pool(draw, lambda x: x.view(-1) % 8 == 0, 4, rounds=4)


def test_a_filtered_negative_pool_needs_the_adapted_models_and_the_classifiers_filter():
    for bad in ({"neg_pool_min_p": 1.0}, {"neg_pool_min_p": -0.1}):
        with pytest.raises(ValueError, match=r"neg_pool_min_p must be in \[0, 1\)"):
            UnlearnConfig(**bad)
    with pytest.raises(ValueError, match="neg_source"):
        UnlearnConfig(neg_pool_min_p=0.5, neg_source="user")
    G = tiny()
    cfg = UnlearnConfig(loss="none", steps=2, batch_size=8, eval_every=2, neg_weight=0.5, neg_pool=4,
                        neg_pool_min_p=0.5)
    with pytest.raises(ValueError, match="pool_keep"):
        unlearn_ddpm(G, digits(1, 16), (flatten(G) + 0.01)[None], cfg)


def test_unlearn_ddpm_draws_the_adapted_models_pool_through_the_filter_and_reports_the_draws():
    """The pool filter sees every draw of the adapted model (which samples it keeps: filtered_pool's test above):
    keeping half of each draw of 6 takes at least two draws, and the number drawn is reported; without the
    filter the pool is one draw of neg_pool."""
    G = tiny()
    seen = []

    def keep(x):
        seen.append(x.clone())
        m = x.mean((1, 2, 3))
        return m <= m.median()

    cfg = UnlearnConfig(loss="none", steps=2, batch_size=8, eval_every=2, neg_weight=0.5, neg_pool=6,
                        neg_pool_min_p=0.5)
    res = unlearn_ddpm(G, digits(1, 16), (flatten(G) + 0.01)[None], cfg, pool_keep=keep)
    drawn = torch.cat(seen)
    assert res.neg_pool_draws == len(drawn) >= 12   # half of each draw of 6 kept: at least two draws
    plain = unlearn_ddpm(G, digits(1, 16), (flatten(G) + 0.01)[None], dataclasses.replace(cfg, neg_pool_min_p=0.0))
    assert plain.neg_pool_draws == 6
