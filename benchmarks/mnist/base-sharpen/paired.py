"""The default (`el2`) on the sharpened candidate base against the shipped base, run by run: the 18 (digit, seed)
runs of the benchmark's `el2` rows (../rows-r*.json) and the same runs on the candidate (rows-el2.json here). Prints
each digit's seed means, the mean over digits, the digits that meet PUL >= 95 and collateral <= 0.03 by both
classifiers, and the per-run differences. From the repository root:

    python benchmarks/mnist/base-sharpen/paired.py [ROWS]    # default rows-el2.json; rows-el2-pkg.json: the
                                                             # package command's draw
"""
import glob
import json
import statistics as st
import sys
from pathlib import Path

HERE = Path(__file__).parent
COLS = ["pul", "pul_independent", "collateral", "collateral_independent", "others_changed", "fid_ratio",
        "neg_rate_before"]
shipped = {}
for f in glob.glob(str(HERE.parent / "rows-r[0-9].json")):
    shipped.update({(r["target"], r["seed"]): r for r in json.load(open(f)) if r["method"] == "el2"})
rows_file = HERE / (sys.argv[1] if len(sys.argv) > 1 else "rows-el2.json")
cand = {(r["target"], r["seed"]): r for r in json.load(open(rows_file))}
keys = sorted(set(shipped) & set(cand))
print(f"{len(keys)} paired runs; per digit: shipped base -> sharpened candidate (training classifier / evaluator)")
means = {c: ([], []) for c in COLS}
counts = {"PUL >= 95 by both": [0, 0], "collateral <= 0.03 by both": [0, 0]}
for digit in sorted({k[0] for k in keys}):
    ks = [k for k in keys if k[0] == digit]
    a, b = ({c: st.mean(runs[k][c] for k in ks) for c in COLS} for runs in (shipped, cand))
    for c in COLS:
        means[c][0].append(a[c]), means[c][1].append(b[c])
    for i, m in enumerate((a, b)):
        counts["PUL >= 95 by both"][i] += min(m["pul"], m["pul_independent"]) >= 95
        counts["collateral <= 0.03 by both"][i] += max(m["collateral"], m["collateral_independent"]) <= 0.03
    print(f"{digit} ({len(ks)} seeds)  base rate {a['neg_rate_before']:.3f} -> {b['neg_rate_before']:.3f}  PUL "
          f"{a['pul']:.2f} / {a['pul_independent']:.2f} -> {b['pul']:.2f} / {b['pul_independent']:.2f}  collateral "
          f"{a['collateral']:.3f} / {a['collateral_independent']:.3f} -> {b['collateral']:.3f} / "
          f"{b['collateral_independent']:.3f}  others changed {a['others_changed']:.3f} -> {b['others_changed']:.3f}  "
          f"FID ratio {a['fid_ratio']:.2f} -> {b['fid_ratio']:.2f}")
print("mean of digits: " + ", ".join(f"{c} {st.mean(means[c][0]):.3f} -> {st.mean(means[c][1]):.3f}" for c in COLS))
print("digits: " + ", ".join(f"{k} {v[0]} -> {v[1]}" for k, v in counts.items()))
print(f"per run ({len(keys)}):")
for c in COLS:
    d = [cand[k][c] - shipped[k][c] for k in keys]
    print(f"  {c}: {st.mean(d):+.4f} ± {st.stdev(d) / len(d) ** 0.5:.4f} (s.e.), higher on the candidate in "
          f"{sum(x > 0 for x in d)} of {len(d)}")
