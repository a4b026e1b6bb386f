"""The example run (examples/mnist-no-8) looked at beyond its 32-latent grid, for counting by eye (not blind): on the
bank's first 5,000 latents, before | after of
  example-removed-8s.png  the first 64 latents both classifiers called 8 before (are the eights gone to a person?)
  example-changed.png     the first 64 latents neither called 8 before whose label (the training classifier's)
                          changed (did the method draw new eights that the classifiers call something else?)
and the counts behind them. From the repository root: PYTHONPATH=$PWD python benchmarks/mnist/example_by_eye.py
"""
from pathlib import Path

import torch
from PIL import Image

import atu
from atu.metrics import classify
from atu.models import load_model
from atu.sampling import generate, load_latent_bank, to_pil

HERE = Path(__file__).parent
z = load_latent_bank("checkpoints/mnist-dcgan")[:5000]
G0, G1 = atu.load_generator("checkpoints/mnist-dcgan"), atu.load_generator("examples/mnist-no-8")
C = load_model("checkpoints/mnist-classifier", kind="classifier")
E = load_model("checkpoints/mnist-classifier-b", kind="classifier")
x0, x1 = generate(G0, z), generate(G1, z)
(l0, l1), (e0, e1) = (classify(C, x0), classify(C, x1)), (classify(E, x0), classify(E, x1))
was8 = ((l0 == 8) & (e0 == 8)).nonzero().view(-1)
changed = ((l0 != 8) & (e0 != 8) & (l1 != l0)).nonzero().view(-1)
print(f"8 by both before: {len(was8)}; 8 after by ours / the evaluator: {int((l1 == 8).sum())} / {int((e1 == 8).sum())}; "
      f"not 8 before and relabelled after: {len(changed)}, after-labels (ours) {torch.bincount(l1[changed], minlength=10).tolist()}")
for idx, name in ((was8, "example-removed-8s.png"), (changed, "example-changed.png")):
    a, b = to_pil(x0[idx[:64]], nrow=8), to_pil(x1[idx[:64]], nrow=8)
    out = Image.new(a.mode, (a.width * 2 + 10, a.height), 255)
    out.paste(a, (0, 0)), out.paste(b, (a.width + 10, 0))
    out.resize((out.width * 2, out.height * 2), Image.NEAREST).save(HERE / name)
    print(name, "after-labels (ours / evaluator):", l1[idx[:64]].tolist(), e1[idx[:64]].tolist())
