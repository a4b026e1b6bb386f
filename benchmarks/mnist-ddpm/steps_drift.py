"""Does an unlearned DDPM's collateral depend on the sampler's step count? The base and an unlearned model (a saved
run folder) drawn from the same bank noises with DDIM at 20 steps (the shipped sampler, the one stage 2 trained
and was measured with) and at more steps, where the noise-to-digit map is steadier (samplers.json: 100 steps
instead of 20 change 14% of the base's labels). PUL, collateral and the others-changed share by both classifiers.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mnist-ddpm/steps_drift.py RUN_DIR TARGET N STEPS[,STEPS] OUT.json
"""
import json
import sys
import time
from pathlib import Path

from atu.metrics import classify, collateral_damage, others_changed, pul
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank

run_dir, target, n, steps_list, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
base, after = load_generator("checkpoints/mnist-ddpm").eval(), load_generator(run_dir).eval()
z = load_latent_bank("checkpoints/mnist-ddpm")[:n]
classifiers = {"": load_model("checkpoints/mnist-classifier"), "_independent": load_model("checkpoints/mnist-classifier-b")}
rows = []
for steps in (int(s) for s in steps_list.split(",")):
    t0 = time.time()
    base.sample_steps = after.sample_steps = steps
    x0, x1 = generate(base, z), generate(after, z)
    row = {"steps": steps, "n": n, "seconds": round(time.time() - t0)}
    for suffix, C in classifiers.items():
        y0, y1 = classify(C, x0), classify(C, x1)
        row |= {f"pul{suffix}": pul(int((y0 == target).sum()), int((y1 == target).sum())),
                f"collateral{suffix}": collateral_damage(y0, y1, target, 10),
                f"others_changed{suffix}": others_changed(y0, y1, target),
                f"target_share_before{suffix}": float((y0 == target).float().mean())}
    rows.append(row)
    print(json.dumps(row), flush=True)
Path(out).write_text(json.dumps(rows, indent=1))
