"""Where an unlearned MNIST generator's remaining target samples come from, and where the removed ones went.

    PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/residual.py MODEL_DIR TARGET [OUT.png]

On the shipped bank's first 10,000 latents, by both classifiers: how many samples are the target before and after,
how many of those after were the target before ("stayed") or another digit ("new"), and (training classifier)
the labels the removed ones took and the other digits' mix before and after (what collateral damage measures).
Then how the two classifiers' targets after overlap (both, the evaluator only: where G might fool the training
classifier). OUT.png: the first 32 samples still read as the target, before (top row) and after (bottom row);
OUT-evaluator-only.png: the same for the first 32 only the evaluator reads as the target."""
import sys

import torch

from atu.metrics import class_probabilities
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank, to_pil

model, t = sys.argv[1], int(sys.argv[2])
G0, G1 = load_generator("checkpoints/mnist-dcgan"), load_generator(model)
z = load_latent_bank("checkpoints/mnist-dcgan")[:10_000]
x0, x1 = generate(G0, z), generate(G1, z)
after = {}
for name in ("mnist-classifier", "mnist-classifier-b"):
    C = load_model(f"checkpoints/{name}")
    l0, l1 = class_probabilities(C, x0).argmax(1), class_probabilities(C, x1).argmax(1)
    after[name] = l1 == t
    was, now = l0 == t, l1 == t
    print(f"{name}: target before {int(was.sum())}, after {int(now.sum())} (stayed {int((was & now).sum())}, "
          f"new {int((~was & now).sum())})")
    if name == "mnist-classifier":
        print("  the removed ones became", torch.bincount(l1[was & ~now], minlength=10).tolist())
        for when, lab, keep in (("before", l0, ~was), ("after", l1, ~now)):
            h = torch.bincount(lab[keep], minlength=10).double()
            print(f"  the other digits' mix {when} (%)", [round(v, 1) for v in (100 * h / h.sum()).tolist()])
        idx = now.nonzero().flatten()[:32]
        if len(sys.argv) > 3 and len(idx):
            to_pil(torch.cat([x0[idx], x1[idx]]), nrow=len(idx)).save(sys.argv[3])
c, e = after["mnist-classifier"], after["mnist-classifier-b"]
print(f"target after by both {int((c & e).sum())}, the training classifier only {int((c & ~e).sum())}, "
      f"the evaluator only {int((e & ~c).sum())}")
idx = (e & ~c).nonzero().flatten()[:32]
if len(sys.argv) > 3 and len(idx):
    to_pil(torch.cat([x0[idx], x1[idx]]), nrow=len(idx)).save(sys.argv[3].replace(".png", "-evaluator-only.png"))
