"""How a co-classifier changes what stage 2's training paths read (session 28).

    PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/agree.py checkpoints/mnist-classifier-c

On the base's 10,000 bank samples: how often each pair of readers agrees (A = the training classifier, B = the
independent evaluator, C = the co-classifier, A+C = the two as stage 2 reads them, models.ClassifierEnsemble), and,
of the samples B reads as 8 or 9, how many each training-side reader gives p(digit) < 0.01: those can pass the
confident-positive filter and be shown to stage 2 as real digits without the target. Held-out accuracy too."""
import sys

import torch

from atu.data import mnist_split
from atu.metrics import agreement, class_probabilities
from atu.models import ClassifierEnsemble, load_generator, load_model
from atu.sampling import generate, load_latent_bank

torch.set_num_threads(1)
x = generate(load_generator("checkpoints/mnist-dcgan"), load_latent_bank("checkpoints/mnist-dcgan"))
xh, yh = mnist_split("heldout")
readers = {k: load_model(v, kind="classifier") for k, v in
           {"A": "checkpoints/mnist-classifier", "B": "checkpoints/mnist-classifier-b", "C": sys.argv[1]}.items()}
readers["A+C"] = ClassifierEnsemble([readers["A"], readers["C"]])
P = {k: class_probabilities(r, x) for k, r in readers.items()}
L = {k: p.argmax(1) for k, p in P.items()}
for k, r in readers.items():
    print(f"{k}: held-out accuracy {float((class_probabilities(r, xh).argmax(1) == yh).float().mean()):.4f}")
for a, b in (("A", "B"), ("C", "B"), ("A+C", "B"), ("A", "C")):
    print(f"{a} and {b} agree on {agreement(L[a], L[b]):.2%} of the base's samples")
for t in (8, 9):
    by_b = L["B"] == t
    for k in ("A", "C", "A+C"):
        print(f"{t}: of the {int(by_b.sum())} samples B reads as {t}, {k} reads {int((L[k][by_b] == t).sum())} as {t} "
              f"and gives {int((P[k][by_b, t] < 0.01).sum())} p({t}) < 0.01")
