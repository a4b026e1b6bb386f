"""What a generator retrained from scratch without digit D still draws that the classifiers call D: on the benchmark's
5,056 bank latents, the samples the training classifier or the evaluator labels D (first 48), and the first 64 samples;
and the Ret-FID of doing nothing (the base against the retrained model, as the benchmark's Ret-FID column measures).
  PYTHONPATH=$PWD python benchmarks/mnist/retrained_digit.py DIR D > benchmarks/mnist/retrainedD.txt
DIR: the benchmark's --retrained-dir (the model is DIR/D). Writes retrainedD-called-D.png and retrainedD-samples.png
here and prints the counts."""
import sys
from pathlib import Path

import torch
from PIL import Image

import atu
from atu.metrics import classify, fid
from atu.models import load_model
from atu.sampling import generate, load_latent_bank, to_pil

HERE = Path(__file__).parent
D = int(sys.argv[2])
z = load_latent_bank("checkpoints/mnist-dcgan")[:5056]
G = atu.load_generator(Path(sys.argv[1]) / str(D))
C = load_model("checkpoints/mnist-classifier", kind="classifier")
E = load_model("checkpoints/mnist-classifier-b", kind="classifier")
x = generate(G, z)
c, e = classify(C, x), classify(E, x)
print(f"of {len(z)}: {D} by the training classifier {int((c == D).sum())}, by the evaluator {int((e == D).sum())}, "
      f"by both {int(((c == D) & (e == D)).sum())}; digits by the training classifier {torch.bincount(c, minlength=10).tolist()}")
print(f"Ret-FID of the base (no unlearning): {fid(x, generate(atu.load_generator('checkpoints/mnist-dcgan'), z), C)['fid']:.2f}")
idx = ((c == D) | (e == D)).nonzero().view(-1)[:48]
print("(training classifier, evaluator) labels of the tiles shown:", list(zip(c[idx].tolist(), e[idx].tolist())))
for name, imgs, scale in ((f"retrained{D}-called-{D}.png", x[idx], 3), (f"retrained{D}-samples.png", x[:64], 2)):
    img = to_pil(imgs, nrow=8)
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(HERE / name)
