"""The class keep at 0.3 against the run without it, run by run (session 29): every (digit, seed) run of `el2-keep`
in rows-keep.json and rows-keep-heldout.json, paired with the same digit and seed of `el2` without the keep (the
benchmark's rows-r*.json, and for the held-out seeds session 28's `s28co-DsS` lines in
stage2-options/results.jsonl, the same run: the 16 runs both hold reprint each other). Prints each digit's seed
means, the mean over digits, and the per-run differences. From the repository root:

    python benchmarks/mnist-v3/keep_paired.py
"""
import glob
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from pairing import report  # noqa: E402

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
held_out = [k for k in keys if k not in {(r["target"], r["seed"]) for r in json.load(open(HERE / "rows-keep.json"))}]
report(without, keep, COLS, keys, range(10), "with the keep",
       [(", all", keys), (", held out (not in the benchmark's table)", held_out)])
