"""A GAN stage 2 with no adversarial term (session 26, a lab script): G regresses, on latents the base draws as the
target, onto chosen positives (the DDPM's redirect in a GAN's form), and the anchor holds the positives' own
latents at the base's images. Needs `unlearn.anchor_weight` > 0 (the term rides on atu.unlearn.anchored). The
adversarial loss comes off as in noadv.py, which this script runs.

    REDIRECT=nearest|balanced REDIRECT_WEIGHT=10 REDIRECT_DRAWS=10000 PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/redirect.py \
        DIGIT SEED unlearn.anchor_weight=10 unlearn.guide_weight=0 [section.field=value ...]

nearest: each target sample goes to its nearest positive in pixels. balanced: to the nearest positive of a class
assigned so that the removed samples land in the base's mix of the other classes (an assignment of the target
samples to class slots, sized by that mix, by least total squared distance; scipy's linear_sum_assignment)."""
import os
import runpy
import sys
from pathlib import Path

import torch
from scipy.optimize import linear_sum_assignment

import atu.unlearn
from atu.feedback import class_quotas
from atu.metrics import class_probabilities
from atu.models import load_generator, load_model
from atu.sampling import generate

MODE, WEIGHT = os.environ.get("REDIRECT", "nearest"), float(os.environ.get("REDIRECT_WEIGHT", "10"))
DRAWS = int(os.environ.get("REDIRECT_DRAWS", "10000"))   # base samples drawn to find the target's latents
TARGET, SEED = int(sys.argv[1]), int(sys.argv[2])


def redirect_pairs(positives: torch.Tensor):
    """(latents the base draws as the target, their regression targets among the positives)."""
    G, C = load_generator("checkpoints/mnist-dcgan").eval(), load_model("checkpoints/mnist-classifier")
    z = torch.randn(DRAWS, G.latent_dim, generator=torch.Generator().manual_seed(SEED + 4242))
    with torch.no_grad():
        x = generate(G, z)
    p = class_probabilities(C, x)
    mine = (p.argmax(1) == TARGET) & (p[:, TARGET] > 0.9)
    z8, x8 = z[mine], x[mine].flatten(1)
    pos, pos_labels = positives.flatten(1), class_probabilities(C, positives).argmax(1)
    d = torch.cdist(x8, pos) ** 2                                   # (n8, n_pos)
    if MODE == "nearest":
        return z8, positives[d.argmin(1)]
    quota = class_quotas(torch.bincount(p.argmax(1), minlength=p.shape[1]), TARGET, len(z8))
    best = torch.stack([d[:, pos_labels == c].min(1).values if (pos_labels == c).any() else
                        torch.full((len(z8),), float("inf")) for c in range(p.shape[1])], 1)   # (n8, classes)
    slots = torch.cat([torch.full((int(q),), c) for c, q in enumerate(quota)])
    rows, cols = linear_sum_assignment(best[:, slots].numpy())
    chosen = torch.empty(len(z8), dtype=torch.long)
    for i, s in zip(rows, cols):
        c = int(slots[s])
        idx = (pos_labels == c).nonzero().flatten()
        chosen[i] = idx[d[i, idx].argmin()]
    print(f"redirect {MODE}: {len(z8)} target latents -> classes "
          f"{torch.bincount(pos_labels[chosen], minlength=p.shape[1]).tolist()}", file=sys.stderr)
    return z8, positives[chosen]


anchored = atu.unlearn.anchored


def redirected(extra_loss, latents, targets, weight, batch, seed):
    """atu.unlearn.anchored (the anchor on the positives' latents) plus the regression of the target latents, the
    same squared pixel error on other pairs, logged as "redirect"."""
    with_anchor = anchored(extra_loss, latents, targets, weight, batch, seed)
    z8, t8 = redirect_pairs(targets)
    return anchored(with_anchor, z8, t8, WEIGHT, batch, seed + 1, name="redirect")


atu.unlearn.anchored = redirected
sys.argv = ["noadv.py", *sys.argv[1:]]
runpy.run_path(str(Path(__file__).with_name("noadv.py")), run_name="__main__")
