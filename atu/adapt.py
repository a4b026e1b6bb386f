"""Stage 1, negative adaptation (method.md): K copies of (G, D) fine-tuned as a GAN whose real data are the
few negatives, with an EWC penalty that keeps G near the base wherever D's logit is sensitive.

The result theta_N is K flat parameter vectors held in memory (nothing is reloaded from disk per step).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .ewc import ewc_penalty, fisher_diagonal
from .train import GANTrainConfig, train_gan


@dataclass
class AdaptConfig:
    K: int = 1                        # adapted models, each from its own seed. One is enough now that stage 2's D
                                      #   samples it as a negative source: K = 2 removed no more (README "Stage 1")
    steps: int = 150                  # GAN steps per adapted model (purity 0.75 on digit 8: README "Stage 1")
    batch_size: int = 16              # the negatives are repeated (and shifted by augment) to fill a batch
    lr: float = 5e-4                  # Adam lr of G and D (2e-4 left the adapted models too impure)
    ewc_lambda: float = 10.0          # lambda of (lambda/2) sum F (theta - theta_G)^2. Our Fisher (sum ~1.7e4 over
                                      #   0.3M parameters) is far larger than StyleGAN2's, so the official 5e8 would
                                      #   freeze G; lambda = 1e3 already held purity at 0.21 (README "Stage 1")
    fisher_samples: int = 32          # generated samples for the Fisher (method.md)
    augment_translate: float = 0.125  # DiffAugment-style random shift of real and fake for D (few-shot D)
    d_warmup: int = 0                 # D-only steps first; the pipeline sets RunConfig.fresh_d_warmup when the base
                                      #   model ships no discriminator (a fresh D)
    seed: int = 0


def adapt_one(G, D, negatives: torch.Tensor, cfg: AdaptConfig, seed: int, fisher=None, on_log=None):
    """One adapted generator (returned as a module, raw weights: EMA off so that it reflects the short run)."""
    G, D = copy.deepcopy(G), copy.deepcopy(D)
    anchor = [p.detach().clone() for p in G.parameters()]
    if fisher is None:
        fisher = fisher_diagonal(G, D, cfg.fisher_samples, seed=cfg.seed)

    def ewc(g):
        pen = ewc_penalty(list(g.parameters()), anchor, fisher, cfg.ewc_lambda)
        return pen, {"ewc": pen.detach()}

    tcfg = GANTrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr_g=cfg.lr, lr_d=cfg.lr, ema_beta=0.0,
                          augment_translate=cfg.augment_translate, d_warmup=cfg.d_warmup, seed=seed,
                          log_every=max(cfg.steps // 10, 1))
    return train_gan(G, D, negatives, tcfg, g_extra_loss=ewc, on_log=on_log, desc=f"adapt seed {seed}")


def flatten(G) -> torch.Tensor:
    """G's parameters as one flat vector (a copy)."""
    return torch.cat([p.detach().reshape(-1) for p in G.parameters()])   # any memory layout (not view(-1))


def unflatten(flat: torch.Tensor, like) -> list[torch.Tensor]:
    """Views of a flat vector shaped like `like`'s parameters (no copy)."""
    out, i = [], 0
    for p in like.parameters():
        out.append(flat[i:i + p.numel()].view_as(p))
        i += p.numel()
    return out
