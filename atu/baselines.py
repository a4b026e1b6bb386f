"""Baselines that go through the same metrics: extrapolation in parameter space (no training) and retraining
from scratch on the real training digits without the class (needs the data: the gold standard)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch.nn.utils import vector_to_parameters

from .adapt import flatten
from .data import mnist_split
from .models import DCGANDiscriminator, load_generator
from .train import GANTrainConfig, train_gan


def extrapolate(G, theta_N: torch.Tensor, g: float):
    """theta = theta_N + g (theta_G - theta_N), written as theta_G + (g - 1)(theta_G - theta_N) so that g = 1
    returns theta_G exactly. theta_N: (P,) or (K, P) (then their mean). Buffers (BN statistics) are G's."""
    theta_G = flatten(G)
    tn = theta_N.mean(0) if theta_N.dim() == 2 else theta_N
    out = copy.deepcopy(G).eval()
    vector_to_parameters(theta_G + (g - 1) * (theta_G - tn), out.parameters())
    return out


def retrain(model_dir: str, target: int, steps: int | None = None, seed: int = 0):
    """Train the base model's architecture from scratch with its own schedule (train_config.json) on the real
    training digits without `target`. Returns GANTrainResult (use .G_ema)."""
    base = load_generator(model_dir)
    run_cfg = json.loads((Path(model_dir) / "train_config.json").read_text())
    if run_cfg.get("init") or run_cfg.get("sharpen_weight"):
        raise ValueError(f"{model_dir} was not trained by one plain train-gan run (its last run went on from "
                         f"{run_cfg.get('init') or 'nothing'}, sharpen_weight {run_cfg.get('sharpen_weight', 0)}): "
                         "retraining it from scratch would need every run replayed without the class, which "
                         "atu.baselines.retrain does not do; pass --retrain '' to the benchmark")
    tcfg = GANTrainConfig(**dict(run_cfg["train"], seed=seed, **({"steps": steps} if steps else {})))
    x, _ = mnist_split("train", exclude_class=target)
    torch.manual_seed(seed)
    G = type(base)(**{k: v for k, v in base._hub_mixin_config.items() if k not in ("family", "kind")})
    D = DCGANDiscriminator(G.image_shape[0], G.image_shape[1], run_cfg.get("d_width") or run_cfg.get("width", 32),
                           spectral_norm=run_cfg.get("d_spectral_norm", False))
    return train_gan(G, D, x, tcfg, desc=f"retrain without {target}")
