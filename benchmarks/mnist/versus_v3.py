"""Each method on the fourth base (this folder's rows) against the same runs on the third (../mnist-v3/), run by run:
the (digit, seed) runs both hold, per method. Prints each digit's seed means, the mean over digits, the digits that
meet PUL >= 95 and collateral <= 0.03 by both classifiers, and the per-run differences. From the repository root:

    python benchmarks/mnist/versus_v3.py [METHOD ...]    # default: every method both folders ran
"""
import glob
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "mnist-v3"))
from pairing import report  # noqa: E402

COLS = ["pul", "pul_independent", "collateral", "collateral_independent", "others_changed", "fid_ratio",
        "neg_rate_before"]


def rows(folder: Path) -> dict:
    """{method: {(digit, seed): row}} from every rows-*.json of a folder."""
    out = {}
    for f in sorted(glob.glob(str(folder / "rows-*.json"))):
        for r in json.load(open(f)):
            out.setdefault(r["method"], {})[(r["target"], r["seed"])] = r
    return out


v3, v4 = rows(HERE.parent / "mnist-v3"), rows(HERE)
for method in sys.argv[1:] or sorted(set(v3) & set(v4)):
    keys = sorted(set(v3[method]) & set(v4[method]))
    print(f"\n## {method}: {len(keys)} paired runs; per digit: v3 -> v4 (training classifier / evaluator)")
    report(v3[method], v4[method], COLS, keys, sorted({k[0] for k in keys}), "on v4", [("", keys)], base_rate=True)
