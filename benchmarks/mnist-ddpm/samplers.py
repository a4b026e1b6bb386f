"""The shipped DDPM base under other deterministic samplers (diffusers' schedulers), on the bank's first N noises:
class mix and both classifiers' agreement (the base's bars), FID against the held-out digits, and how many labels
differ from the shipped sampler's (DDIM, 20 steps) on the same noise, with no weight changed.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mnist-ddpm/samplers.py 1000 ddim,ddim-trailing,ddim100 OUT.json

Names: ddim (the shipped sampler: DDIM from diffusers' default "leading" spacing, first step at t = 950, 20 steps),
ddim50, ddim100 (the same with 50 or 100 steps), ddim-trailing (20 steps from t = 999), dpm++2m-leading,
dpm++2m-thresh (DPM-Solver++ 2M from t = 999 with dynamic thresholding), unipc-leading; the two 20-step multistep
solvers need "leading" spacing or thresholding here (from t = 999 with neither they drew only eights)."""
import json
import sys
import time
import types
from pathlib import Path

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    UniPCMultistepScheduler,
)

from atu.metrics import classify, collateral_damage
from atu.mnist import measure_base_samples, mnist_split
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank

SAMPLERS = {   # name -> (scheduler from the model's noise-schedule config, steps)
    "ddim": (lambda c: DDIMScheduler.from_config(c), 20),
    "ddim50": (lambda c: DDIMScheduler.from_config(c), 50),
    "ddim100": (lambda c: DDIMScheduler.from_config(c), 100),
    "ddim-trailing": (lambda c: DDIMScheduler.from_config(c, timestep_spacing="trailing"), 20),
    "dpm++2m-leading": (lambda c: DPMSolverMultistepScheduler.from_config(c, timestep_spacing="leading"), 20),
    "dpm++2m-thresh": (lambda c: DPMSolverMultistepScheduler.from_config(c, thresholding=True, sample_max_value=1.0), 20),
    "unipc-leading": (lambda c: UniPCMultistepScheduler.from_config(c, timestep_spacing="leading"), 20),
}


def use_sampler(G, make, steps):
    """G draws with this scheduler from now on (DDPMGenerator.sampler swapped on this instance; the eta=0 that
    DDPMGenerator passes to DDIM's step is dropped for the others, which are deterministic anyway)."""
    def sampler(self, _steps=None):
        sched = make(self.scheduler.config)
        sched.set_timesteps(steps)
        if not isinstance(sched, DDIMScheduler):
            step = sched.step
            sched.step = lambda *a, eta=None, **k: step(*a, **k)
        return sched
    G.sampler = types.MethodType(sampler, G)


n, names, out = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
G = load_generator("checkpoints/mnist-ddpm").eval()
z = load_latent_bank("checkpoints/mnist-ddpm")[:n]
C, B = load_model("checkpoints/mnist-classifier"), load_model("checkpoints/mnist-classifier-b")
xh, _ = mnist_split("heldout")
rows, ref = [], None
for name in ["ddim"] + [m for m in names if m != "ddim"]:
    use_sampler(G, *SAMPLERS[name])
    t0 = time.time()
    x = generate(G, z)
    seconds = time.time() - t0
    labels = classify(C, x)
    ref = labels if ref is None else ref
    row = {"sampler": name, "n": n, **measure_base_samples(x, C, xh, evaluator=B),
           "labels_changed_vs_ddim20": float((labels != ref).float().mean()),
           "mix_shift_vs_ddim20": float(collateral_damage(ref, labels, 8, 10)), "seconds": seconds}
    rows.append(row)
    print(f"{name}: digits {100 * row['class_fraction_min']:.1f}-{100 * row['class_fraction_max']:.1f}%, agree "
          f"{100 * row['classifier_agreement']:.1f}%, FID {row['fid']:.1f}, labels changed vs ddim "
          f"{row['labels_changed_vs_ddim20']:.3f}, mix shift {row['mix_shift_vs_ddim20']:.3f}, {seconds:.0f} s",
          flush=True)
Path(out).write_text(json.dumps(rows, indent=1))
