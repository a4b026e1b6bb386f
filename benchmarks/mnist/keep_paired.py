"""The class keep at 0.3 against the run without it, run by run (session 29): every (digit, seed) run of `el2-keep`
in rows-keep.json and rows-keep-heldout.json, paired with the same digit and seed of `el2` without the keep (the
benchmark's rows-r*.json, and for the held-out seeds session 28's `s28co-DsS` lines in
stage2-options/results.jsonl, the same run: the 16 runs both hold reprint each other). Prints each digit's seed
means, the mean over digits, and the per-run differences. From the repository root:

    python benchmarks/mnist/keep_paired.py
"""
import glob
import json
import re
import statistics as st
from pathlib import Path

HERE = Path(__file__).parent
COLS = ["pul", "pul_independent", "collateral", "collateral_independent", "others_changed", "fid_ratio"]

without = {}
for line in open(HERE / "stage2-options" / "results.jsonl"):
    d = json.loads(line)
    if re.fullmatch(r"s28co-\ds\d", d.get("name", "")):
        without[(d["digit"], d["seed"])] = d
for f in glob.glob(str(HERE / "rows-r[0-9].json")):
    without.update({(r["target"], r["seed"]): r for r in json.load(open(f)) if r["method"] == "el2"})
keep = {(r["target"], r["seed"]): r for f in ("rows-keep.json", "rows-keep-heldout.json")
        for r in json.load(open(HERE / f))}
keys = sorted(set(without) & set(keep))
print(f"{len(keys)} paired runs; per digit: without the keep -> with it (training classifier / evaluator)")
means = {c: ([], []) for c in COLS}
counts = {"PUL >= 95 by both": [0, 0], "collateral <= 0.03 by both": [0, 0]}
for digit in range(10):
    ks = [k for k in keys if k[0] == digit]
    a, b = ({c: st.mean(runs[k][c] for k in ks) for c in COLS} for runs in (without, keep))
    for c in COLS:
        means[c][0].append(a[c]), means[c][1].append(b[c])
    for i, m in enumerate((a, b)):
        counts["PUL >= 95 by both"][i] += min(m["pul"], m["pul_independent"]) >= 95
        counts["collateral <= 0.03 by both"][i] += max(m["collateral"], m["collateral_independent"]) <= 0.03
    print(f"{digit} ({len(ks)} seeds)  PUL {a['pul']:.2f} / {a['pul_independent']:.2f} -> {b['pul']:.2f} / "
          f"{b['pul_independent']:.2f}  collateral {a['collateral']:.3f} / {a['collateral_independent']:.3f} -> "
          f"{b['collateral']:.3f} / {b['collateral_independent']:.3f}  others changed {a['others_changed']:.3f} -> "
          f"{b['others_changed']:.3f}  FID ratio {a['fid_ratio']:.2f} -> {b['fid_ratio']:.2f}")
print("mean of digits: " + ", ".join(f"{c} {st.mean(means[c][0]):.3f} -> {st.mean(means[c][1]):.3f}" for c in COLS))
print("digits: " + ", ".join(f"{k} {v[0]} -> {v[1]}" for k, v in counts.items()))
for name, ks in (("all", keys), ("held out (not in the benchmark's table)",
                                 [k for k in keys if k not in {(r["target"], r["seed"]) for r in
                                                               json.load(open(HERE / "rows-keep.json"))}])):
    print(f"per run, {name} ({len(ks)}):")
    for c in COLS:
        d = [keep[k][c] - without[k][c] for k in ks]
        print(f"  {c}: {st.mean(d):+.4f} ± {st.stdev(d) / len(d) ** 0.5:.4f} (s.e.), higher with the keep in "
              f"{sum(x > 0 for x in d)} of {len(d)}")
