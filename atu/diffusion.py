"""The diffusion family (issue #17 part 2): a DDPM (diffusers' UNet2DModel + a noise schedule) as an atu generator.

A DDPM has no z in the GAN sense, but deterministic DDIM sampling (eta = 0) makes one: `G(z)` starts from the
initial noise z (flattened to `latent_dim` = C*H*W) and runs `sample_steps` DDIM steps. The same z always gives
the same image, so a fixed bank of initial noise plays the latent bank's role and every atu metric, grid and
comparison works unchanged. The parameters that stage 1 adapts and stage 2 repels are the UNet's.

Training is the denoising loss (epsilon prediction, t uniform): one Accelerate loop, `train_diffusion`, serves the
base model and both stages (an extra loss on the model: EWC in stage 1, the repulsion in stage 2; an optional,
bounded negative term in stage 2).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from .losses import bounded_negative
from .models import Generator
from .train import GANTrainResult, NegativeSource, _infinite, _quiet, accumulate, lr_schedule


class DDPMGenerator(Generator):
    """G(z) = DDIM sampling (eta 0, `sample_steps` steps) of a UNet2DModel from the initial noise z.

    The UNet has no attention (at 32x32 on a CPU, attention doubled the cost of a training step) and GroupNorm
    instead of BatchNorm, so a sample does not depend on the rest of its batch."""

    family = "ddpm"
    sample_chunk = 250   # samples atu.feedback draws at a time when it looks for negatives or positives (not 1,000)
    cpu_batch = 32       # atu.sampling.generate's batch on the CPU: 20% faster than 64-256 on the 2-core machine

    def __init__(self, channels: int = 1, image_size: int = 32, block_out_channels: tuple = (32, 64, 64),
                 layers_per_block: int = 1, norm_num_groups: int = 8, num_train_timesteps: int = 1000,
                 beta_schedule: str = "squaredcos_cap_v2", sample_steps: int = 20):
        from diffusers import DDPMScheduler, UNet2DModel

        super().__init__()
        self.latent_dim, self.image_shape = channels * image_size * image_size, (channels, image_size, image_size)
        n = len(block_out_channels)
        self.unet = UNet2DModel(sample_size=image_size, in_channels=channels, out_channels=channels,
                                block_out_channels=tuple(block_out_channels), layers_per_block=layers_per_block,
                                down_block_types=("DownBlock2D",) * n, up_block_types=("UpBlock2D",) * n,
                                norm_num_groups=norm_num_groups)
        self.scheduler = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule)
        self.sample_steps = sample_steps

    def sampler(self, steps: int | None = None):
        """The deterministic DDIM scheduler (eta 0) on this model's noise schedule, set to `steps` steps."""
        from diffusers import DDIMScheduler

        sched = DDIMScheduler.from_config(self.scheduler.config)
        sched.set_timesteps(steps or self.sample_steps)
        return sched

    def forward(self, z: torch.Tensor, steps: int | None = None, grad_steps: int = 0) -> torch.Tensor:
        """G(z): the deterministic DDIM sample of each noise z, in [-1, 1]. Under autograd the graph runs through
        every step, or with grad_steps k > 0 through the last k only (reward fine-tuning, atu.mnist.sampled_loss)."""
        return self._ddim(z, steps, grad_steps=grad_steps)[0]

    def _ddim(self, z: torch.Tensor, steps: int | None = None, record: bool = False, grad_steps: int = 0):
        """DDIM from z: (images, states, predictions, timesteps); with `record`, the state x_t before each step and
        the model's prediction there, stacked (N, S, C, H, W); else those two are None. grad_steps k > 0: only the
        last k steps build a graph (the ones before run without gradients: truncated backpropagation, DRaFT-K)."""
        x = z.reshape(z.shape[0], *self.image_shape)
        sched = self.sampler(steps)
        states, preds = [], []
        grad = torch.is_grad_enabled()
        for i, t in enumerate(sched.timesteps):
            with torch.set_grad_enabled(grad and not 0 < grad_steps < len(sched.timesteps) - i):
                eps = self.unet(x, t).sample
                if record:
                    states.append(x), preds.append(eps)
                x = sched.step(eps, t, x, eta=0.0).prev_sample
        if not record:
            return x.clamp(-1, 1), None, None, sched.timesteps
        return x.clamp(-1, 1), torch.stack(states, 1), torch.stack(preds, 1), sched.timesteps

    @torch.no_grad()
    def sampler_path(self, z: torch.Tensor, t_min: int = 0, batch_size: int | None = None,
                     t_max: int = 0) -> "SamplerPath":
        """The way the deterministic sampler goes from each noise in z to its image: the states it passes through at
        t_min <= t < t_max (t_max 0: every t >= t_min) and the model's predictions there (a SamplerPath, on the
        CPU). It runs as atu.sampling.generate does (a private eval copy, the same batches), so its images are
        generate(G, z)'s to the bit, and the model itself is left alone (the app's sessions share it)."""
        from .runtime import inference_batches

        net, batches = inference_batches(self, z, batch_size)
        parts = [net._ddim(zb, record=True) for zb in batches]
        ts = parts[0][3]
        keep = in_range(ts, t_min, t_max)
        return SamplerPath(torch.cat([p[0].cpu() for p in parts]).contiguous(),
                           torch.cat([p[1][:, keep].cpu() for p in parts]).contiguous(),
                           torch.cat([p[2][:, keep].cpu() for p in parts]).contiguous(), ts[keep].cpu())

    def noised(self, x0: torch.Tensor, generator: torch.Generator | None = None, t_min: int = 0, t_max: int = 0):
        """(x_t, t, eps): one t uniform in [t_min, t_max) (t_max 0 or past T = T) and one eps ~ N(0, I) per image
        (in that order from `generator`), x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps: what both training losses start
        from."""
        T = self.scheduler.config.num_train_timesteps
        t = torch.randint(t_min, min(t_max, T) if t_max else T, (x0.shape[0],), generator=generator)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        t = t.to(x0.device)
        return self.scheduler.add_noise(x0, noise, t), t, noise

    def denoising_loss(self, x0: torch.Tensor, generator: torch.Generator | None = None,
                       reduction: str = "mean", teacher: "DDPMGenerator | None" = None, t_min: int = 0,
                       teacher_t_max: int = 0, t_max: int = 0) -> torch.Tensor:
        """DDPM's simple loss: |eps - eps_theta(x_t, t)|^2 with t uniform and x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps.
        With a `teacher`, the target is the teacher's prediction eps_teacher(x_t, t) instead of eps (distillation:
        on images the teacher drew itself, eps would teach its own sampling errors back to it).
        teacher_t_max > 0: the teacher's prediction is the target only at t < teacher_t_max, the noise above it.
        t is drawn from [t_min, t_max) (t_min > 0: only the noisier steps, where the image's content is decided;
        t_max 0 = T). reduction "none" gives one value per image."""
        x_t, t, noise = self.noised(x0, generator, t_min, t_max)
        if teacher is not None:
            with torch.no_grad():
                taught = teacher.unet(x_t, t).sample
            noise = taught if teacher_t_max <= 0 else torch.where(
                (t < teacher_t_max).view(-1, *[1] * (x0.dim() - 1)), taught, noise)
        per = F.mse_loss(self.unet(x_t, t).sample, noise, reduction="none").flatten(1).mean(1)
        return per if reduction == "none" else per.mean()

    def redirect_loss(self, x_neg: torch.Tensor, positives: torch.Tensor, generator: torch.Generator | None = None,
                      t_min: int = 0, t_max: int = 0) -> torch.Tensor:
        """A negative term that redirects instead of repelling. A noised negative x_t = sqrt(a_t) x_neg +
        sqrt(1 - a_t) eps is given the noise eps' = (x_t - sqrt(a_t) x0') / sqrt(1 - a_t) that would have made it
        from x0' = posterior_mean(x_t, a_t, positives): the best denoiser of the positives alone puts it there, so the
        model learns to denoise the negative's states into the positives near them. (A random positive as x0'
        instead teaches the positives' mean, a blob of ink: on MNIST it turned every digit into an 8.) A plain
        regression, bounded below by 0 and needing no cap; t in [t_min, t_max) (t_max 0 = T)."""
        x_t, t, _ = self.noised(x_neg, generator, t_min, t_max)
        return self.redirect_loss_at(x_t, t, positives)

    def redirect_loss_at(self, x_t: torch.Tensor, t: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        """The redirect term at given states x_t (timesteps t): the target is the noise that would have made x_t from
        E[x0 | x_t] over the positives. redirect_loss gives it negatives noised afresh; UnlearnConfig.redirect_states
        "sampler" gives it the states the sampler passes through as the adapted models draw their samples."""
        a = self.scheduler.alphas_cumprod.to(x_t.device)[t].view(-1, *[1] * (x_t.dim() - 1))
        target = (x_t - a.sqrt() * posterior_mean(x_t, a, positives)) / (1 - a).sqrt()
        return F.mse_loss(self.unet(x_t, t).sample, target)

    def anchor_loss(self, x_t: torch.Tensor, t: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """|eps_theta(x_t, t) - target|^2 at given states: with the base's own predictions as the target, on the
        states its sampler passes through on its way to the positives, it holds those paths where they are."""
        return F.mse_loss(self.unet(x_t, t).sample, target)


def in_range(t: torch.Tensor, t_min: int, t_max: int) -> torch.Tensor:
    """Which timesteps lie in [t_min, t_max) (t_max 0: every t >= t_min): a term's range over the sampler's steps."""
    return (t >= t_min) & ((t < t_max) if t_max else torch.ones_like(t, dtype=torch.bool))


@dataclass
class SamplerPath:
    """Where the deterministic sampler went, for N noises: the final images (N, C, H, W), the states it passed
    through (N, S, C, H, W) at the timesteps `t` (S,) and the model's prediction at each (N, S, C, H, W)."""
    images: torch.Tensor
    states: torch.Tensor
    preds: torch.Tensor
    t: torch.Tensor

    @classmethod
    def cat(cls, paths: list["SamplerPath"]) -> "SamplerPath":
        return cls(*(torch.cat([getattr(p, f) for p in paths]) for f in ("images", "states", "preds")), paths[0].t)

    def __getitem__(self, index) -> "SamplerPath":
        """The paths of the noises at `index` (a tensor of positions or a mask), in that order."""
        return SamplerPath(self.images[index], self.states[index], self.preds[index], self.t)

    def draw(self, n: int, generator: torch.Generator):
        """n random (state, t, prediction) triples, each a random noise's random step."""
        i = torch.randint(self.states.shape[0], (n,), generator=generator)
        k = torch.randint(self.states.shape[1], (n,), generator=generator)
        return self.states[i, k], self.t[k], self.preds[i, k]


def posterior_mean(x_t: torch.Tensor, a: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """E[x0 | x_t] when x0 is one of `images` (uniform) and x_t = sqrt(a) x0 + sqrt(1 - a) eps: the images weighted by
    softmax_i(-|x_t - sqrt(a) x0_i|^2 / (2 (1 - a))), one row of weights per x_t (a: one alpha-bar per x_t, shaped to
    broadcast like x_t)."""
    a = a.flatten()[:, None]
    flat = images.flatten(1).to(x_t)
    d2 = ((x_t.flatten(1)[:, None, :] - a.sqrt()[:, :, None] * flat[None]) ** 2).sum(-1)
    w = torch.softmax(-d2 / (2 * (1 - a)), dim=1)
    return (w @ flat).view_as(x_t)


@dataclass
class DiffusionTrainConfig:
    steps: int = 5_000                # optimizer steps
    batch_size: int = 32              # per process; the real data are repeated if there are fewer images
    lr: float = 5e-4                  # AdamW learning rate (after the warm-up)
    warmup: int = 200                 # steps of linear learning-rate warm-up from 0
    lr_schedule: str = "constant"     # after the warm-up: "constant", or a name diffusers' optimization.get_scheduler
                                      #   knows ("linear", "cosine": decay to 0 at the last step)
    weight_decay: float = 0.0         # AdamW weight decay
    ema_beta: float = 0.999           # EMA of the model after every step (the one to sample from); 0 = no EMA
    grad_clip: float = 1.0            # max gradient norm (diffusers' training examples clip at 1)
    neg_weight: float = 0.0           # weight of the bounded negative term (stage 2): it raises the denoising
                                      #   loss on `negatives` up to neg_cap, never past it; 0 = off
    neg_cap: float = 0.0              # that bound, as a multiple of the base model's loss on the same negatives
                                      #   (measured at the start): atu.losses.bounded_negative
    neg_t_min: int = 0                # the negative term's timesteps are drawn from [neg_t_min, neg_t_max): raising
                                      #   the loss at the low-noise steps adds speckle to every image
    neg_t_max: int = 0                # ... and below neg_t_max (0 = T)
    redirect_weight: float = 0.0      # weight of the redirect term (stage 2): noised negatives are denoised into
                                      #   the positives near them (DDPMGenerator.redirect_loss on `real`; a plain
                                      #   regression, no cap); 0 = off
    redirect_t_min: int = 0           # the redirect term's timesteps are drawn from [redirect_t_min, redirect_t_max)
    redirect_t_max: int = 0           #   (redirect_t_max 0 = T)
    teacher_t_max: int = 0            # with a teacher: its predictions are the target at t < teacher_t_max only,
                                      #   the noise above; 0 = the teacher at every t
    anchor_weight: float = 0.0        # weight of the anchor term (stage 2): on states the base's sampler passes
                                      #   through on its way to the positives, the base's own predictions are the
                                      #   target (DDPMGenerator.anchor_loss on `anchor`); 0 = off
    seed: int = 0                     # seeds t, noise, data order
    log_every: int = 50               # steps between logged losses (and `evaluate` calls)
    cpu: bool = False                 # force the CPU even when a GPU is visible


def train_diffusion(model: DDPMGenerator, real: torch.Tensor, cfg: DiffusionTrainConfig,
                    extra_loss: Callable[[nn.Module], tuple[torch.Tensor, dict]] | None = None,
                    evaluate: Callable[[nn.Module], dict] | None = None,
                    on_log: Callable[[int, dict], None] | None = None,
                    negatives: NegativeSource | None = None, desc: str = "ddpm",
                    ema_init: nn.Module | None = None, teacher: DDPMGenerator | None = None,
                    redirect_at: Callable[[int], tuple] | None = None,
                    anchor: Callable[[int], tuple] | None = None) -> GANTrainResult:
    """Train `model` (in place) with the denoising loss on `real` (N, C, H, W in [-1, 1]).

    extra_loss(model) -> (loss, logs) is added (EWC, repulsion). negatives(n) -> n images whose denoising loss the
    model is pushed to raise, weighted by cfg.neg_weight and bounded (atu.losses.bounded_negative, cap = cfg.neg_cap
    times the starting model's loss on them): without a bound, raising a loss diverges. evaluate(ema) and on_log(step,
    logs) as in atu.train.train_gan; ema_init starts the EMA from another model (going on from a saved run) instead of
    a copy of `model`; with a `teacher`, the loss on `real` targets the teacher's predictions (DDPMGenerator.
    denoising_loss). redirect_at(n) -> (x_t, t): the states the redirect term acts on, instead of `negatives` noised
    afresh; anchor(n) -> (x_t, t, target) for the anchor term (cfg.anchor_weight). Returns a GANTrainResult (G = the
    raw model, G_ema = its EMA, D = None)."""
    if len(real) == 0:
        raise ValueError("train_diffusion needs at least one real image")
    t0 = time.time()
    accelerator = Accelerator(cpu=cfg.cpu)
    set_seed(cfg.seed)
    ema = copy.deepcopy(ema_init if ema_init is not None else model).eval().requires_grad_(False)
    model.train()
    positives = real   # redirect_loss's pool: the real images themselves, before any repeat
    min_len = cfg.batch_size * accelerator.num_processes
    if len(real) < min_len:
        real = real.repeat(-(-min_len // len(real)), 1, 1, 1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(real), batch_size=cfg.batch_size,
                                         shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(cfg.seed))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    sched = (torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(cfg.warmup, 1)))
             if cfg.lr_schedule == "constant" else lr_schedule(opt, cfg.lr_schedule, cfg.warmup, cfg.steps))
    model, opt, loader = accelerator.prepare(model, opt, loader)   # the schedule outside prepare (atu.train)
    raw = accelerator.unwrap_model(model)
    ema.to(accelerator.device)
    gen = torch.Generator().manual_seed(cfg.seed + 1000 * accelerator.process_index + 1)
    use_neg = negatives is not None and (cfg.neg_weight > 0 or cfg.redirect_weight > 0)   # either term
    cap = None
    if use_neg and cfg.neg_weight > 0:   # the raise's bound: neg_cap x the starting model's loss on fixed negatives
        with torch.no_grad():
            x_neg0 = negatives(max(cfg.batch_size, 64)).to(accelerator.device)
            cap = cfg.neg_cap * float(raw.denoising_loss(x_neg0, torch.Generator().manual_seed(cfg.seed),
                                                         t_min=cfg.neg_t_min, t_max=cfg.neg_t_max))

    history, batches = [], _infinite(loader)
    bar = tqdm(range(1, cfg.steps + 1), desc=desc, disable=_quiet(accelerator), leave=False)
    for step in bar:
        (x,) = next(batches)
        loss = raw.denoising_loss(x, gen, teacher=teacher, teacher_t_max=cfg.teacher_t_max)
        total, logs = loss, {}
        if use_neg:
            n_neg = max(x.shape[0] // 2, 1)
            with torch.no_grad():
                x_neg = negatives(n_neg).to(accelerator.device)
            if cfg.redirect_weight > 0:
                if redirect_at is not None:
                    x_t, t_red = (v.to(accelerator.device) for v in redirect_at(n_neg))
                    loss_red = raw.redirect_loss_at(x_t, t_red, positives)
                else:
                    loss_red = raw.redirect_loss(x_neg, positives, gen, t_min=cfg.redirect_t_min,
                                                 t_max=cfg.redirect_t_max)
                total = total + cfg.redirect_weight * loss_red
                logs["loss_redirect"] = loss_red.detach()
            if cfg.neg_weight > 0:
                loss_neg = raw.denoising_loss(x_neg, gen, t_min=cfg.neg_t_min, t_max=cfg.neg_t_max)
                total = total + cfg.neg_weight * bounded_negative(loss_neg, cap)
                logs["loss_neg"] = loss_neg.detach()
        if anchor is not None and cfg.anchor_weight > 0:
            loss_anchor = raw.anchor_loss(*(v.to(accelerator.device) for v in anchor(x.shape[0])))
            total = total + cfg.anchor_weight * loss_anchor
            logs["loss_anchor"] = loss_anchor.detach()
        if extra_loss is not None:
            extra, extra_logs = extra_loss(raw)
            total, logs = total + extra, {**logs, **extra_logs}
        opt.zero_grad(set_to_none=True)
        accelerator.backward(total)
        if cfg.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        if cfg.ema_beta > 0:
            accumulate(ema, raw, cfg.ema_beta)
        else:
            ema.load_state_dict(raw.state_dict())
        if step % cfg.log_every == 0 or step == cfg.steps:
            row = {"step": step, "loss": float(loss.detach()), "lr": opt.param_groups[0]["lr"],
                   **{k: float(v) for k, v in logs.items()}}
            if evaluate is not None:
                row.update(evaluate(ema))
            history.append(row)
            bar.set_postfix({k: round(v, 4) for k, v in row.items() if k != "step"})
            if on_log is not None:
                on_log(step, row)
    accelerator.wait_for_everyone()
    out = accelerator.unwrap_model(model).cpu().eval()
    accelerator.free_memory()
    return GANTrainResult(out, None, ema.cpu().eval(), history, time.time() - t0)


# --------------------------------------------------------------------------------------------------------------
# The method on a DDPM: stage 1 (adapt to the negatives under EWC) and stage 2 (positives + repulsion + a bounded
# negative term), with the GAN's configs (atu.adapt.AdaptConfig, atu.unlearn.UnlearnConfig) and its repulsion.


def fisher_denoising(model: DDPMGenerator, images: torch.Tensor, seed: int = 0) -> list[torch.Tensor]:
    """Diagonal Fisher of the denoising loss: the mean over `images` (the base model's own samples: its training
    data are not at hand) of each image's squared gradient, one random t and noise per image (same order as
    model.parameters())."""
    params = list(model.parameters())
    fisher = [torch.zeros_like(p) for p in params]
    gen = torch.Generator().manual_seed(seed)
    for x in images:
        grads = torch.autograd.grad(model.denoising_loss(x[None], gen), params, allow_unused=True)
        for f, g in zip(fisher, grads):
            if g is not None:
                f += g.detach() ** 2
    return [f / len(images) for f in fisher]


def adapt_one_ddpm(model: DDPMGenerator, negatives: torch.Tensor, cfg, seed: int, fisher, on_log=None):
    """Stage 1 for one adapted model: a copy fine-tuned with the denoising loss on the few negatives plus the EWC
    penalty (cfg: atu.adapt.AdaptConfig; raw weights, no EMA, like the GAN's adapted models)."""
    from .ewc import ewc_penalty

    model = copy.deepcopy(model)
    anchor = [p.detach().clone() for p in model.parameters()]

    def ewc(m):
        pen = ewc_penalty(list(m.parameters()), anchor, fisher, cfg.ewc_lambda)
        return pen, {"ewc": pen.detach()}

    tcfg = DiffusionTrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup=0, ema_beta=0.0,
                                seed=seed, log_every=max(cfg.steps // 10, 1))
    return train_diffusion(model, negatives, tcfg, extra_loss=ewc, on_log=on_log, desc=f"adapt seed {seed}")


NEG_POOL_ROUNDS = 8   # unlearn.neg_pool_min_p: the adapted models draw at most this x neg_pool samples for the pool


def filtered_pool(draw: NegativeSource, keep, n: int, rounds: int = NEG_POOL_ROUNDS) -> tuple[torch.Tensor, int]:
    """(n samples of `draw` that `keep` (images -> bool mask) passes, how many were drawn): drawn n at a time, in
    order, at most `rounds` times; fewer than n kept after that is an error that says what to change."""
    kept, drawn = [], 0
    while sum(len(k) for k in kept) < n and drawn < rounds * n:
        x = draw(n)
        kept.append(x[keep(x)])
        drawn += n
    pool = torch.cat(kept)[:n]
    if len(pool) < n:
        raise ValueError(f"the adapted models drew {len(pool)} samples of the feature in {drawn} "
                         "(unlearn.neg_pool_min_p keeps only those): lower neg_pool_min_p or neg_pool, or adapt "
                         "longer (adapt.steps)")
    return pool, drawn


def pool_sampler(pool: torch.Tensor, seed: int) -> NegativeSource:
    """n -> n images drawn with replacement from a fixed pool."""
    gen = torch.Generator().manual_seed(seed)
    return lambda n: pool[torch.randint(len(pool), (n,), generator=gen)]


def adapted_paths(model: DDPMGenerator, theta_N: torch.Tensor, n: int, seed: int, t_min: int = 0,
                  t_max: int = 0) -> SamplerPath:
    """The sampler paths of the K adapted models (theta_N, flat, in memory) from n noises (split evenly, the first
    ones one more), at t_min <= t < t_max (t_max 0 = T): their images are samples of the feature, their states
    those the sampler takes to it."""
    from torch.nn.utils import vector_to_parameters

    gen, net, paths = torch.Generator().manual_seed(seed), copy.deepcopy(model), []
    for k, flat in enumerate(theta_N):
        vector_to_parameters(flat, net.parameters())
        m = n // len(theta_N) + (k < n % len(theta_N))
        if m:
            paths.append(net.sampler_path(torch.randn(m, net.latent_dim, generator=gen), t_min=t_min, t_max=t_max))
    return SamplerPath.cat(paths)


def base_paths(model: DDPMGenerator, n: int, seed: int) -> SamplerPath:
    """The base's sampler paths (every step) from n noises of their own seed, whatever they draw (the target too):
    the anchor's paths with unlearn.anchor_paths "any"."""
    gen = torch.Generator().manual_seed(seed)
    return SamplerPath.cat([model.sampler_path(torch.randn(min(model.sample_chunk, n - i), model.latent_dim,
                                                           generator=gen))
                            for i in range(0, n, model.sample_chunk)])


class PathRecorder:
    """Sampling that keeps the way there: called on latents, it returns the model's samples (generate(G, z)'s to the
    bit) and keeps the sampler's path to each, up to `max_bytes` of paths. Given to atu.feedback.pick_positives as
    its `sample`, it draws stage 2's positives and the anchor's paths in one pass (session 37 drew ~450 more noises
    through the sampler for the anchor)."""

    def __init__(self, model: DDPMGenerator, max_bytes: int = 1 << 30):   # 1 GiB: ~6,500 paths of 20 steps at 32x32
        self.model, self.max_bytes, self.kept, self.paths = model, max_bytes, 0, []

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        path = self.model.sampler_path(z)
        size = path.states.nbytes + path.preds.nbytes
        if self.kept + size <= self.max_bytes:
            self.paths.append((z.cpu(), path))
            self.kept += size
        return path.images

    def paths_of(self, z: torch.Tensor) -> SamplerPath:
        """The paths to the samples of these latents (rows of the latents it was called on), in their order; a
        latent past `max_bytes` is sampled again (in a batch of its own: equal to a recorded path to ~1e-5, not to
        the bit)."""
        z, key = z.cpu(), lambda row: row.numpy().tobytes()
        where = {key(row): k for k, row in enumerate(z)}   # latent -> its place in z
        parts, order, found = [], [], set()
        for zs, path in self.paths:   # each recorded draw gives the rows of z it holds, before anything is joined
            rows = [(j, where[key(row)]) for j, row in enumerate(zs) if key(row) in where]
            if rows:
                parts.append(path[torch.tensor([j for j, _ in rows])]), order.extend(k for _, k in rows)
                found.update(k for _, k in rows)
        missing = [k for k in range(len(z)) if k not in found]
        if missing:
            parts.append(self.model.sampler_path(z[missing])), order.extend(missing)
        return SamplerPath.cat(parts)[torch.argsort(torch.tensor(order))]


def anchor_path(model: DDPMGenerator, cfg, seed: int, positive_latents: torch.Tensor,
                recorded: SamplerPath | None = None) -> SamplerPath:
    """The paths the anchor holds (cfg: atu.unlearn.UnlearnConfig). With anchor_paths "positives": the base's paths
    to `anchor_pool` of stage 2's own positives (a random subset by `seed`, as they come sorted by class; all of them
    when there are fewer), taken from `recorded` (their paths, in the positives' order, from the pass that drew
    them: PathRecorder) or else sampled again from their latents (to ~1e-5 the same). With "any": the base's paths
    from anchor_pool noises of `seed`, the target's among them."""
    if cfg.anchor_paths == "any":
        return base_paths(model, cfg.anchor_pool, seed)
    pick = torch.randperm(len(positive_latents), generator=torch.Generator().manual_seed(seed))[:cfg.anchor_pool]
    return recorded[pick] if recorded is not None else model.sampler_path(positive_latents[pick])


def unlearn_ddpm(model: DDPMGenerator, positives: torch.Tensor, theta_N: torch.Tensor, cfg, evaluate=None,
                 on_log=None, negatives: torch.Tensor | None = None,
                 anchor_path: SamplerPath | None = None, pool_keep=None) -> GANTrainResult:
    """Stage 2 on a DDPM (cfg: atu.unlearn.UnlearnConfig): the denoising loss on the positives (with pos_target
    "base", towards the base model's own predictions on them, not the noise), the repulsion from
    theta_N on the same normalised distance as the GAN's, and, with neg_weight > 0, the bounded negative term (with
    redirect_weight > 0, the redirect term) on
    a pool of `neg_pool` samples of the adapted models (neg_source "adapted") or on the given negatives ("user",
    "classifier"); with redirect_states "sampler", the pool is the adapted models' images and the redirect acts on
    the states their sampler passed through (adapted_paths); with anchor_weight > 0, the anchor holds `anchor_path`
    (atu.diffusion.anchor_path). With cfg.neg_pool_min_p > 0, `pool_keep` (images -> bool mask, the training
    classifier's p(feature) >= it) filters the adapted models' pool (filtered_pool). Returns a GANTrainResult
    (G_ema: the unlearned model) with .d0 and .neg_pool_draws (samples the adapted models drew for the pool)."""
    from .unlearn import adapted_sampler, repulsion_loss

    model = copy.deepcopy(model)
    repel, d0 = repulsion_loss(model, theta_N, cfg)
    source, redirect_at, anchor, pool_draws = None, None, None, None
    if cfg.neg_pool_min_p > 0 and pool_keep is None:
        raise ValueError("neg_pool_min_p > 0 needs the classifier's filter: pass unlearn_ddpm(..., pool_keep=...)")
    if cfg.uses_negatives:
        if cfg.neg_source == "adapted" and cfg.redirect_states == "sampler":
            ts = model.sampler().timesteps   # checked before the adapted models draw their paths (minutes)
            if not in_range(ts, cfg.redirect_t_min, cfg.redirect_t_max).any():
                raise ValueError(f"redirect_states=\"sampler\": the sampler takes no step at {cfg.redirect_t_min} <= t "
                                 f"< {cfg.redirect_t_max or 'T'} (its timesteps: {ts.tolist()}); "
                                 "widen the range or use redirect_states=\"noised\"")
            path = adapted_paths(model, theta_N, cfg.neg_pool, seed=cfg.seed + 17, t_min=cfg.redirect_t_min,
                                 t_max=cfg.redirect_t_max)
            pool, gen_states = path.images, torch.Generator().manual_seed(cfg.seed + 19)
            redirect_at = lambda n: path.draw(n, gen_states)[:2]   # noqa: E731
        elif cfg.neg_source == "adapted":
            with torch.no_grad():
                draw = adapted_sampler(model, theta_N, seed=cfg.seed + 17)
                if cfg.neg_pool_min_p > 0:
                    pool, pool_draws = filtered_pool(draw, pool_keep, cfg.neg_pool)
                else:
                    pool, pool_draws = draw(cfg.neg_pool), cfg.neg_pool
        elif negatives is None or len(negatives) == 0:
            raise ValueError(f'neg_source="{cfg.neg_source}" needs the negatives: pass them to unlearn_ddpm(..., '
                             'negatives=...)')
        else:
            pool = negatives
        source = pool_sampler(pool, seed=cfg.seed + 18)
    if cfg.anchor_weight > 0:
        if anchor_path is None:
            raise ValueError("anchor_weight > 0 needs the paths it holds: pass unlearn_ddpm(..., "
                             "anchor_path=anchor_path(...))")
        gen_anchor = torch.Generator().manual_seed(cfg.seed + 20)
        anchor = lambda n: anchor_path.draw(n, gen_anchor)   # noqa: E731
    tcfg = DiffusionTrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup=0,
                                lr_schedule=cfg.lr_schedule, ema_beta=cfg.ema_beta, neg_weight=cfg.neg_weight,
                                neg_cap=cfg.neg_cap,
                                neg_t_min=cfg.neg_t_min, neg_t_max=cfg.neg_t_max,
                                redirect_weight=cfg.redirect_weight, redirect_t_min=cfg.redirect_t_min,
                                redirect_t_max=cfg.redirect_t_max,
                                teacher_t_max=cfg.pos_teacher_t_max, anchor_weight=cfg.anchor_weight,
                                seed=cfg.seed, log_every=cfg.eval_every)
    teacher = copy.deepcopy(model).eval().requires_grad_(False) if cfg.pos_target == "base" else None
    res = train_diffusion(model, positives, tcfg, extra_loss=repel, evaluate=evaluate, on_log=on_log,
                          negatives=source, desc="unlearn", teacher=teacher, redirect_at=redirect_at, anchor=anchor)
    res.d0, res.neg_pool_draws = d0, pool_draws
    return res
