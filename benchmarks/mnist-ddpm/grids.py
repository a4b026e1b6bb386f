"""Before/after grids of models the benchmark saved (`python -m atu.bench mnist-ddpm ... --save-models DIR`), on the
bank's first 32 latents, each labelled by both classifiers (lab script, issue #17). Run from the repository root:

    PYTHONPATH=. python benchmarks/mnist-ddpm/grids.py checkpoints/mnist-ddpm runs/s11/models/digit4-s1/el2 out.png
"""
import sys
import torch
from atu.models import load_generator, load_model
from atu.metrics import classify
from atu.sampling import before_after_grid, load_latent_bank

base, after, out = sys.argv[1:4]
G, G_after = load_generator(base), load_generator(after)
lat = load_latent_bank(base)[:32]
before_after_grid(G, G_after, lat).save(out)
C, E = load_model("checkpoints/mnist-classifier", kind="classifier"), load_model("checkpoints/mnist-classifier-b",
                                                                                  kind="classifier")
with torch.no_grad():
    xb, xa = G(lat), G_after(lat)
for name, c in (("C", C), ("B", E)):
    print(f"{after} by {name}: before {''.join(map(str, classify(c, xb).tolist()))}")
    print(f"{after} by {name}: after  {''.join(map(str, classify(c, xa).tolist()))}")
