"""Checking an unlearned face model by looking, where no classifier decides: the hand-labelled samples with a
feature drawn before / after (labelled grid), and the count by eye, blind (shuffled tiles, marks unblinded
after): python -m atu labelled-grid / blind-count.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch

from .faces import ATTRIBUTES, labelled_split, load_labels
from .io import atomic_write_bytes, write_json
from .sampling import generate, to_pil


# --- checking an unlearned model by looking ----------------------------------------------------------------------

@dataclass
class LabelledGridConfig:
    run: str = ""                              # the unlearned model's folder (a run folder or any generator folder)
    feature: str = "eyeglasses"                # the hand-labelled feature whose samples are shown
    model: str = "checkpoints/faces-dcgan64"   # the base generator, holding labels.json
    n: int = 48                                # how many of the samples labelled with the feature (the first n)
    out: str = ""                              # the PNG to write


def labelled_grid(G_before, G_after, model_dir: str | Path, feature: str, n: int = 48):
    """The first n hand-labelled samples that have `feature`, drawn by both generators on their latents: rows
    alternate before / after, 8 faces a row, each pixel drawn 2x2. Counting the faces that still show the feature in the
    after rows gives a removal rate that no classifier decides. Returns (PIL image, label indices)."""
    from PIL import Image

    if feature not in ATTRIBUTES:
        raise ValueError(f"feature must be one of {', '.join(ATTRIBUTES)}, got {feature!r}")
    z, labels, _ = load_labels(model_dir)
    idx = labels[feature].nonzero().flatten()[:n]
    before, after = generate(G_before, z[idx]), generate(G_after, z[idx])
    rows = [half for i in range(0, len(idx), 8) for half in (before[i:i + 8], after[i:i + 8])]
    img = to_pil(torch.cat(rows), nrow=8, padding=3)
    return img.resize((img.width * 2, img.height * 2), Image.NEAREST), idx.tolist()   # pixels as drawn


def run_labelled_grid(cfg: LabelledGridConfig, overwrite: bool = False) -> dict:
    from .models import load_generator

    out = Path(cfg.out)
    if not cfg.run or not cfg.out:
        raise ValueError("give --run (the unlearned model's folder) and --out (the PNG to write)")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists: choose another --out or pass --overwrite")
    img, idx = labelled_grid(load_generator(cfg.model), load_generator(cfg.run), cfg.model, cfg.feature, cfg.n)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    return {"out": str(out), "feature": cfg.feature, "label_indices": idx}


# --- the count by eye, blind ------------------------------------------------------------------------------------

MARKS = {"R": "removed: no trace of the feature", "F": "faded: a faint trace remains (a frame remnant, a rim)",
         "C": "clear: the feature, or its outline, is still plainly there"}
COUNT_FILE = "labelled_count.json"


@dataclass
class BlindCountConfig:
    run: str = ""                              # the unlearned model's folder
    feature: str = "eyeglasses"                # the hand-labelled feature to count
    model: str = "checkpoints/faces-dcgan64"   # the base generator, holding labels.json and split.json
    seed: int = 0                              # the shuffle of the tiles
    marks: str = ""                            # "" = draw the grid; else one letter a tile (R / F / C, MARKS), in
                                               #   reading order, rows may be separated by "/": unblinds and counts
    rater: str = "one developer"               # who counted (written to labelled_count.json)


def blind_layout(n: int, seed: int) -> list[tuple[int, str]]:
    """The tiles of a blind count in shown order: each of n samples twice, ("before" and "after"), shuffled."""
    tiles = [(i, side) for i in range(n) for side in ("before", "after")]
    order = torch.randperm(len(tiles), generator=torch.Generator().manual_seed(seed)).tolist()
    return [tiles[j] for j in order]


def score_marks(marks: str, layout: list[tuple[int, str]]) -> dict:
    """Unblind: the marks (one of MARKS per tile, in shown order; '/' and spaces ignored) counted per side.
    "after" counts are the result; "before" counts check the rater against the hand labels (they should be C);
    "clear_before" counts the after-marks of the samples whose before tile was marked C (the feature plainly
    there), the fairest view: a faint feature that is hard to see before is easy to call gone after."""
    m = [c for c in marks.upper() if c not in "/ \n"]
    if len(m) != len(layout) or set(m) - set(MARKS):
        raise ValueError(f"give one of {'/'.join(MARKS)} for each of the {len(layout)} tiles, got {len(m)} marks"
                         + (f" with {''.join(sorted(set(m) - set(MARKS)))}" if set(m) - set(MARKS) else ""))
    counts = {side: {k: 0 for k in MARKS} for side in ("before", "after")}
    per_sample: dict[int, dict] = {}
    for (i, side), mark in zip(layout, m):
        counts[side][mark] += 1
        per_sample.setdefault(i, {})[side] = mark
    n = max(sum(counts["after"].values()), 1)
    clear = [v for v in per_sample.values() if v.get("before") == "C"]   # the feature plainly there before
    return {"counts": counts, "removed_pct": round(100 * counts["after"]["R"] / n, 1),
            "not_clear_pct": round(100 * (n - counts["after"]["C"]) / n, 1),
            "before_clear_pct": round(100 * counts["before"]["C"] / max(sum(counts["before"].values()), 1), 1),
            "clear_before": {"n": len(clear), **{k: sum(v.get("after") == k for v in clear) for k in MARKS}},
            "per_sample": per_sample}


def blind_grid(G_before, G_after, model_dir: str | Path, feature: str, seed: int = 0):
    """The test-part samples hand-labelled with `feature` (split.json), drawn by both generators and shuffled
    together (blind_layout), 8 a row with the row number on the left, each pixel drawn 2x2. Returns (PIL image,
    label indices, layout)."""
    from PIL import Image, ImageDraw

    z, labels, _ = load_labels(model_dir)
    _, test = labelled_split(model_dir, feature)
    idx = test[labels[feature][test] == 1]
    x = {"before": generate(G_before, z[idx]), "after": generate(G_after, z[idx])}
    layout = blind_layout(len(idx), seed)
    grid = to_pil(torch.stack([x[side][i] for i, side in layout]), nrow=8, padding=3)
    grid = grid.resize((grid.width * 2, grid.height * 2), Image.NEAREST)
    img = Image.new("RGB", (grid.width + 40, grid.height), "white")
    img.paste(grid, (40, 0))
    draw, step = ImageDraw.Draw(img), (64 + 3) * 2
    for r in range((len(layout) + 7) // 8):
        draw.text((8, 6 + r * step + step // 2 - 6), f"{r + 1:>2}", fill="black")
    return img, idx.tolist(), layout


def run_blind_count(cfg: BlindCountConfig, overwrite: bool = False) -> dict:
    """`python -m atu blind-count`: without --marks, write blind_<feature>.png (and its key) into the run folder
    and stop; look at the PNG only, mark every tile, then run again with --marks to unblind into
    labelled_count.json."""
    import json

    from .models import load_generator

    run = Path(cfg.run)
    if not cfg.run or not (run / "config.json").is_file():
        raise ValueError("give --run: the unlearned model's folder (with config.json)")
    png, key = run / f"blind_{cfg.feature}.png", run / f"blind_{cfg.feature}_key.json"
    if not cfg.marks:
        if png.exists() and not overwrite:
            raise FileExistsError(f"{png} exists: count it and pass --marks, or pass --overwrite for a new one")
        img, idx, layout = blind_grid(load_generator(cfg.model), load_generator(cfg.run), cfg.model, cfg.feature,
                                      cfg.seed)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        atomic_write_bytes(png, buf.getvalue())
        write_json(key, {"feature": cfg.feature, "seed": cfg.seed, "label_indices": idx,
                         "layout": [[idx[i], side] for i, side in layout]})
        return {"grid": str(png), "tiles": len(layout), "next": "look at the grid only (not the key), mark each "
                f"tile {'/'.join(MARKS)} in reading order, then run again with --marks"}
    rec = json.loads(key.read_text())
    pos = {j: k for k, j in enumerate(rec["label_indices"])}
    layout = [(pos[j], side) for j, side in rec["layout"]]
    s = score_marks(cfg.marks, layout)
    out = {"what": f"the {len(pos)} samples of the labelled test part (split.json) hand-labelled {cfg.feature}, "
                   "drawn by the base and by this model on the same latents, all tiles shuffled together "
                   f"({png.name}); each tile marked by looking before unblinding",
           "command": f"python -m atu blind-count --run {cfg.run} --feature {cfg.feature} --seed {cfg.seed}",
           "rater": f"{cfg.rater}, blind to which tile is before or after (the same face twice can still be "
                    "recognised as a pair)", "feature": cfg.feature, "scheme": MARKS,
           **{k: v for k, v in s.items() if k != "per_sample"},
           "marks": {str(rec["label_indices"][i]): v for i, v in sorted(s["per_sample"].items())},
           "marks_as_given": cfg.marks}
    write_json(run / COUNT_FILE, out)
    return {"out": str(run / COUNT_FILE), **{k: out[k] for k in ("counts", "removed_pct", "not_clear_pct",
                                                                 "clear_before")}}
