"""The default (`el2`) on the sharpened candidate base against the shipped base, run by run: the 18 (digit, seed)
runs of the benchmark's `el2` rows (../rows-r*.json) and the same runs on the candidate (rows-el2.json here). Prints
each digit's seed means, the mean over digits, the digits that meet PUL >= 95 and collateral <= 0.03 by both
classifiers, and the per-run differences. From the repository root:

    python benchmarks/mnist-v3/base-sharpen/paired.py [ROWS]    # default rows-el2.json; rows-el2-pkg.json: the
                                                             # package command's draw
"""
import glob
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from pairing import report  # noqa: E402

COLS = ["pul", "pul_independent", "collateral", "collateral_independent", "others_changed", "fid_ratio",
        "neg_rate_before"]
shipped = {}
for f in glob.glob(str(HERE.parent / "rows-r[0-9].json")):
    shipped.update({(r["target"], r["seed"]): r for r in json.load(open(f)) if r["method"] == "el2"})
rows_file = HERE / (sys.argv[1] if len(sys.argv) > 1 else "rows-el2.json")
cand = {(r["target"], r["seed"]): r for r in json.load(open(rows_file))}
keys = sorted(set(shipped) & set(cand))
print(f"{len(keys)} paired runs; per digit: shipped base -> sharpened candidate (training classifier / evaluator)")
report(shipped, cand, COLS, keys, sorted({k[0] for k in keys}), "on the candidate", [("", keys)], base_rate=True)
