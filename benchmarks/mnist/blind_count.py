"""A blind count by eye of an MNIST unlearning run: does a person still see the digit after, where the classifiers
say it is gone? On the bank's first 5,000 latents the training classifier splits them into A (the digit before) and
B (another digit before, relabelled after: where new look-alikes would be); `n` latents of each are drawn before and
after, and all 4n tiles shuffled into pages of 64 (8 x 8, row numbers on the left). Look at the pages only, mark each
tile in reading order (D: the digit, or '.': not), then score:

    PYTHONPATH=$PWD python benchmarks/mnist/blind_count.py grid RUN OUT [--n 32] [--seed 0] [--base DIR]
    PYTHONPATH=$PWD python benchmarks/mnist/blind_count.py score OUT MARKS     # MARKS: one 'D' or '.' per tile ('/' ignored)
    PYTHONPATH=$PWD python benchmarks/mnist/blind_count.py pool OUT [OUT ...]  # draws of one run, counts pooled

Estimated by eye over A and B (latents of neither are left out: the classifier saw no change there):
before = |A| a_before/n + |B| b_before/n, after likewise, PUL by eye = 100 (1 - after / before).
"""
import json
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

import atu
from atu.models import load_model
from atu.sampling import generate, load_latent_bank, to_pil


def grid(run: str, out: Path, n: int = 32, seed: int = 0, base: str = ""):
    """base: the run's base model folder (default: the one its run.json names)."""
    cfg = json.loads((Path(run) / "run.json").read_text())
    target, base = int(cfg["target"]), base or cfg.get("base_model", "checkpoints/mnist-dcgan")
    z = load_latent_bank(base)[:5000]
    G0, G1 = atu.load_generator(base), atu.load_generator(run)
    C = load_model("checkpoints/mnist-classifier", kind="classifier").eval()
    with torch.no_grad():
        x0, x1 = generate(G0, z), generate(G1, z)
        l0, l1 = C(x0).argmax(1), C(x1).argmax(1)
    g = torch.Generator().manual_seed(seed)
    strata = {"A": (l0 == target).nonzero().view(-1), "B": ((l0 != target) & (l1 != l0)).nonzero().view(-1)}
    picked = {k: v[torch.randperm(len(v), generator=g)[:n]] for k, v in strata.items()}
    tiles = [(k, int(i), side) for k, v in picked.items() for i in v for side in ("before", "after")]
    tiles = [tiles[j] for j in torch.randperm(len(tiles), generator=g).tolist()]
    x = {"before": x0, "after": x1}
    out.mkdir(parents=True, exist_ok=True)
    for p in range(0, len(tiles), 64):
        page = to_pil(torch.stack([x[side][i] for _, i, side in tiles[p:p + 64]]), nrow=8, padding=3)
        page = page.resize((page.width * 3, page.height * 3), Image.NEAREST).convert("RGB")
        img = Image.new("RGB", (page.width + 40, page.height), "white")
        img.paste(page, (40, 0))
        draw, step = ImageDraw.Draw(img), (32 + 3) * 3
        for r in range((len(tiles[p:p + 64]) + 7) // 8):
            draw.text((8, r * step + step // 2 - 6), f"{p // 8 + r + 1:>2}", fill="black")
        img.save(out / f"blind-{p // 64 + 1}.png")
    (out / "blind_key.json").write_text(json.dumps({
        "run": run, "base": base, "target": target, "n": n, "seed": seed, "sizes": {k: len(v) for k, v in strata.items()},
        "tiles": tiles, "classifier_after_is_target": {f"{k}{i}": int(l1[i] == target) for k, i, _ in tiles}}, indent=1))
    print(f"{len(tiles)} tiles in {(len(tiles) + 63) // 64} pages in {out}; |A| {len(strata['A'])}, |B| {len(strata['B'])}")


def score(out: Path, marks: str):
    key = json.loads((out / "blind_key.json").read_text())
    m = [c for c in marks.upper() if c not in "/ \n"]
    if len(m) != len(key["tiles"]) or set(m) - {"D", "."}:
        raise SystemExit(f"give one D or . per tile ({len(key['tiles'])}), got {len(m)}")
    n, sizes = key["n"], key["sizes"]
    seen = {(k, side): 0 for k in sizes for side in ("before", "after")}
    for (k, i, side), c in zip(key["tiles"], m):
        seen[(k, side)] += c == "D"
    res = {**estimate({f"{k} {side}": v for (k, side), v in seen.items()}, n, sizes), "marks": marks}
    (out / "blind_count.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


def estimate(marked: dict, n: int, sizes: dict) -> dict:
    """marked: {"A before": count, ...} of n tiles a stratum and side -> the size-weighted counts and PUL by eye."""
    est = {side: sum(sizes[k] * marked[f"{k} {side}"] / n for k in sizes) for side in ("before", "after")}
    return {"marked": marked, "n_per_stratum": n, "sizes": sizes, "estimated_before": round(est["before"], 1),
            "estimated_after": round(est["after"], 1), "pul_by_eye": round(100 * (1 - est["after"] / est["before"]), 1)}


def pool(outs: list[Path]):
    """The draws of one run (the same strata) counted together."""
    counts = [json.loads((o / "blind_count.json").read_text()) for o in outs]
    if any(c["sizes"] != counts[0]["sizes"] for c in counts):
        raise SystemExit("the draws are of different runs (their strata differ)")
    marked = {k: sum(c["marked"][k] for c in counts) for k in counts[0]["marked"]}
    res = {**estimate(marked, sum(c["n_per_stratum"] for c in counts), counts[0]["sizes"]),
           "draws": {str(o): c["pul_by_eye"] for o, c in zip(outs, counts)}}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    if sys.argv[1] == "grid":
        kw = dict(zip(sys.argv[4::2], sys.argv[5::2]))
        grid(sys.argv[2], Path(sys.argv[3]), int(kw.get("--n", 32)), int(kw.get("--seed", 0)), kw.get("--base", ""))
    elif sys.argv[1] == "pool":
        pool([Path(a) for a in sys.argv[2:]])
    else:
        score(Path(sys.argv[2]), sys.argv[3])
