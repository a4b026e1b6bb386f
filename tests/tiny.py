"""Tiny models for seconds-long engine tests: a width-4 DCGAN and a deterministic 'classifier' that labels an
image by its mean brightness (so targets and positives exist without training anything)."""
from __future__ import annotations

import torch

from atu.models import DCGANDiscriminator, DCGANGenerator, HubModule
from atu.sampling import make_latent_bank, save_latent_bank


class MeanBucketClassifier(HubModule):
    """Class c when the image's mean brightness is nearest to centre c (10 centres spread over a tiny range)."""

    family = "test-mean-bucket"
    kind = "classifier"

    def __init__(self, num_classes: int = 10, lo: float = -0.02, hi: float = 0.02):
        super().__init__()
        self.input_range, self.num_classes = (-1.0, 1.0), num_classes
        self.register_buffer("centres", torch.linspace(lo, hi, num_classes))
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        # a trunk like a real classifier's (image -> features), unused by its labels: the fresh-D path starts a
        # discriminator from it (atu.models.FeatureDiscriminator)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 4, 4), torch.nn.LeakyReLU(0.2), torch.nn.Flatten())

    def features(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([m, x.std((1, 2, 3)), x.amax((1, 2, 3))], 1) + 0 * self.dummy

    def head(self, f):   # sharp logits, so that confident positives (p(target) < 0.01) exist
        spacing = (self.centres[1] - self.centres[0]).abs().clamp_min(1e-12)
        return -(f[:, :1] - self.centres[None]).abs() / spacing * 20

    def forward(self, x):
        return self.head(self.features(x))


def make_tiny_base(folder, seed: int = 0):
    """A base-model folder like checkpoints/mnist-dcgan (G, discriminator/, latent bank) and a classifier folder.
    The classifier's centres are set from G's own outputs so that every class occurs."""
    torch.manual_seed(seed)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    G.eval()
    bank = make_latent_bank(400, 8, 1)
    with torch.no_grad():
        means = G(bank).mean((1, 2, 3))
    qs = torch.quantile(means, torch.linspace(0.05, 0.95, 10))
    C = MeanBucketClassifier(10, float(qs[0]), float(qs[-1]))
    G.save_pretrained(folder / "gan")
    D.save_pretrained(folder / "gan" / "discriminator")
    save_latent_bank(bank, folder / "gan", 1)
    C.save_pretrained(folder / "clf")
    return folder / "gan", folder / "clf"


def make_tiny_ddpm_base(folder, seed: int = 0):
    """Like make_tiny_base, for the diffusion family: an untrained 2-level UNet sampled in 2 DDIM steps (seconds)
    and a classifier calibrated on its outputs."""
    from atu.diffusion import DDPMGenerator

    torch.manual_seed(seed)
    G = DDPMGenerator(1, 32, (8, 16), 1, norm_num_groups=4, sample_steps=2).eval()
    bank = make_latent_bank(200, G.latent_dim, 1)
    with torch.no_grad():
        means = G(bank).mean((1, 2, 3))
    qs = torch.quantile(means, torch.linspace(0.05, 0.95, 10))
    C = MeanBucketClassifier(10, float(qs[0]), float(qs[-1]))
    G.save_pretrained(folder / "ddpm")
    save_latent_bank(bank, folder / "ddpm", 1)
    C.save_pretrained(folder / "clf")
    return folder / "ddpm", folder / "clf"
