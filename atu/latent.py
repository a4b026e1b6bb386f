"""Latent steering: a non-adversarial stage 2 (after Moon et al., "Feature unlearning for pre-trained GANs and
VAEs", AAAI 2024), offered beside the paper's adversarial one.

1. The feature's direction in latent space: the classifier labels `n_samples` of the base G's samples; d is the
   unit vector from the mean latent of the confident positives (no feature) to that of the confident negatives
   (the feature): `feature_direction`.
2. The target: the base G on a steered latent, G(steer(z)), where steer clamps z's component along d at
   t = (the positives' mean component) - margin: a latent that leans towards the feature is moved back onto the
   side without it, and one that does not is left alone (`steer`).
3. G is fine-tuned to draw G_base(steer(z)) from z itself (mean squared error on fresh latents every step), so
   the unlearned model is a plain generator of the same architecture. No discriminator, no adapted models: the
   classifier only labels the base G's samples once, and the evaluator never enters.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass

import torch

from .metrics import class_probabilities
from .sampling import generate


@dataclass
class LatentConfig:
    n_samples: int = 4000          # base G samples the classifier labels to find the feature's direction
    confident: float = 0.9         # p(feature) above this = has it; below 1 - this = has it not (the rest: unused)
    margin: float = 0.5            # clamp level: the no-feature side's mean component minus this (latent std units)
    mode: str = "set"              # "set": every latent's component along d is set to the level (a linear map of z:
                                   #   G's first layer takes most of it exactly, edit_first_layer); "clamp": only
                                   #   latents above the level move to it (nonlinear: 300 steps of fine-tuning
                                   #   left most headwear in place, README "Faces")
    steps: int = 300               # fine-tuning steps of G towards G_base(steer(z))
    batch_size: int = 16
    lr: float = 2e-4               # Adam (betas 0.5, 0.999, as the GAN stages)
    ema_beta: float = 0.99         # EMA of G (the returned model), as stage 2
    eval_every: int = 25           # steps between negative-rate probes
    seed: int = 0


def feature_direction(z_feature: torch.Tensor, z_without: torch.Tensor, margin: float) -> tuple[torch.Tensor, float]:
    """(d, t): the unit direction from the mean latent without the feature to the mean latent with it, and the
    clamp level t = mean component of the latents without it along d, minus `margin`."""
    if len(z_feature) < 2 or len(z_without) < 2:
        raise ValueError(f"need at least 2 latents with and 2 without the feature, got {len(z_feature)} and "
                         f"{len(z_without)}: the classifier found too few")
    d = z_feature.mean(0) - z_without.mean(0)
    d = d / d.norm()
    return d, float((z_without @ d).mean()) - margin


def steer(z: torch.Tensor, d: torch.Tensor, t: float, mode: str = "clamp") -> torch.Tensor:
    """z with its component along the unit vector d clamped to at most t (z - relu(z.d - t) d), or set to t."""
    if mode not in ("clamp", "set"):
        raise ValueError(f"mode must be 'clamp' or 'set', got {mode!r}")
    excess = z @ d - t
    return z - (torch.relu(excess) if mode == "clamp" else excess)[:, None] * d


def edit_first_layer(G, d: torch.Tensor, t: float):
    """A copy of a DCGAN generator whose first layer reads z as if its component along d were t: the transposed
    conv on the 1x1 latent is linear, W(z) = sum_i z_i W_i, so W' = W (I - d d^T) drops the component exactly;
    the constant t W(d) it should add back is a (channels, 4, 4) map that a bias-free conv cannot hold: its
    per-channel mean goes into the next BatchNorm's running mean, and the spatial rest is left to fine-tuning
    (latent_unlearn starts from this copy). Returns None for a generator of another layout."""
    net = getattr(G, "net", None)
    if not (isinstance(net, torch.nn.Sequential) and isinstance(net[0], torch.nn.ConvTranspose2d)
            and net[0].bias is None and isinstance(net[1], torch.nn.BatchNorm2d)):
        return None
    G2 = copy.deepcopy(G)
    with torch.no_grad():
        W = G2.net[0].weight                                    # (latent_dim, channels, 4, 4)
        along = torch.einsum("i,icxy->cxy", d, W)               # W(d)
        W.sub_(d[:, None, None, None] * along)                  # W (I - d d^T)
        G2.net[1].running_mean.sub_(t * along.mean((1, 2)))     # + t W(d), its per-channel mean
    return G2


def find_direction(G, C, target: int, cfg: LatentConfig) -> tuple[torch.Tensor, float, dict]:
    """feature_direction from the classifier's confident labels of cfg.n_samples base samples (seeded)."""
    z = torch.randn(cfg.n_samples, G.latent_dim, generator=torch.Generator().manual_seed(cfg.seed + 10))
    p = class_probabilities(C, generate(G, z))[:, target]
    has, hasnt = z[p > cfg.confident], z[p < 1 - cfg.confident]
    d, t = feature_direction(has, hasnt, cfg.margin)
    return d, t, {"n_samples": cfg.n_samples, "n_feature": len(has), "n_without": len(hasnt), "t": t,
                  "steered_share": float((z @ d > t).float().mean())}


def latent_unlearn(G, d: torch.Tensor, t: float, cfg: LatentConfig, evaluate=None, on_log=None):
    """Fine-tune a copy of G so that G'(z) ~ G(steer(z, d, t)); returns (EMA of G', history rows)."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    accelerator = Accelerator(cpu=True)
    torch.manual_seed(cfg.seed)
    G_base = copy.deepcopy(G).eval().requires_grad_(False)
    start = (edit_first_layer(G, d, t) if cfg.mode == "set" else None) or G   # "set": most of the way in closed form
    G_train = copy.deepcopy(start).requires_grad_(True)
    G_train.eval()      # BatchNorm keeps its running statistics, so G' and G_base normalise alike
    G_ema = copy.deepcopy(start).eval().requires_grad_(False)
    opt = torch.optim.Adam(G_train.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    G_train, opt = accelerator.prepare(G_train, opt)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    history = []
    bar = tqdm(range(1, cfg.steps + 1), desc="latent steering", leave=False,
               disable=bool(os.environ.get("TQDM_DISABLE")))
    for step in bar:
        z = torch.randn(cfg.batch_size, G.latent_dim, generator=gen)
        with torch.no_grad():
            target = G_base(steer(z, d, t, cfg.mode))
        loss = torch.nn.functional.mse_loss(G_train(z), target)
        opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opt.step()
        with torch.no_grad():
            for pe, pt in zip(G_ema.parameters(), accelerator.unwrap_model(G_train).parameters()):
                pe.lerp_(pt, 1 - cfg.ema_beta)
            for be, bt in zip(G_ema.buffers(), accelerator.unwrap_model(G_train).buffers()):
                be.copy_(bt)
        row = {"step": step, "latent_mse": float(loss.detach())}
        if evaluate is not None and (step % cfg.eval_every == 0 or step == cfg.steps):
            row.update(evaluate(G_ema))
        history.append(row)
        if on_log is not None:
            on_log(step, row)
    return G_ema, history
