"""Stage 2, unlearning (method.md): fine-tune the base G (and D) as a GAN whose real data are positives, with a
repulsion term that pushes G's parameters away from the K adapted models theta_N.

Normalisation (our choice, see README "Stage 2"): the repulsion acts on r = d / d0, where d is
`atu.losses.parameter_distance` and d0 its value at the start (base G vs theta_N). So r = 1 at the start
whatever the model size or K, and gamma is dimensionless:
    el2: el2_weight * exp(-gamma * r)     nl2: -gamma * r     il2: gamma / r      none: 0
(the official code's fixed alpha on raw d made exp(-alpha d) ~ 0 from the first step: a silent no-op).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .adapt import unflatten
from .augment import random_affine
from .losses import REPULSIONS, anchor_loss, guide_loss, keep_loss, mix_loss, parameter_distance, repulsion
from .metrics import class_histogram, class_probabilities, classify
from .runtime import inference_batch, inference_copy
from .sampling import generate
from .train import GANTrainConfig, NegativeSource, train_gan

NEG_SOURCES = ("adapted", "user", "classifier")
LR_SCHEDULES = ("constant", "linear", "cosine")   # stage 2's rates over its steps (diffusers' get_scheduler names)


@dataclass
class UnlearnConfig:
    loss: str = "el2"                 # repulsion: "el2" | "nl2" | "il2" | "none" (plain fine-tuning on positives)
    gamma: float = 1.0                # dimensionless strength on r = d / d0 (alpha for el2)
    el2_weight: float = 30.0          # w of el2 (the loss scale of the EL2 term); w = 1 was too weak to beat "none"
    steps: int = 600                  # GAN steps
    batch_size: int = 16              # 32 until session 23: the same PUL and collateral within a seed's spread on
                                      #   digits 4, 8, 9 and stage 2 ~40% faster (docs/benchmark-mnist.md "Speed")
    lr: float = 2e-4                  # Adam lr of G
    lr_d: float = 0.0                 # Adam lr of D; 0 = same as lr
    lr_schedule: str = "constant"     # both rates over stage 2: "constant", or "cosine" / "linear" (diffusers'
                                      #   get_scheduler: decay to 0 at the last step)
    ema_beta: float = 0.99            # EMA of G (the evaluated model); 0.99 ~ 70-step half-life for short runs
    n_positives: int = 2000           # positives (G's samples without the feature) used as real data (5,000 removed
                                      #   no more on the first base model, and cost more draws)
    pos_max_target_prob: float = 0.01 # confident positives: the classifier's p(feature) below this ...
    pos_min_top_prob: float = 0.9     #   ... and its top class probability above this (1.0 / 0.0 = any sample
                                      #   not labelled as the feature; feedback.confident_mask)
    pos_balance: bool = True          # positives keep the base's mix of the other classes (feedback.class_quotas)
    neg_weight: float = 1.0           # negative-aware D: weight of softplus(D(x_neg)), negatives called fake (Rumi-GAN,
                                      #   Kong & Chaudhuri 2023); 0 = off, the paper's stage 2 (README "Stage 2")
    neg_source: str = "adapted"       # those negatives: "adapted" = fresh samples of the K stage-1 generators
                                      #   (theta_N, in memory), "user" = the few negatives, randomly shifted/rotated,
                                      #   "classifier" = a pool of the base G's samples the classifier is confident
                                      #   show the feature (no stage 1 in it: a baseline for the adapted source)
    neg_cap: float = 2.0              # diffusion only (no D): the negative term raises the denoising loss on the
                                      #   negatives up to neg_cap x its starting value, never further (bounded)
    neg_pool: int = 256               # diffusion only: samples of the adapted models drawn once, before stage 2
                                      #   (a DDIM sample costs 20 UNet calls: too dear to draw at every step)
    neg_pool_min_p: float = 0.0       # diffusion only: the pool keeps only the adapted models' samples whose
                                      #   p(feature) by the training classifier is at least this, drawn until neg_pool
                                      #   are (at most NEG_POOL_ROUNDS x neg_pool draws): the adapted models draw
                                      #   20-50% other digits, which the raise would push away too; 0 = every sample
    neg_t_min: int = 0                # diffusion only: the negative term sees timesteps in [neg_t_min, T) only
    neg_t_max: int = 0                # diffusion only: ... and below neg_t_max (0 = T). With redirect_t_max 900 and
                                      #   anchor_weight 3 (the option atu.catalog.HOLD): collateral -0.011 to -0.024
                                      #   on the 3-seed means of digits 1 / 4 / 8, PUL -1.0 / -1.3 (session 39); alone,
                                      #   the other digits moved as much as without it (docs/diffusion.md)
    redirect_weight: float = 0.0      # diffusion only: weight of the redirect term, beside neg_weight's raise: the
                                      #   negatives' noised states are denoised into the positives near them
                                      #   (atu.diffusion.DDPMGenerator.redirect_loss); 0 = off
    redirect_t_min: int = 0           # diffusion only: the redirect term sees timesteps in [redirect_t_min, T) only
                                      #   (its own bound: a regression adds no speckle where raising a loss does)
    redirect_t_max: int = 0           # diffusion only: ... and below redirect_t_max (0 = T)
    redirect_states: str = "noised"   # diffusion only: where the redirect term acts: "noised" = the adapted models'
                                      #   samples noised afresh; "sampler" = the states the DDIM sampler passes
                                      #   through while the adapted models draw them, the states it actually takes
                                      #   to the feature (needs neg_source "adapted"; docs/diffusion.md)
    anchor_weight: float = 0.0        # weight of the anchor, which holds the base's output where there is no feature;
                                      #   0 = off. GAN: mean squared pixel error between G(z) and the base's G(z) on
                                      #   the positives' own latents, `anchor_batch` a step (measured on digit 8: fewer
                                      #   other digits changed, more eights kept; docs/benchmark-mnist.md). Diffusion:
                                      #   on the states the base's sampler passes through on its way to
                                      #   `anchor_pool` of stage 2's confident positives, the base's own predictions
                                      #   are the target. Weight 3
                                      #   beside the guide at 2 (GAN, ten digits): evaluator 97.3 -> 96.3, collateral
                                      #   0.036 -> 0.034: not kept
    target_latents: float = 0.0       # GAN only: share of G's batch drawn from `target_pool` latents whose base samples
                                      #   the classifier labels as the feature (where G must change; at random ~1 in 10
                                      #   of a batch), the rest from N(0, I); 0 = off (no gain beyond a seed's spread
                                      #   on digits 1, 4, 8: docs/benchmark-mnist.md)
    target_pool: int = 1000           # GAN only: how many such latents
    target_refresh: int = 0           # GAN only: every this many steps the pool that target_latents draws from is cut
                                      #   to the latents the current G (eval mode) still draws as the feature, by
                                      #   the training classifier (hard latents: the residue the guide has not moved
                                      #   yet; none left = all from N(0, I)); 0 = the base's pool throughout. 50
                                      #   with target_latents 0.25, five seeds: digit 9 +2.3 by the evaluator, 8
                                      #   -0.5: not the default (docs/benchmark-mnist.md "Stricter positives")
    guide_weight: float = 2.0         # GAN only: weight of the classifier guide, -log(1 - p(feature)) by the training
                                      #   classifier on G's own step samples (atu.losses.guide_loss); 0 = off. On
                                      #   digits 1, 4, 8 x 3 seeds weight 1 lifted PUL by the independent evaluator
                                      #   (which never enters training) from 92.7 to 96.8; weight 2 over the
                                      #   benchmark's ten digits 96.2 -> 97.3 by the evaluator, 9 digits of 10 at >= 95
                                      #   by both (7 at weight 1), but collateral +0.003 and on 8 the classifiers part
                                      #   more (docs/benchmark-mnist.md)
    guide_jitter: bool = False        # the classifier sees G's samples randomly rotated, shifted and zoomed (JITTER);
                                      #   measured on digit 8: removed less by both classifiers, not kept
    guide_temperature: float = 1.0    # the guide reads the classifier's logits / T: T > 1 keeps it pushing a sample
                                      #   further past the target's boundary (at T = 1 it stops near p(target) = 0),
                                      #   a margin meant for the evaluator's boundary. T = 2 on ten runs: PUL by
                                      #   the evaluator 95.9 -> 95.6, collateral 0.036 -> 0.034: not kept
    mix_weight: float = 0.0           # GAN only: weight of the class-mix term, KL(mix || the batch's mean softmax) by
                                      #   the training classifier on G's step samples, the target left out
                                      #   (atu.losses.mix_loss), mix = the positives' classes (the base's mix of the
                                      #   other classes): where the removed samples land (eights mostly on 3 and 5)
                                      #   is the collateral damage; 0 = off. Weight 3 on digits 8 and 9: PUL -4 to
                                      #   -9 by both classifiers, collateral -0.007 / +0.004; weight 0.5 no steadier:
                                      #   not kept (docs/benchmark-mnist.md)
    keep_weight: float = 0.0          # GAN only: weight of the class keep, sum_i w_i KL(q_i || C(G(z_i))) on G's step
                                      #   samples, q_i = the training classifier's class probabilities of the base's
                                      #   sample of the same latent without the target, w_i = 1 - its p(target)
                                      #   (atu.losses.keep_loss): the other digits keep their class (in the default
                                      #   run 14% of them changed label, 2s and 9s into 7s: most of the collateral
                                      #   damage); 0 = off. Weight 0.3 on the benchmark's 18 runs: collateral 0.040
                                      #   -> 0.032 (evaluator 0.039 -> 0.031), PUL -1.4 / -1.9 by the two classifiers,
                                      #   6 digits of 10 at >= 95 by both instead of 8 (session 24); with the
                                      #   co-classifier (session 29, 28 paired runs) collateral 0.040 -> 0.027
                                      #   (evaluator 0.038 -> 0.025) for PUL -1.1 / -0.9, 8 digits of 10 at >= 95 by
                                      #   both instead of 9, and stage 2 15 s longer (the standard preset 84 -> 96 s,
                                      #   over the 90 s target): an option, not the default (docs/benchmark-mnist.md
                                      #   "The class keep with the co-classifier"). Read from the positives' draws
                                      #   instead (no extra forward, session 30): PUL 1-2 points lower still, reverted
                                      #   (benchmarks/mnist-v3/keep-draws)
    keep_start: int = 0               # GAN only: the keep acts from this stage-2 step on (0 = from the start); from
                                      #   step 300 on digit 8 it brought eights back: not kept
    anchor_batch: int = 16            # GAN only: anchor latents per G step (each costs a G forward and backward)
    anchor_pool: int = 128            # diffusion only: how many paths the anchor holds (a random subset of stage 2's
                                      #   positives, at most all of them, their paths kept from the pass that drew
                                      #   them: PathRecorder)
    anchor_paths: str = "positives"   # diffusion only: whose paths: "positives" (stage 2's positives') or "any"
                                      #   (the base's paths from anchor_pool random noises, the target's among them;
                                      #   weight 1, pool 400, digits 1/4/8 x 3 seeds: collateral 0.136/0.071/0.113 ->
                                      #   0.106/0.050/0.075, but PUL on 8 93.9 -> 88.3; "positives", pool 400, the
                                      #   DDPM's standard preset since session 37: 0.111/0.052/0.077 at PUL 92.6/98.1/
                                      #   93.9 by the bench, session 38: docs/diffusion.md)
    pos_target: str = "noise"         # diffusion only: the denoising target on the positives, "noise" (DDPM's own
                                      #   loss) or "base" (the base model's prediction on the same noised image:
                                      #   trained on its own samples with "noise", a DDPM learns its own sampling
                                      #   errors back, docs/diffusion.md)
    pos_teacher_t_max: int = 0        # diffusion only, with pos_target "base": the base's prediction is the target
                                      #   at t < this only, the noise above it, where the positives' own mix of
                                      #   classes is learnt (the class is decided there); 0 = the base at every t
    d_warmup: int = 0                 # D-only steps first (set by the pipeline when D is fresh, see AdaptConfig)
    g_bn_frozen: bool = False         # G's BatchNorm keeps its running statistics (atu.train.GANTrainConfig)
    g_frozen: str = ""                # G parameters kept fixed, by name prefix (atu.train.GANTrainConfig)
    eval_every: int = 50              # steps between negative-rate probes on a small latent bank
    eval_latents: int = 200           # size of that probe bank (the app's live plot; 500 until session 23)
    seed: int = 0

    def __post_init__(self):
        if self.loss not in REPULSIONS:
            raise ValueError(f"loss must be one of {REPULSIONS}, got {self.loss!r}")
        if self.pos_target not in ("noise", "base"):
            raise ValueError(f'pos_target must be "noise" or "base", got {self.pos_target!r}')
        if self.neg_source not in NEG_SOURCES:
            raise ValueError(f"neg_source must be one of {NEG_SOURCES}, got {self.neg_source!r}")
        if self.anchor_paths not in ("positives", "any"):
            raise ValueError(f'anchor_paths must be "positives" or "any", got {self.anchor_paths!r}')
        if self.redirect_states not in ("noised", "sampler"):
            raise ValueError(f'redirect_states must be "noised" or "sampler", got {self.redirect_states!r}')
        if self.redirect_states == "sampler" and self.neg_source != "adapted":
            raise ValueError('redirect_states="sampler" needs neg_source="adapted": only the adapted models\' '
                             'sampler paths are at hand, not those of the user\'s images')
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not 0 <= self.neg_pool_min_p < 1:
            raise ValueError(f"neg_pool_min_p must be in [0, 1), got {self.neg_pool_min_p}")
        if self.neg_pool_min_p > 0 and (self.neg_source != "adapted" or self.redirect_states != "noised"):
            raise ValueError('neg_pool_min_p filters the adapted models\' pool: it needs neg_source="adapted" and '
                             'redirect_states="noised"')
        if self.mix_weight < 0 or self.keep_weight < 0:
            raise ValueError(f"mix_weight and keep_weight must be >= 0, got {self.mix_weight}, {self.keep_weight}")
        if self.guide_weight < 0 or self.guide_temperature <= 0:
            raise ValueError(f"guide_weight must be >= 0 and guide_temperature > 0, got {self.guide_weight}, "
                             f"{self.guide_temperature}")
        for lo, hi in ((self.neg_t_min, self.neg_t_max), (self.redirect_t_min, self.redirect_t_max)):
            if lo < 0 or hi < 0 or (hi and hi <= lo):
                raise ValueError(f"a negative term's timesteps [t_min, t_max) must be a range (t_max 0 = T), got "
                                 f"[{lo}, {hi})")
        if self.neg_weight < 0 or self.redirect_weight < 0:
            raise ValueError(f"neg_weight and redirect_weight must be >= 0, got {self.neg_weight}, "
                             f"{self.redirect_weight}")

    @property
    def uses_negatives(self) -> bool:
        """Whether stage 2 has a negative term (the negative-aware D or the DDPM's raise, or the redirect)."""
        return self.neg_weight > 0 or self.redirect_weight > 0


def adapted_sampler(G, theta_N: torch.Tensor, seed: int) -> NegativeSource:
    """n -> n samples of the K adapted generators (each sample from a randomly drawn k), with no copy of theta_N and
    nothing read from disk: one private copy of G runs with each adapted parameter vector swapped in
    (torch.func.functional_call). BatchNorm uses the batch's statistics, as during stage 1, where the adapted
    models were trained in train mode."""
    net = copy.deepcopy(G).train().requires_grad_(False)
    names = [n for n, _ in net.named_parameters()]
    params = [dict(zip(names, unflatten(t, net))) for t in theta_N]
    gen = torch.Generator().manual_seed(seed)

    def sample(n: int) -> torch.Tensor:
        k = torch.randint(len(params), (n,), generator=gen)
        z = torch.randn(n, net.latent_dim, generator=gen)
        out = torch.empty(n, *net.image_shape)
        for j in k.unique().tolist():
            idx = (k == j).nonzero().view(-1)
            if len(idx) < 2:   # BatchNorm in train mode needs two samples: draw one more and drop it
                out[idx] = torch.func.functional_call(net, params[j], (torch.cat([z[idx], z[idx]]),))[:1]
            else:
                out[idx] = torch.func.functional_call(net, params[j], (z[idx],))
        return out

    return sample


def buffered(source: NegativeSource, chunk: int) -> NegativeSource:
    """n -> the next n samples of `source`, which is called `chunk` samples at a time; each sample is used once. The
    adapted generators' BatchNorm then normalises over the chunk, not over the few samples of one step (stage 2
    takes 8 a step at batch 16); on the 2-core CPU one call of 128 costs 58 ms against 77 ms for sixteen calls of 8."""
    buf = None

    def sample(n: int) -> torch.Tensor:
        nonlocal buf
        while buf is None or len(buf) < n:
            new = source(max(chunk, n))
            buf = new if buf is None else torch.cat([buf, new])
        out, buf = buf[:n], buf[n:]
        return out

    return sample


JITTER = dict(rotate_deg=10.0, translate=0.08, scale=0.1)   # the random rotation, shift and zoom of a few images


def user_sampler(negatives: torch.Tensor, seed: int) -> NegativeSource:
    """n -> n of the user's few negatives, drawn with replacement, each randomly rotated, shifted and zoomed."""
    gen = torch.Generator().manual_seed(seed)

    def sample(n: int) -> torch.Tensor:
        x = negatives[torch.randint(len(negatives), (n,), generator=gen)]
        return random_affine(x, **JITTER, generator=gen)

    return sample


def repulsion_loss(G, theta_N: torch.Tensor, cfg: UnlearnConfig):
    """(repel, d0): repel(g) -> (the repulsion term on r = d / d0, logs) for any family's model `g` shaped like G;
    d0 = the distance of G itself from the adapted models theta_N (K, P)."""
    adapted = [unflatten(t, G) for t in theta_N]
    d0 = float(parameter_distance([p.detach() for p in G.parameters()], adapted))
    if d0 <= 0:
        raise ValueError("the adapted models equal the base generator (d0 = 0): stage 1 did not train")

    def repel(g):
        r = parameter_distance(list(g.parameters()), adapted) / d0
        term = repulsion(cfg.loss, r, cfg.gamma, cfg.el2_weight)
        return term, {"distance": r.detach(), "repulsion": term.detach()}

    return repel, d0


def anchored(extra_loss, latents: torch.Tensor, targets: torch.Tensor, weight: float, batch: int, seed: int,
             name: str = "anchor"):
    """extra_loss plus the anchor: g -> (extra + weight * mean (g(z) - target)^2 on `batch` random pairs of
    (latents, targets), logs with `name`). targets = the base's images of those latents (eval mode), g runs in
    the mode it is in (stage 2: train)."""
    gen = torch.Generator().manual_seed(seed)

    def loss(g):
        term, logs = extra_loss(g)
        idx = torch.randint(len(latents), (batch,), generator=gen)
        device = next(g.parameters()).device
        a = anchor_loss(g(latents[idx].to(device)), targets[idx].to(device))
        return term + weight * a, {**logs, name: a.detach()}

    return loss


def guided(C, target: int, weight: float, jitter: bool = False, seed: int = 0, temperature: float = 1.0,
           mix: torch.Tensor | None = None, mix_weight: float = 0.0, base=None, keep_weight: float = 0.0,
           keep_start: int = 0):
    """(images, latents) -> (weight * guide_loss(C(images) / temperature, target) + mix_weight * mix_loss(C(images),
    target, mix) + keep_weight * keep_loss(C(images), C(base(latents)), target), logs with "guide", "mix", "keep"): a
    frozen private copy of the classifier C (and of the base generator, for the keep), moved to the images' device at
    the first call, read once for every term. jitter: C sees each image randomly rotated, shifted and zoomed (JITTER),
    so a change that fools C at one exact position pays less. The keep acts from the keep_start-th call (G step) on."""
    C = inference_copy(C).requires_grad_(False)   # channels-last on the CPU: a G step 6 ms faster at batch 16
    if keep_weight > 0:
        if base is None:
            raise ValueError("keep_weight > 0 needs the base generator")
        base = inference_copy(base).requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    calls = 0

    def loss(images, latents=None):
        nonlocal calls
        calls += 1
        if jitter:
            images = random_affine(images, **JITTER, generator=gen)
        logits = C.to(images.device)(images)
        total, logs = 0.0, {}
        if weight > 0:
            g = guide_loss(logits / temperature, target)
            total, logs["guide"] = total + weight * g, g.detach()
        if mix_weight > 0:
            m = mix_loss(logits, target, mix)
            total, logs["mix"] = total + mix_weight * m, m.detach()
        if keep_weight > 0 and calls > keep_start:
            with torch.no_grad():   # the base's class probabilities on the same latents, as the metrics draw it
                p0 = C(base.to(latents.device)(latents)).softmax(1)
            k = keep_loss(logits, p0, target)
            total, logs["keep"] = total + keep_weight * k, k.detach()
        return total, logs

    return loss


def class_mix(C, images: torch.Tensor) -> torch.Tensor:
    """The images' class shares by the classifier's labels: (classes,) summing to 1 (stage 2's positives: the
    base generator's mix of the classes other than the target, feedback.class_quotas)."""
    probs = class_probabilities(C, images)   # atu.metrics: on a private inference copy, C itself left alone
    return class_histogram(probs.argmax(1), probs.shape[1])


def _mixed(pool: torch.Tensor, share: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """n latents: round(share * n) drawn from `pool` (with replacement; none from an empty pool), the rest from
    N(0, I)."""
    k = round(share * n) if len(pool) else 0
    picked = pool[torch.randint(len(pool), (k,), generator=gen)] if k else pool[:0]
    return torch.cat([picked, torch.randn(n - k, pool.shape[1], generator=gen)])


def mixed_latents(pool: torch.Tensor, share: float, seed: int):
    """n -> n latents: round(share * n) drawn from `pool` (with replacement), the rest from N(0, I)."""
    gen = torch.Generator().manual_seed(seed)
    return lambda n: _mixed(pool, share, n, gen)


def hard_latents(G, C, target: int, pool: torch.Tensor, share: float, every: int, seed: int, on_log=None):
    """mixed_latents on the latents of `pool` that G still draws as the target, re-read every `every` draws (G as
    it is then, in eval mode on a private copy; the whole pool each time, so a latent that turns back is drawn
    again). on_log(step, {"target_pool_left": n}) at each re-read."""
    gen, left, calls = torch.Generator().manual_seed(seed), pool, 0

    def draw(n: int) -> torch.Tensor:
        nonlocal left, calls
        if calls % every == 0:
            left = pool[classify(C, generate(G, pool)) == target]
            if on_log is not None:
                on_log(calls, {"step": calls, "target_pool_left": len(left)})
        calls += 1
        return _mixed(left, share, n, gen)

    return draw


def unlearn(G, D, positives: torch.Tensor, theta_N: torch.Tensor, cfg: UnlearnConfig, evaluate=None, on_log=None,
            negatives: torch.Tensor | None = None, positive_latents: torch.Tensor | None = None,
            target_latents: torch.Tensor | None = None, guide: tuple | None = None):
    """Returns atu.train.GANTrainResult; G_ema is the unlearned generator. theta_N: (K, P) flat vectors;
    `negatives` (the user's few, or the classifier's pool) are needed for neg_source "user" and "classifier";
    `positive_latents` (the base's latents of `positives`, same order) for anchor_weight > 0, `target_latents`
    (latents of the base's samples that show the feature) for cfg.target_latents > 0, `guide` = (classifier, target
    class) for cfg.guide_weight > 0."""
    G, D = copy.deepcopy(G), copy.deepcopy(D)
    repel, d0 = repulsion_loss(G, theta_N, cfg)
    if cfg.anchor_weight > 0:
        if positive_latents is None or len(positive_latents) != len(positives):
            raise ValueError("anchor_weight > 0 needs the positives' latents: pass unlearn(..., positive_latents=...)")
        repel = anchored(repel, positive_latents, positives, cfg.anchor_weight, cfg.anchor_batch, seed=cfg.seed + 23)
    tcfg = GANTrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr_g=cfg.lr, lr_d=cfg.lr_d or cfg.lr,
                          lr_schedule=cfg.lr_schedule, ema_beta=cfg.ema_beta, d_warmup=cfg.d_warmup,
                          g_bn_frozen=cfg.g_bn_frozen,
                          g_frozen=cfg.g_frozen, seed=cfg.seed, log_every=cfg.eval_every, neg_weight=cfg.neg_weight)
    source = None
    if cfg.neg_weight > 0 and cfg.neg_source == "adapted":
        source = buffered(adapted_sampler(G, theta_N, seed=cfg.seed + 17), inference_batch(G))
    elif cfg.neg_weight > 0:
        if negatives is None or len(negatives) == 0:
            raise ValueError(f'neg_source="{cfg.neg_source}" needs the negatives: pass them to unlearn(..., '
                             'negatives=...)')
        source = user_sampler(negatives, seed=cfg.seed + 17)
    g_latents = None
    if cfg.target_latents > 0:
        if target_latents is None or len(target_latents) == 0:
            raise ValueError("target_latents > 0 needs latents of the feature: pass unlearn(..., target_latents=...)")
        if cfg.target_refresh > 0:
            if guide is None:
                raise ValueError("target_refresh > 0 needs the classifier: pass unlearn(..., guide=(C, target))")
            g_latents = hard_latents(G, *guide, target_latents, cfg.target_latents, cfg.target_refresh,
                                     seed=cfg.seed + 29, on_log=on_log)
        else:
            g_latents = mixed_latents(target_latents, cfg.target_latents, seed=cfg.seed + 29)
    fake_loss = None
    if cfg.guide_weight > 0 or cfg.mix_weight > 0 or cfg.keep_weight > 0:
        if guide is None:
            raise ValueError("guide_weight, mix_weight or keep_weight > 0 needs the classifier: pass unlearn(..., "
                             "guide=(C, target))")
        mix = class_mix(guide[0], positives) if cfg.mix_weight > 0 else None
        fake_loss = guided(*guide, cfg.guide_weight, cfg.guide_jitter, seed=cfg.seed + 31,
                           temperature=cfg.guide_temperature, mix=mix, mix_weight=cfg.mix_weight, base=G,
                           keep_weight=cfg.keep_weight, keep_start=cfg.keep_start)
    res = train_gan(G, D, positives, tcfg, g_extra_loss=repel, evaluate=evaluate, on_log=on_log, desc="unlearn",
                    negatives=source, g_latents=g_latents, g_fake_loss=fake_loss)
    res.d0 = d0
    return res
