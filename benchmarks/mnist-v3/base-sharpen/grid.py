"""The bank's first 64 latents drawn by each GAN folder given, side by side, a red frame where the training
classifier and the independent evaluator read a sample differently; prints how many of the 64 they part on.

    PYTHONPATH=$PWD python benchmarks/mnist-v3/base-sharpen/grid.py OUT.png FOLDER [FOLDER ...]
"""
import sys

from PIL import Image, ImageDraw

from atu.metrics import classify
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank, to_pil

z = load_latent_bank("checkpoints/mnist-dcgan")[:64]
C = load_model("checkpoints/mnist-classifier", kind="classifier")
B = load_model("checkpoints/mnist-classifier-b", kind="classifier")
panels = []
for path in sys.argv[2:]:
    x = generate(load_generator(path), z)
    c, b = classify(C, x), classify(B, x)
    img = to_pil(x, nrow=8).convert("RGB").resize((8 * 34 * 3, 8 * 34 * 3), 0)
    d = ImageDraw.Draw(img)
    for i in range(64):   # a red frame where the two classifiers disagree
        if c[i] != b[i]:
            r, q = divmod(i, 8)
            d.rectangle([q * 102 + 3, r * 102 + 3, q * 102 + 99, r * 102 + 99], outline=(255, 0, 0), width=3)
    print(path, "disagree on", int((c != b).sum()), "of 64")
    panels.append(img)
W = sum(p.width for p in panels) + 20 * (len(panels) - 1)
out = Image.new("RGB", (W, panels[0].height), (255, 255, 255))
xo = 0
for p in panels:
    out.paste(p, (xo, 0))
    xo += p.width + 20
out.save(sys.argv[1])
