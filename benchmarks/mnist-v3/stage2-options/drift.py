"""How much of an unlearned MNIST generator's collateral damage is the other digits changing label (drift), and how
much is where the removed ones landed.

    PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/drift.py MODEL_DIR TARGET

On the shipped bank's first 5,056 latents (the benchmark's), by the training classifier: the collateral damage, the
same distance counted on the samples that were not the target before only (the drift, without the removed ones), the
labels the removed ones took, the label changes of the rest as a from -> to matrix (rows: before), and how many of
the rest change by how sure the classifier was of the base's sample (ambiguous samples or confident ones)."""
import sys

import torch

from atu.metrics import class_probabilities, collateral_damage, others_changed
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank

model, t = sys.argv[1], int(sys.argv[2])
G0, G1 = load_generator("checkpoints/mnist-dcgan"), load_generator(model)
z = load_latent_bank("checkpoints/mnist-dcgan")[:5056]
C = load_model("checkpoints/mnist-classifier")
p0, p1 = (class_probabilities(C, generate(G, z)) for G in (G0, G1))
l0, l1 = p0.argmax(1), p1.argmax(1)
rest = l0 != t
print(f"collateral {collateral_damage(l0, l1, t, 10):.4f}")
drift = collateral_damage(l0[rest], l1[rest], t, 10)   # the same distance, the removed ones left out
print(f"drift (the samples that were not {t} before only) {drift:.4f}")
print(f"others changed {others_changed(l0, l1, t):.4f}")
print("the removed ones became", torch.bincount(l1[~rest & (l1 != t)], minlength=10).tolist())
print("label changes of the rest (rows: before, columns: after)")
print(torch.bincount(10 * l0[rest] + l1[rest], minlength=100).view(10, 10))
top = p0.max(1).values
changed = (l1 != l0) & rest
for lo, hi in ((0, 0.6), (0.6, 0.9), (0.9, 0.99), (0.99, 1.01)):
    m = rest & (top >= lo) & (top < hi)
    print(f"base top probability in [{lo}, {min(hi, 1)}): {int(m.sum())} samples, {float(changed[m].float().mean()):.3f} "
          f"changed, {float((changed & m).sum() / changed.sum()):.3f} of all the changes")
