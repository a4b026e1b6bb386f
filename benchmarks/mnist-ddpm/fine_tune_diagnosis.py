"""Why plain fine-tuning made the MNIST DDPM draw more eights (issue #17 lab script): train_diffusion on 500 of
the base's confident positives against the same on 500 real training digits without the class, both measured.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/mnist-ddpm/fine_tune_diagnosis.py checkpoints/mnist-ddpm 8 500 \
        '{"real-lr5e-5": {"data": "real"}, "pos-lr5e-5": {}}'
"""
import copy, dataclasses, sys, time, json
import torch
from atu.bench import mnist_config
from atu.pipeline import load_base, measure
from atu.feedback import pick_positives
from atu.diffusion import train_diffusion, DiffusionTrainConfig
from atu.data import mnist_split

model, target, n_eval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
variants = json.loads(sys.argv[4])
cfg = mnist_config("checkpoints/mnist-ddpm")
cfg = dataclasses.replace(cfg, model=model, target=target, feature=f"digit {target}", seed=0, eval_latents=n_eval,
                          evaluator="checkpoints/mnist-classifier-b")
G, D, C = load_base(cfg)
pos, _, draws = pick_positives(G, C, target, 500, seed=1, max_target_prob=0.01, min_top_prob=0.9)
xr, yr = mnist_split("train", exclude_class=target)
real = xr[torch.randperm(len(xr), generator=torch.Generator().manual_seed(0))[:500]]
print("positives", len(pos), "draws", draws, flush=True)
for name, v in variants.items():
    data = real if v.pop("data", "pos") == "real" else pos
    t = time.time()
    res = train_diffusion(copy.deepcopy(G), data, DiffusionTrainConfig(**{"steps": 200, "batch_size": 16, "lr": 5e-5, "warmup": 0, "ema_beta": 0.99, "log_every": 50, **v}))
    for which, g in (("ema", res.G_ema), ("raw", res.G)):
        m = measure(cfg, G, g, C)
        print(f"{name:>20} {which}: rate {m['neg_rate_before']:.3f}->{m['neg_rate_after']:.3f} B {m.get('neg_rate_after_independent', -1):.3f} FIDx {m['fid_ratio']:.2f} coll {m['collateral']:.3f} {time.time()-t:.0f}s", flush=True)
