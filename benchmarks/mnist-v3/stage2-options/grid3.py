"""Base | the default | MODEL on the bank's first 32 latents, a row each, and both classifiers' labels (first 32) and
eights (first 64). The default is examples/mnist-no-8 unless DEFAULT_DIR names another run of it (session 29: a
one-core run of the same digit and seed, so that the two rows differ only by MODEL's change).

    PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/grid3.py MODEL_DIR OUT.png [DEFAULT_DIR]
"""
import sys

import torch

from atu.metrics import class_probabilities
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank, to_pil

default = sys.argv[3] if len(sys.argv) > 3 else "examples/mnist-no-8"
z = load_latent_bank("checkpoints/mnist-dcgan")[:64]
Gs = [load_generator(p) for p in ("checkpoints/mnist-dcgan", default, sys.argv[1])]
xs = [generate(G, z) for G in Gs]
for name in ("mnist-classifier", "mnist-classifier-b"):
    C = load_model(f"checkpoints/{name}")
    for lab, x in zip(("base", "default", "model"), xs):
        y = class_probabilities(C, x).argmax(1)
        print(name, lab, "".join(map(str, y[:32].tolist())), "| eights in 64:", int((y == 8).sum()))
to_pil(torch.cat([x[:32] for x in xs]), nrow=32).save(sys.argv[2])
