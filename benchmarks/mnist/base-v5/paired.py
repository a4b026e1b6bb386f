"""The default (`el2`) on the fifth-base candidate against the shipped fourth base, run by run: the benchmark's 18
`el2` runs (../rows-el2.json) and the same (digit, seed) runs on the candidate (rows-el2.json here; session 42 ran
the ten seed-0 runs). Each digit's seed means, the mean over digits, the digits that meet PUL >= 95 and collateral
<= 0.03 by both classifiers, and the per-run differences. From the repository root:

    python benchmarks/mnist/base-v5/paired.py
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent.parent / "mnist-v3"))
from pairing import report  # noqa: E402

COLS = ["pul", "pul_independent", "collateral", "collateral_independent", "others_changed", "fid_ratio",
        "neg_rate_before"]
shipped = {(r["target"], r["seed"]): r for r in json.load(open(HERE.parent / "rows-el2.json")) if r["method"] == "el2"}
cand = {(r["target"], r["seed"]): r for r in json.load(open(HERE / "rows-el2.json"))}
keys = sorted(set(shipped) & set(cand))
print(f"{len(keys)} paired runs; per digit: fourth base -> fifth-base candidate (training classifier / evaluator)")
report(shipped, cand, COLS, keys, sorted({k[0] for k in keys}), "on the candidate", [("", keys)], base_rate=True)
