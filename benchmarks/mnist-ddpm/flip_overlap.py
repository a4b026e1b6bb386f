"""Which non-target samples change label in each of the nine bench runs on the third base, and how much the runs
for different digits overlap on the same latents (issue #17 lab script, not part of the package). It needs the
models saved by the bench (`--save-models runs/s13/models`). Run from the repository root:

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/mnist-ddpm/flip_overlap.py
"""
import itertools, json, torch
from pathlib import Path
from atu.models import load_model
from atu.sampling import load_latent_bank, generate
from atu.metrics import classify
torch.set_num_threads(1)
z = load_latent_bank("checkpoints/mnist-ddpm")[:500]
C = load_model("checkpoints/mnist-classifier", kind="classifier")
E = load_model("checkpoints/mnist-classifier-b", kind="classifier")
G0 = load_model("checkpoints/mnist-ddpm")
x0 = generate(G0, z); y0, e0 = classify(C, x0), classify(E, x0)
flips = {}
for d in (1, 4, 8):
    for s in (0, 1, 2):
        G = load_model(f"runs/s13/models/digit{d}-s{s}/el2")
        y = classify(C, generate(G, z))
        flips[(d, s)] = (y != y0)
        print(d, s, "others changed", round(flips[(d, s)][(y0 != d)].float().mean().item(), 3), flush=True)
# latents that are none of 1, 4, 8 before: non-target in every run
keep = (y0 != 1) & (y0 != 4) & (y0 != 8)
agree = (y0 == e0)
print("kept", int(keep.sum()), "of which the classifiers agree on", int((keep & agree).sum()))
res = {}
for (a, b) in itertools.combinations(sorted(flips), 2):
    if a[0] == b[0]:
        continue
    fa, fb = flips[a][keep], flips[b][keep]
    inter, pa, pb = (fa & fb).float().mean().item(), fa.float().mean().item(), fb.float().mean().item()
    res[f"{a}-{b}"] = dict(both=inter, chance=pa * pb, jaccard=(fa & fb).sum().item() / max(1, (fa | fb).sum().item()))
j = [r["jaccard"] for r in res.values()]; ratio = [r["both"] / r["chance"] for r in res.values()]
print("cross-digit pairs", len(j), "mean Jaccard", round(sum(j) / len(j), 3),
      "mean both/chance", round(sum(ratio) / len(ratio), 2))
runs = torch.stack([flips[k][keep] for k in flips])   # (9 runs, kept latents)
# flip rate on samples both classifiers agreed on before vs. those they did not
allf = runs.float().mean(0)
print("flip rate, classifiers agreed before:", round(allf[agree[keep]].mean().item(), 3),
      " disagreed:", round(allf[~agree[keep]].mean().item(), 3))
print("share of kept latents that flip in at least one of 9 runs", round(runs.any(0).float().mean().item(), 3),
      "in at least 6 of 9", round((runs.sum(0) >= 6).float().mean().item(), 3))
Path("runs/s14").mkdir(parents=True, exist_ok=True)
json.dump(dict(pairs=res), open("runs/s14/overlap.json", "w"), indent=1)
