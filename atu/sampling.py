"""Fixed latent banks, generation in batches, and image grids: every comparison uses the same latents."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from .runtime import inference_batches

LATENT_BANK_FILE = "latent_bank.safetensors"


def make_latent_bank(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """n standard-normal latents drawn on the CPU from `seed`: identical on every machine."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def save_latent_bank(latents: torch.Tensor, folder: str | os.PathLike, seed: int) -> Path:
    path = Path(folder) / LATENT_BANK_FILE
    save_file({"latents": latents.contiguous()}, str(path), metadata={"seed": str(seed)})
    return path


def load_latent_bank(folder: str | os.PathLike) -> torch.Tensor:
    path = Path(folder) / LATENT_BANK_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the base model folder ships its latent bank "
                                f"(python -m atu train-gan writes it)")
    return load_file(str(path))["latents"]


@torch.no_grad()
def generate(G: torch.nn.Module, latents: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """G(z) for every latent, in eval mode (on a private copy: G itself is not touched), on G's device; returns
    CPU images in [-1, 1]."""
    net, batches = inference_batches(G, latents, batch_size)
    return torch.cat([net(z).cpu() for z in batches]).contiguous()


def to_pil(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> Image.Image:
    """A grid (or a single image) of images in [-1, 1] as a PIL image."""
    from torchvision.utils import make_grid

    if images.dim() == 3:
        images = images[None]
    grid = make_grid((images.clamp(-1, 1) + 1) / 2, nrow=nrow, padding=padding, pad_value=1.0)
    arr = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 or images.shape[1] == 1 else arr)


def sample_grid(G: torch.nn.Module, latents: torch.Tensor, nrow: int = 8) -> Image.Image:
    """G's images on the given latents as one grid."""
    return to_pil(generate(G, latents), nrow=nrow)


def before_after_grid(G_before, G_after, latents: torch.Tensor, nrow: int = 8, gap: int = 12) -> Image.Image:
    """Two grids on the same latents, side by side (before | after)."""
    return side_by_side(generate(G_before, latents), generate(G_after, latents), nrow, gap)


def side_by_side(images_before: torch.Tensor, images_after: torch.Tensor, nrow: int = 8, gap: int = 12) -> Image.Image:
    """before_after_grid of images already drawn (in [-1, 1], the same latents in the same order)."""
    a, b = to_pil(images_before, nrow=nrow), to_pil(images_after, nrow=nrow)
    out = Image.new(a.mode, (a.width + gap + b.width, max(a.height, b.height)), 255 if a.mode == "L" else (255,) * 3)
    out.paste(a, (0, 0))
    out.paste(b, (a.width + gap, 0))
    return out
