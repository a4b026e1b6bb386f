"""One MNIST unlearning run with stage-2 settings changed, printed as one JSON line (the rows of results.jsonl).

    PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/run.py DIGIT SEED [section.field=value ...]

e.g. `... run.py 8 0 unlearn.target_latents=0.5 unlearn.target_pool=300`. The run is the CLI's
`python -m atu unlearn --base mnist-dcgan --feature "digit DIGIT" --seed SEED` (the "standard" preset: metrics
on 5,000 bank latents; PRESET=fast for the app's 2,000) with the same overrides; the line adds the others-changed
share and the probe's negative rate during stage 2 (`trajectory`, 200 latents, 500 before session 23; training
classifier) and, with unlearn.target_refresh, how many of the target pool G still draws as the target
(`target_pool_left`). SAVE=DIR also writes the run folder (the unlearned model, for residual.py and the pictures)."""
import json
import os
import sys

os.environ.setdefault("TQDM_DISABLE", "1")

from atu import catalog, session  # noqa: E402
from atu.pipeline import run_unlearning, save_run  # noqa: E402

digit, seed = int(sys.argv[1]), int(sys.argv[2])
overrides = {}
for kv in sys.argv[3:]:
    key, value = kv.split("=", 1)
    overrides[key] = json.loads(value)
cfg = session.run_config(catalog.BASE_MODELS["mnist-dcgan"], f"digit {digit}", os.environ.get("PRESET", "standard"),
                         seed=seed)
res = run_unlearning(session.apply_overrides(cfg, overrides))
if os.environ.get("SAVE"):
    save_run(res, os.environ["SAVE"])
keys = ["pul", "pul_independent", "fid_ratio", "collateral", "collateral_independent", "others_changed",
        "neg_rate_before", "neg_rate_after"]
line = {"digit": digit, "seed": seed, "ov": overrides, **{k: res.metrics.get(k) for k in keys}, "seconds": res.seconds,
        "trajectory": [(e["step"], round(e["neg_rate"], 3)) for e in res.history
                       if e.get("stage") == "unlearn" and "neg_rate" in e]}
pool = [(e["step"], e["target_pool_left"]) for e in res.history if "target_pool_left" in e]
if pool:
    line["target_pool_left"] = pool
print(json.dumps(line))
