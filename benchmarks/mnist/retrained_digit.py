"""What a generator retrained from scratch without 8 still draws that the classifiers call 8: on the benchmark's
5,056 bank latents, the samples the training classifier or the evaluator labels 8 (first 48), and the first 64 samples;
and the Ret-FID of doing nothing (the base against the retrained model, as the benchmark's Ret-FID column measures).
  PYTHONPATH=$PWD python benchmarks/mnist/retrained_eights.py DIR   # DIR: --retrained-dir's folder for class 8
writes retrained8-eights.png and retrained8-samples.png here and prints the counts."""
import sys
from pathlib import Path

import torch
from PIL import Image

import atu
from atu.metrics import classify, fid
from atu.models import load_model
from atu.sampling import generate, load_latent_bank, to_pil

HERE = Path(__file__).parent
z = load_latent_bank("checkpoints/mnist-dcgan")[:5056]
G = atu.load_generator(Path(sys.argv[1]) / "8")
C = load_model("checkpoints/mnist-classifier", kind="classifier")
E = load_model("checkpoints/mnist-classifier-b", kind="classifier")
with torch.no_grad():
    x = generate(G, z)
c, e = classify(C, x), classify(E, x)
print(f"of {len(z)}: 8 by the training classifier {int((c == 8).sum())}, by the evaluator {int((e == 8).sum())}, "
      f"by both {int(((c == 8) & (e == 8)).sum())}; digits by the training classifier {torch.bincount(c, minlength=10).tolist()}")
print(f"Ret-FID of the base (no unlearning): {fid(x, generate(atu.load_generator('checkpoints/mnist-dcgan'), z), C)['fid']:.2f}")
idx = ((c == 8) | (e == 8)).nonzero().view(-1)[:48]
print("(training classifier, evaluator) labels of the tiles shown:", list(zip(c[idx].tolist(), e[idx].tolist())))
for name, imgs, scale in (("retrained8-eights.png", x[idx], 3), ("retrained8-samples.png", x[:64], 2)):
    img = to_pil(imgs, nrow=8)
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(HERE / name)
