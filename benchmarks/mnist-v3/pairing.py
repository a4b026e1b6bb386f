"""Run-by-run comparison of two sets of benchmark rows keyed by (digit, seed), printed for the lab scripts that pair
them (keep_paired.py, base-sharpen/paired.py): each digit's seed means, the mean over digits, how many digits meet
PUL >= 95 and collateral <= 0.03 by both classifiers, and the per-run differences with their standard error."""
import statistics as st


def report(a: dict, b: dict, cols: list[str], keys: list, digits, higher: str, subsets, base_rate: bool = False):
    """a, b: {(digit, seed): row}; keys: the paired runs; higher: the per-run lines' "higher ... in" phrase; subsets:
    [(name, keys)] for the per-run differences; base_rate: each digit's line starts with the base's rate of it (a
    column of cols, "neg_rate_before")."""
    means = {c: ([], []) for c in cols}
    counts = {"PUL >= 95 by both": [0, 0], "collateral <= 0.03 by both": [0, 0]}
    for digit in digits:
        ks = [k for k in keys if k[0] == digit]
        ma, mb = ({c: st.mean(runs[k][c] for k in ks) for c in cols} for runs in (a, b))
        for c in cols:
            means[c][0].append(ma[c]), means[c][1].append(mb[c])
        for i, m in enumerate((ma, mb)):
            counts["PUL >= 95 by both"][i] += min(m["pul"], m["pul_independent"]) >= 95
            counts["collateral <= 0.03 by both"][i] += max(m["collateral"], m["collateral_independent"]) <= 0.03
        rate = f"base rate {ma['neg_rate_before']:.3f} -> {mb['neg_rate_before']:.3f}  " if base_rate else ""
        print(f"{digit} ({len(ks)} seeds)  {rate}PUL {ma['pul']:.2f} / {ma['pul_independent']:.2f} -> "
              f"{mb['pul']:.2f} / {mb['pul_independent']:.2f}  collateral {ma['collateral']:.3f} / "
              f"{ma['collateral_independent']:.3f} -> {mb['collateral']:.3f} / {mb['collateral_independent']:.3f}  "
              f"others changed {ma['others_changed']:.3f} -> {mb['others_changed']:.3f}  FID ratio "
              f"{ma['fid_ratio']:.2f} -> {mb['fid_ratio']:.2f}")
    print("mean of digits: " + ", ".join(f"{c} {st.mean(means[c][0]):.3f} -> {st.mean(means[c][1]):.3f}" for c in cols))
    print("digits: " + ", ".join(f"{k} {v[0]} -> {v[1]}" for k, v in counts.items()))
    for name, ks in subsets:
        print(f"per run{name} ({len(ks)}):")
        for c in cols:
            d = [b[k][c] - a[k][c] for k in ks]
            print(f"  {c}: {st.mean(d):+.4f} ± {st.stdev(d) / len(d) ** 0.5:.4f} (s.e.), higher {higher} in "
                  f"{sum(x > 0 for x in d)} of {len(d)}")
