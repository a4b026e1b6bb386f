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
from .losses import REPULSIONS, parameter_distance, repulsion
from .train import GANTrainConfig, train_gan


@dataclass
class UnlearnConfig:
    loss: str = "el2"                 # repulsion: "el2" | "nl2" | "il2" | "none" (plain fine-tuning on positives)
    gamma: float = 1.0                # dimensionless strength on r = d / d0 (alpha for el2)
    el2_weight: float = 30.0          # w of el2 (the loss scale of the EL2 term); w = 1 was too weak to beat "none"
    steps: int = 600                  # GAN steps
    batch_size: int = 32
    lr: float = 2e-4                  # Adam lr of G
    lr_d: float = 0.0                 # Adam lr of D; 0 = same as lr
    ema_beta: float = 0.99            # EMA of G (the evaluated model); 0.99 ~ 70-step half-life for short runs
    n_positives: int = 5000           # positives (G's samples without the feature) used as real data
    d_warmup: int = 0                 # D-only steps first (set by the pipeline when D is fresh, see AdaptConfig)
    g_bn_frozen: bool = False         # G's BatchNorm keeps its running statistics (atu.train.GANTrainConfig)
    g_frozen: str = ""                # G parameters kept fixed, by name prefix (atu.train.GANTrainConfig)
    eval_every: int = 50              # steps between negative-rate probes on a small latent bank
    eval_latents: int = 500           # size of that probe bank
    seed: int = 0

    def __post_init__(self):
        if self.loss not in REPULSIONS:
            raise ValueError(f"loss must be one of {REPULSIONS}, got {self.loss!r}")


def unlearn(G, D, positives: torch.Tensor, theta_N: torch.Tensor, cfg: UnlearnConfig, evaluate=None, on_log=None):
    """Returns atu.train.GANTrainResult; G_ema is the unlearned generator. theta_N: (K, P) flat vectors."""
    G, D = copy.deepcopy(G), copy.deepcopy(D)
    adapted = [unflatten(t, G) for t in theta_N]
    d0 = float(parameter_distance([p.detach() for p in G.parameters()], adapted))
    if d0 <= 0:
        raise ValueError("the adapted models equal the base generator (d0 = 0): stage 1 did not train")

    def repel(g):
        r = parameter_distance(list(g.parameters()), adapted) / d0
        term = repulsion(cfg.loss, r, cfg.gamma, cfg.el2_weight)
        return term, {"distance": r.detach(), "repulsion": term.detach()}

    tcfg = GANTrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr_g=cfg.lr, lr_d=cfg.lr_d or cfg.lr,
                          ema_beta=cfg.ema_beta, d_warmup=cfg.d_warmup, g_bn_frozen=cfg.g_bn_frozen,
                          g_frozen=cfg.g_frozen, seed=cfg.seed, log_every=cfg.eval_every)
    res = train_gan(G, D, positives, tcfg, g_extra_loss=repel, evaluate=evaluate, on_log=on_log, desc="unlearn")
    res.d0 = d0
    return res
