"""Guidance while sampling, no training (issue #17 lab script, session 35): can the base DDPM's own sampler be steered
off a digit while the other noises keep their images? If it could, stage 2 could distil the steered sampler. The
base is drawn on the bank's first N noises (20 DDIM steps) with each step's noise prediction eps changed at
t_lo <= t <= t_hi, in one of two ways:

- "classifier": the x0 estimate x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t), clipped to [-1, 1], takes a step
  x0 - s * grad of sum_i -log(1 - p(target | x0_i)) (atu.losses.guide_loss) by the training classifier and the
  co-classifier (the GAN's guide), and eps becomes the noise that makes x_t from the moved x0. (A step on x_t itself,
  eps + s sqrt(1 - a) grad_{x_t}, grows as 1 / a_t at the noisiest steps and drew nothing but eights at s = 1.)
- "classifier-jitter": the same, each x0 seen by the classifiers in 4 random rotations, shifts and zooms.
- "adapted": negative guidance from stage 1's adapted model A (the catalog's standard preset, K = 1), as ESD
  (Gandikota et al., 2023) erases a concept with a text model: eps - s * (eps_A - eps).

Each row (an optional last argument OUT also saves OUT-<mode>-<scale>-<t_lo>-<t_hi>.png, the first 32 noises before
| after): PUL by the training classifier and by the evaluator, collateral by both, others changed (atu.metrics).
From the repository root:

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mnist-ddpm/sampler_guidance.py classifier 8 200 0.1,1 0 1000
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mnist-ddpm/sampler_guidance.py adapted 8 200 0.3,1 600 1000
"""
import copy, dataclasses, json, sys, time
import torch
from safetensors.torch import load_file
from torch.nn.utils import vector_to_parameters
import atu.pipeline as P
from atu.bench import mnist_config
from atu.augment import random_affine
from atu.losses import guide_loss
from atu.metrics import classify, collateral_damage, others_changed, pul
from atu.sampling import side_by_side
from lab_common import steered_ddim
from atu.unlearn import JITTER

mode, target, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
jitter = mode == "classifier-jitter"   # the classifiers see 4 random rotations, shifts and zooms of each x0 (the
mode = "classifier" if jitter else mode  # GAN's atu.unlearn.JITTER): a change that fools them at one position pays less
scales, t_lo, t_hi = [float(s) for s in sys.argv[4].split(",")], int(sys.argv[5]), int(sys.argv[6])
cfg = mnist_config("checkpoints/mnist-ddpm")
cfg = dataclasses.replace(cfg, model="checkpoints/mnist-ddpm", target=target, feature=f"digit {target}", seed=0)
base = P.load_base(cfg)
G, _, C = base
E = P.load_model(P.evaluator_path(cfg), kind="classifier")
if mode == "adapted":
    negatives = P.pick_negatives(G, C, cfg.target, cfg.n_negatives, seed=cfg.seed)
    theta_N = P.adapt_stage(cfg, base, negatives, lambda e: None, P.make_probe(cfg, G, C))
    A = copy.deepcopy(G)
    vector_to_parameters(theta_N[0], A.parameters())
    A.eval().requires_grad_(False)
guides = [P.load_model(p, kind="classifier").eval().requires_grad_(False)
          for p in ("checkpoints/mnist-classifier", "checkpoints/mnist-classifier-c")]   # the GAN's guide pair
G.eval().requires_grad_(False)
gen = torch.Generator().manual_seed(0)
z = next(iter(load_file("checkpoints/mnist-ddpm/latent_bank.safetensors").values()))[:n]


def steer(x, t, eps, s):
    if mode == "adapted":
        with torch.no_grad():
            return eps - s * (A.unet(x, t).sample - eps)
    a = G.scheduler.alphas_cumprod[int(t)]
    x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1).requires_grad_(True)
    views = torch.cat([random_affine(x0, **JITTER, generator=gen) for _ in range(4)]) if jitter else x0
    loss = sum(guide_loss(M(views), target) for M in guides) * x0.shape[0]
    grad, = torch.autograd.grad(loss, x0)
    return (x - a.sqrt() * (x0 - s * grad).detach()) / (1 - a).sqrt()


def draw(s):
    return steered_ddim(G, z, (lambda x, t, eps: steer(x, t, eps, s) if t_lo <= int(t) <= t_hi else eps)
                        if s > 0 else None)


before = draw(0)
c0, e0 = classify(C, before), classify(E, before)
print("classes before, by C:", torch.bincount(c0, minlength=10).tolist(), flush=True)
for s in scales:
    t0 = time.time()
    after = draw(s)
    c1, e1 = classify(C, after), classify(E, after)
    print(json.dumps({"mode": mode, "scale": s, "t": [t_lo, t_hi],
                      "pul": round(pul(int((c0 == target).sum()), int((c1 == target).sum())), 1),
                      "pul_B": round(pul(int((e0 == target).sum()), int((e1 == target).sum())), 1),
                      "collateral": round(collateral_damage(c0, c1, target, 10), 3),
                      "collateral_B": round(collateral_damage(e0, e1, target, 10), 3),
                      "others_changed": round(others_changed(c0, c1, target), 3), "seconds": round(time.time() - t0),
                      "classes_after_C": torch.bincount(c1, minlength=10).tolist()}), flush=True)
    if len(sys.argv) > 7:   # an optional last argument OUT: OUT-<mode>-<scale>-<t_lo>-<t_hi>.png, the first 32, before | after
        side_by_side(before[:32], after[:32]).save(f"{sys.argv[7]}-{sys.argv[1]}-{s:g}-{t_lo}-{t_hi}.png")
