"""A base-GAN recipe tried on these CPU cores (session 27, issue #13): the DCGAN generator with its latent space cut
into K cells, each with its own learned code added to z before the first layer, so that G can draw separate
digits without passing through in-between scribbles (the base's samples that the two classifiers read two ways).

The cell of z is fixed by z itself: the argmax of z against K fixed random unit directions (cells of about equal
mass), so latents stay N(0, I) and the latent bank, stage 1 and stage 2 work unchanged; G is smooth inside a cell
and jumps at its borders. Runs `python -m atu train-gan` with this generator (CELLS=K, default 32; CELLS=0 trains
the plain DCGAN through the same script, the baseline at the same budget; CELL_SCALE=s starts the codes at s times
N(0, 1), default 1):

    CELLS=32 PYTHONPATH=$PWD python benchmarks/mnist-v3/base-cells/cells.py train-gan --out DIR [train-gan options]

The saved generator's family is "dcgan-cells": load it with this module imported (lab only, not in the package)."""
import os
import sys

import torch
from torch import nn

import atu.mnist
from atu.cli import main
from atu.models import DCGANDiscriminator, DCGANGenerator


class CellDCGANGenerator(DCGANGenerator):
    family = "dcgan-cells"

    def __init__(self, latent_dim: int = 64, channels: int = 1, image_size: int = 32, width: int = 32,
                 cells: int = 32):
        super().__init__(latent_dim, channels, image_size, width)
        dirs = torch.randn(cells, latent_dim, generator=torch.Generator().manual_seed(0))
        self.register_buffer("cell_dirs", dirs / dirs.norm(dim=1, keepdim=True))
        self.cell_codes = nn.Parameter(torch.randn(cells, latent_dim) * float(os.environ.get("CELL_SCALE", "1")))

    def cell(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.cell_dirs.T).argmax(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return super().forward(z + self.cell_codes[self.cell(z)])


def new_gan(cfg):
    cells = int(os.environ.get("CELLS", "32"))
    G = (CellDCGANGenerator(cfg.latent_dim, 1, 32, cfg.width, cells=cells) if cells
         else DCGANGenerator(cfg.latent_dim, 1, 32, cfg.width))
    return G, DCGANDiscriminator(1, 32, cfg.d_width or cfg.width, spectral_norm=cfg.d_spectral_norm)


if __name__ == "__main__":
    atu.mnist.new_gan = new_gan
    sys.exit(main(sys.argv[1:]))
