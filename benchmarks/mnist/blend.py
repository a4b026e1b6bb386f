"""Weight-space blend of a base and an unlearned generator, theta_base + a (theta_after - theta_base) (buffers too;
integer buffers from the unlearned one), drawn from the base's bank: PUL, collateral and the others-changed share by
both classifiers at each a, and the collateral split in two: with only the removed samples' new labels (the others
kept as they were) and with only the others' (the removed kept). One JSON line per a (lab, session 42).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mnist/blend.py BASE RUN TARGET N A[,A...]
"""
import copy
import json
import sys

import torch

from atu.metrics import classify, collateral_damage, others_changed, pul
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank
torch.set_grad_enabled(False)
base_dir, run_dir, target, n, alphas = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), [float(a) for a in sys.argv[5].split(",")]
base, after = load_generator(base_dir).eval(), load_generator(run_dir).eval()
z = load_latent_bank(base_dir)[:n]
cls = {"C": load_model("checkpoints/mnist-classifier"), "B": load_model("checkpoints/mnist-classifier-b")}
x0 = generate(base, z)
l0 = {k: classify(c, x0) for k, c in cls.items()}
sb, sa = base.state_dict(), after.state_dict()
rows = []
for a in alphas:
    G = copy.deepcopy(base)
    G.load_state_dict({k: (sb[k] + a * (sa[k] - sb[k])) if sb[k].is_floating_point() else (sa[k] if a > 0 else sb[k]) for k in sb})
    x = generate(G.eval(), z)
    row = {"alpha": a}
    for k, c in cls.items():
        l1 = classify(c, x)
        row[f"pul_{k}"] = round(pul(int((l0[k] == target).sum()), int((l1 == target).sum())), 2)
        row[f"coll_{k}"] = round(collateral_damage(l0[k], l1, target, 10), 4)
        row[f"others_{k}"] = round(others_changed(l0[k], l1, target), 4)
        was = l0[k] == target
        row[f"coll_removed_only_{k}"] = round(collateral_damage(l0[k], torch.where(was, l1, l0[k]), target, 10), 4)
        row[f"coll_others_only_{k}"] = round(collateral_damage(l0[k], torch.where(was, l0[k], l1), target, 10), 4)
    print(json.dumps(row), flush=True)
    rows.append(row)
