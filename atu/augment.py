"""Per-sample random affine augmentation, differentiable in the images (affine_grid + grid_sample).

Used to train the classifier (rotations, shifts, zoom) and, with translation only, as a DiffAugment-style
augmentation of both real and fake images when a GAN trains on a few images (stage 1: few negatives).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, rotate_deg: float = 0.0, translate: float = 0.0, scale: float = 0.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image gets its own rotation in [-rotate_deg, rotate_deg], shift in [-translate, translate] (fraction
    of the size) and zoom in [1 - scale, 1 + scale]; the border is filled with the background (-1)."""
    b = x.shape[0]

    def u(lim):  # uniform in [-lim, lim], drawn on the CPU so a seed gives the same draw on every device
        return ((torch.rand(b, generator=generator) * 2 - 1) * lim).to(x.device)

    ang = u(math.radians(rotate_deg))
    s = 1 + u(scale)
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack([torch.stack([cos, -sin, u(2 * translate)], 1),
                         torch.stack([sin, cos, u(2 * translate)], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # grid_sample pads with 0; shift so that the padding is the background value -1
    return F.grid_sample(x + 1, grid, padding_mode="zeros", align_corners=False) - 1
