"""The first 32 of the shipped bank's latents that the base draws as DIGIT (by the training classifier), one row for
the base and one for each MODEL on the same latents, with both classifiers' labels of each row:

    PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/target_grid.py DIGIT OUT.png MODEL_DIR [MODEL_DIR ...]"""
import sys

import torch

from atu.metrics import classify
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank, to_pil

t, out, models = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
z = load_latent_bank("checkpoints/mnist-dcgan")[:5056]
x0 = generate(load_generator("checkpoints/mnist-dcgan"), z)
C, E = load_model("checkpoints/mnist-classifier"), load_model("checkpoints/mnist-classifier-b")
idx = (classify(C, x0) == t).nonzero().flatten()[:32]
rows = [x0[idx]] + [generate(load_generator(m), z[idx]) for m in models]
for name, x in zip(["base", *models], rows):
    print(f"{name}: training classifier {''.join(map(str, classify(C, x).tolist()))}, "
          f"evaluator {''.join(map(str, classify(E, x).tolist()))}")
to_pil(torch.cat(rows), nrow=len(idx)).save(out)
