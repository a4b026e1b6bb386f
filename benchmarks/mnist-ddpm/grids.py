"""Before/after grids of models the benchmark saved (`python -m atu.bench mnist-ddpm ... --save-models DIR`), on the
bank's first 32 latents, each labelled by both classifiers (lab script, issue #17). Run from the repository root:

    PYTHONPATH=. python benchmarks/mnist-ddpm/grids.py checkpoints/mnist-ddpm runs/s11/models/digit4-s1/el2 out.png
"""
import sys
from atu import catalog
from atu.models import load_generator, load_model
from atu.metrics import classify
from atu.sampling import generate, load_latent_bank, side_by_side

base, after, out = sys.argv[1:4]
G, G_after = load_generator(base), load_generator(after)
lat = load_latent_bank(base)[:32]
xb, xa = generate(G, lat), generate(G_after, lat)   # drawn once: for the grid and for both classifiers
side_by_side(xb, xa).save(out)
m = catalog.BASE_MODELS["mnist-ddpm"]
for name in (m.features["digit 0"].classifier, m.evaluator):
    c = load_model(f"checkpoints/{name}", kind="classifier")
    print(f"{after} by {name}: before {''.join(map(str, classify(c, xb).tolist()))}")
    print(f"{after} by {name}: after  {''.join(map(str, classify(c, xa).tolist()))}")
