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


def random_cutout(x: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """DiffAugment's cutout (Zhao et al. 2020): each image gets one square of side `ratio` x its size, centred at a
    uniformly drawn pixel (clipped at the border), set to 0 (mid-grey in [-1, 1], never confused with a stroke or
    the background). A mask product, so gradients flow to the uncut pixels."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (b, 1, 1), generator=generator).to(x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=generator).to(x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1) - (cy - ch // 2)
    xs = torch.arange(w, device=x.device).view(1, 1, w) - (cx - cw // 2)
    cut = (ys >= 0) & (ys < ch) & (xs >= 0) & (xs < cw)
    return x * (~cut).unsqueeze(1).to(x.dtype)
