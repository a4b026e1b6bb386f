"""Every stage-2 run on one digit in results.jsonl (5,056 latents) as a point: collateral damage against PUL by the
independent evaluator, with the issue's target box (PUL >= 95, collateral <= 0.03) and the benchmark's retraining
row. Runs from sessions 18-26, so from several code versions (batch 32 before session 23, no guide before session
20): read it as the shape of the trade, not as one table.

    PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/trade.py 8 OUT.png
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

digit, out = int(sys.argv[1]), sys.argv[2]
here = Path(__file__).parent
runs = [json.loads(line) for line in (here / "results.jsonl").read_text().splitlines()]
runs = [r for r in runs if r["digit"] == digit and r["ov"].get("eval_latents") == 5056
        and r.get("pul_independent") is not None and r.get("collateral") is not None]


def group(r) -> str:
    name, ov = r.get("name") or "", r["ov"]
    if name.startswith("s26control"):
        return "no removal term (control)"
    if name.startswith(("s26noadv", "s26redirect")):
        return "no adversarial loss on G"
    if any(k in ov for k in ("unlearn.keep_weight", "unlearn.anchor_weight", "unlearn.mix_weight")):
        return "a hold on G (keep, anchor, mix)"
    return "other stage-2 options (the default at earlier code among them)"


styles = {"other stage-2 options (the default at earlier code among them)": ("tab:blue", "o", 30),
          "a hold on G (keep, anchor, mix)": ("tab:green", "s", 30), "no removal term (control)": ("tab:red", "v", 40),
          "no adversarial loss on G": ("tab:purple", "D", 35)}
fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
for g, (color, marker, size) in styles.items():
    pts = [(r["collateral"], r["pul_independent"]) for r in runs if group(r) == g]
    if pts:
        ax.scatter(*zip(*pts), c=color, marker=marker, s=size, label=f"{g} ({len(pts)})", alpha=0.8)
rows = json.loads((here.parent / "rows.json").read_text())
bench = [r for r in rows if r.get("target") == digit and r.get("method") in ("el2", "retrain")]
for method, (color, marker, label) in {"el2": ("k", "*", "the default, the benchmark's rows"),
                                       "retrain": ("tab:orange", "P", "retrained without the digit")}.items():
    pts = [(r["collateral"], r["pul_independent"]) for r in bench if r["method"] == method]
    if pts:
        ax.scatter(*zip(*pts), c=color, marker=marker, s=120, label=f"{label} ({len(pts)})")
ax.fill_between([0, 0.03], 95, 101, color="gold", alpha=0.25, label="the issue's target")
off = sum(r["collateral"] > 0.1 for r in runs)
ax.set_xlim(0, 0.1)
ax.set_ylim(min(40, min(r["pul_independent"] for r in runs) - 2), 101)
ax.set_xlabel("collateral damage (training classifier)")
ax.set_ylabel("PUL by the independent evaluator (%)")
ax.set_title(f"digit {digit}: every stage-2 run on 5,056 latents" + (f" ({off} off the chart)" if off else ""))
ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
fig.tight_layout()
fig.savefig(out)
print(f"{len(runs)} runs -> {out}")
