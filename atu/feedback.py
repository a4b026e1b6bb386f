"""Choosing the negatives (samples showing the feature) and positives (samples without it).

A classifier stands in for the user here (as in the paper); the app also passes negatives the user clicked in
a gallery or uploaded, which go through `check_negatives`.
"""
from __future__ import annotations

import torch

from .metrics import classify
from .sampling import generate, make_latent_bank

MIN_NEGATIVES = 4   # below this, stage 1 has too little to adapt to: refuse with a clear message


def sample_by_label(G, C, target: int, n: int, want_target: bool, seed: int, chunk: int = 1000,
                    max_draws: int = 50_000) -> torch.Tensor:
    """Up to n samples of G that C labels as `target` (want_target=True) or as anything else, drawn from latents
    seeded by `seed`. Returns fewer if `max_draws` samples do not hold n."""
    found, drawn, i = [], 0, 0
    while sum(len(f) for f in found) < n and drawn < max_draws:
        z = make_latent_bank(chunk, G.latent_dim, seed * 100_003 + i)
        x = generate(G, z)
        keep = (classify(C, x) == target) == want_target
        found.append(x[keep])
        drawn, i = drawn + chunk, i + 1
    return torch.cat(found)[:n]


def pick_negatives(G, C, target: int, n: int, seed: int = 0) -> torch.Tensor:
    """n samples of G that the classifier labels as the target (the few-shot negatives)."""
    neg = sample_by_label(G, C, target, n, True, seed)
    check_negatives(neg, G)
    return neg


def pick_positives(G, C, target: int, n: int, seed: int = 0) -> torch.Tensor:
    """n samples of G that the classifier labels as anything but the target (stage 2's real data)."""
    pos = sample_by_label(G, C, target, n, False, seed)
    if len(pos) < n // 2:
        raise ValueError(f"only {len(pos)} positives found for target {target}: the classifier labels almost "
                         "every sample as the target")
    return pos


def check_negatives(negatives: torch.Tensor, G) -> torch.Tensor:
    """Refuse too few negatives or images of the wrong shape/range, with what to do next."""
    n = 0 if negatives is None else len(negatives)
    if n < MIN_NEGATIVES:
        raise ValueError(f"need at least {MIN_NEGATIVES} negatives, got {n}: select more samples that show the "
                         "feature (gallery or upload), or let the classifier pick them")
    if tuple(negatives.shape[1:]) != tuple(G.image_shape):
        raise ValueError(f"negatives have shape {tuple(negatives.shape[1:])}, the generator makes "
                         f"{tuple(G.image_shape)}: resize them first (atu.data.image_to_tensor does)")
    if negatives.min() < -1.001 or negatives.max() > 1.001:
        raise ValueError("negatives must be in [-1, 1] like the generator's output")
    return negatives
