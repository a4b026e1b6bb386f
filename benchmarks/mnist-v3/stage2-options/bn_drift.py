"""How far the base G's labels move when only its BatchNorm running statistics are re-estimated the way stage 2
updates them (600 train-mode forwards at batch 16, 32 or 128, momentum 0.1), with no weight changed: the share of
stage 2's drift that G's BatchNorm alone could explain (docs/benchmark-mnist.md, session 25).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mnist-v3/stage2-options/bn_drift.py 8"""
import copy
import sys

import torch

from atu.metrics import class_probabilities, collateral_damage, others_changed
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank

t = int(sys.argv[1])
G0 = load_generator("checkpoints/mnist-dcgan").eval()
z = load_latent_bank("checkpoints/mnist-dcgan")[:5056]
C = load_model("checkpoints/mnist-classifier")
l0 = class_probabilities(C, generate(G0, z)).argmax(1)
for bs in (16, 32, 128):
    G = copy.deepcopy(G0).train()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(600):
            G(torch.randn(bs, G.latent_dim, generator=gen))
    l1 = class_probabilities(C, generate(G.eval(), z)).argmax(1)
    print(f"batch {bs}: collateral {collateral_damage(l0, l1, t, 10):.4f}, others changed "
          f"{others_changed(l0, l1, t):.4f}", flush=True)
