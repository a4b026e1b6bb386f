"""Is the shipped GAN's ambiguity in the tails of its latent distribution? Its base bars (FID against the held-out
digits, class mix, agreement of the two classifiers) on the 10,000 bank latents scaled by psi (the truncation
trick: psi < 1 draws nearer the mode). One JSON line per psi; output in truncation.jsonl.

    PYTHONPATH=$PWD python benchmarks/mnist-v3/truncation.py > benchmarks/mnist-v3/truncation.jsonl
"""
import json

import torch

from atu.mnist import measure_base_samples, mnist_split
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank

torch.set_num_threads(1)
G = load_generator("checkpoints/mnist-dcgan").eval()
z = load_latent_bank("checkpoints/mnist-dcgan")
C, B = load_model("checkpoints/mnist-classifier"), load_model("checkpoints/mnist-classifier-b")
xh, _ = mnist_split("heldout")
for psi in [1.0, 0.9, 0.8, 0.7, 0.6]:
    with torch.no_grad():
        m = measure_base_samples(generate(G, z * psi), C, xh, B)
    print(json.dumps({"psi": psi, "fid": round(m["fid"], 2), "agreement": round(m["classifier_agreement"], 4),
                      "class_fraction_min": m["class_fraction_min"], "class_fraction_max": m["class_fraction_max"],
                      "class_fractions": m["class_fractions"]}), flush=True)
