"""Checking an unlearned model by looking, where no classifier decides: the hand-labelled face samples with a
feature drawn before / after (labelled grid), and the count by eye, blind (shuffled tiles, marks unblinded
after), of a face feature or of a digit: python -m atu labelled-grid / blind-count.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .faces import ATTRIBUTES, labelled_split, load_labels
from .io import atomic_output_dir, atomic_write_bytes, write_json
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
    model: str = ""                            # the base generator: "" = the run's (run.json), else
                                               #   checkpoints/faces-dcgan64 (faces: it holds labels.json, split.json)
    seed: int = 0                              # the shuffle of the tiles (a digit run: also which latents are drawn)
    marks: str = ""                            # "" = draw the grid; else one letter a tile (faces: R / F / C, MARKS;
                                               #   a digit: D / ., DIGIT_MARKS), in reading order, rows may be
                                               #   separated by "/": unblinds and counts
    rater: str = "one developer"               # who counted (written beside the counts)
    n: int = 32                                # a digit run: latents drawn from each stratum (digit_blind_draw)
    out: str = ""                              # a digit run: this draw's folder ("" = RUN/blind-count/seed-S); the
                                               #   scored draws beside it with the same strata are pooled


def blind_layout(n: int, seed: int) -> list[tuple[int, str]]:
    """The tiles of a blind count in shown order: each of n samples twice, ("before" and "after"), shuffled."""
    tiles = [(i, side) for i in range(n) for side in ("before", "after")]
    order = torch.randperm(len(tiles), generator=torch.Generator().manual_seed(seed)).tolist()
    return [tiles[j] for j in order]


def read_marks(marks: str, allowed, n: int) -> list[str]:
    """One mark a tile in reading order ('/', spaces and newlines ignored, letters any case), checked: n of them,
    each one of `allowed`."""
    m = [c for c in marks.upper() if c not in "/ \n"]
    bad = "".join(sorted(set(m) - set(allowed)))
    if len(m) != n or bad:
        raise ValueError(f"give one of {' / '.join(allowed)} for each of the {n} tiles, got {len(m)} marks"
                         + (f" with {bad}" if bad else ""))
    return m


def numbered_pages(images: torch.Tensor, per_page: int | None = None, nrow: int = 8, scale: int = 2,
                   padding: int = 3) -> list:
    """Tiles (N, C, H, W in [-1, 1]) in pages of per_page (None: one page), nrow a row, each pixel drawn scale x
    scale, the row number (counted on across pages) in a margin on the left: what a person marks in reading order."""
    from PIL import Image, ImageDraw

    per_page, pages = per_page or len(images), []
    step = (images.shape[-1] + padding) * scale
    for p in range(0, len(images), per_page):
        page = images[p:p + per_page]
        grid = to_pil(page, nrow=nrow, padding=padding)
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST).convert("RGB")
        img = Image.new("RGB", (grid.width + 40, grid.height), "white")
        img.paste(grid, (40, 0))
        draw = ImageDraw.Draw(img)
        for r in range((len(page) + nrow - 1) // nrow):
            draw.text((8, r * step + step // 2 - 6), f"{p // nrow + r + 1:>2}", fill="black")
        pages.append(img)
    return pages


def score_marks(marks: str, layout: list[tuple[int, str]]) -> dict:
    """Unblind: the marks (one of MARKS per tile, in shown order; '/' and spaces ignored) counted per side.
    "after" counts are the result; "before" counts check the rater against the hand labels (they should be C);
    "clear_before" counts the after-marks of the samples whose before tile was marked C (the feature plainly
    there), the fairest view: a faint feature that is hard to see before is easy to call gone after."""
    m = read_marks(marks, MARKS, len(layout))
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
    z, labels, _ = load_labels(model_dir)
    _, test = labelled_split(model_dir, feature)
    idx = test[labels[feature][test] == 1]
    x = {"before": generate(G_before, z[idx]), "after": generate(G_after, z[idx])}
    layout = blind_layout(len(idx), seed)
    return numbered_pages(torch.stack([x[side][i] for i, side in layout]))[0], idx.tolist(), layout


# --- the count by eye of a digit, blind ---------------------------------------------------------------------------

DIGIT_MARKS = {"D": "the removed digit: a person reads the tile as it", ".": "anything else"}
DIGIT_LATENTS = 5000   # the bank's first latents, which a digit draw splits into strata
DIGIT_PAGE = 64        # tiles a page (8 x 8), each pixel drawn 3 x 3


def digit_blind_draw(G_before, G_after, C, latents: torch.Tensor, target: int, n: int = 32, seed: int = 0):
    """A blind draw for a run that removed digit `target`. The classifier C splits the latents into A (the digit
    before) and B (another digit before, relabelled after: where new look-alikes would appear); n latents of each,
    drawn before and after, all shuffled. Latents in neither stratum are left out:
    C saw no change there. Returns (pages of DIGIT_PAGE tiles, the key that score_digit_marks reads)."""
    from .metrics import classify

    x0, x1 = generate(G_before, latents), generate(G_after, latents)
    l0, l1 = classify(C, x0), classify(C, x1)
    g = torch.Generator().manual_seed(seed)
    strata = {"A": (l0 == target).nonzero().view(-1), "B": ((l0 != target) & (l1 != l0)).nonzero().view(-1)}
    if min(len(v) for v in strata.values()) < n:
        raise ValueError(f"the strata hold {', '.join(f'{k} {len(v)}' for k, v in strata.items())} latents, fewer "
                         f"than n = {n}: draw with a smaller --n")
    picked = {k: v[torch.randperm(len(v), generator=g)[:n]] for k, v in strata.items()}
    tiles = [(k, int(i), side) for k, v in picked.items() for i in v for side in ("before", "after")]
    tiles = [tiles[j] for j in torch.randperm(len(tiles), generator=g).tolist()]
    x = {"before": x0, "after": x1}
    pages = numbered_pages(torch.stack([x[side][i] for _, i, side in tiles]), per_page=DIGIT_PAGE, scale=3)
    return pages, {"target": target, "n": n, "seed": seed, "sizes": {k: len(v) for k, v in strata.items()},
                   "tiles": tiles, "classifier_after_is_target": {f"{k}{i}": int(l1[i] == target) for k, i, _ in tiles}}


def pul_by_eye(marked: dict, n: int, sizes: dict) -> dict:
    """marked: {"A before": tiles marked the digit, "A after": ..., "B before": ..., "B after": ...} out of n a
    stratum and side. The digit's count before and after on the whole bank is estimated stratum by stratum
    (|A| a_before / n + |B| b_before / n, likewise after), and PUL by eye = 100 (1 - after / before)."""
    est = {side: sum(sizes[k] * marked[f"{k} {side}"] / n for k in sizes) for side in ("before", "after")}
    return {"marked": marked, "n_per_stratum": n, "sizes": sizes, "estimated_before": round(est["before"], 1),
            "estimated_after": round(est["after"], 1),
            "pul_by_eye": round(100 * (1 - est["after"] / est["before"]), 1) if est["before"] else None}


def score_digit_marks(marks: str, key: dict) -> dict:
    """Unblind a digit draw: the marks (D or '.', DIGIT_MARKS, one a tile in shown order) counted per stratum and
    side, then pul_by_eye."""
    m = read_marks(marks, DIGIT_MARKS, len(key["tiles"]))
    seen = {f"{k} {side}": 0 for k in key["sizes"] for side in ("before", "after")}
    for (k, _, side), c in zip(key["tiles"], m):
        seen[f"{k} {side}"] += c == "D"
    return {**pul_by_eye(seen, key["n"], key["sizes"]), "marks": marks}


def pool_digit_counts(counts: list[dict]) -> dict:
    """Scored draws of one run on one base (the same strata) counted together: the marks summed, then pul_by_eye."""
    if any(c["sizes"] != counts[0]["sizes"] for c in counts):
        raise ValueError("the draws are of different runs or bases (their strata differ)")
    marked = {k: sum(c["marked"][k] for c in counts) for k in counts[0]["marked"]}
    return {**pul_by_eye(marked, sum(c["n_per_stratum"] for c in counts), counts[0]["sizes"]),
            "draws": [c["pul_by_eye"] for c in counts]}


def _run_digit_blind_count(cfg: BlindCountConfig, run: Path, info: dict, overwrite: bool) -> dict:
    import json

    from . import catalog
    from .models import load_generator, load_model
    from .pipeline import public_path
    from .sampling import load_latent_bank

    base = cfg.model or info.get("base_model") or "checkpoints/mnist-dcgan"
    draw = Path(cfg.out) if cfg.out else run / "blind-count" / f"seed-{cfg.seed}"
    command = (f"python -m atu blind-count --run {public_path(cfg.run)} --seed {cfg.seed} --n {cfg.n}"   # as records
               + (f" --model {public_path(cfg.model)}" if cfg.model else "")                            #   name folders
               + (f" --out {public_path(cfg.out)}" if cfg.out else ""))
    if not cfg.marks:
        m = catalog.by_path(base)
        if m is None or info["feature"] not in m.features:
            raise ValueError(f"{base} is not a catalogued base model with {info['feature']!r}: give --model, the "
                             "base folder the run was made from")
        C = load_model(m.classifier_path(info["feature"]), kind="classifier")
        pages, key = digit_blind_draw(load_generator(base), load_generator(run), C,
                                      load_latent_bank(base)[:DIGIT_LATENTS], m.target(info["feature"]), cfg.n,
                                      cfg.seed)
        with atomic_output_dir(draw, overwrite) as tmp:
            for k, page in enumerate(pages):
                page.save(tmp / f"blind-{k + 1}.png")
            write_json(tmp / "blind_key.json", {"run": public_path(run), "base": public_path(base), "command": command,
                                                **key})
        return {"grid": [str(draw / f"blind-{k + 1}.png") for k in range(len(pages))], "tiles": len(key["tiles"]),
                "next": f"look at the pages only (not blind_key.json), mark each tile {' or '.join(DIGIT_MARKS)} "
                        f"({DIGIT_MARKS['D']}; {DIGIT_MARKS['.']}) in reading order, then run again with --marks"}
    if not (draw / "blind_key.json").is_file():
        raise FileNotFoundError(f"{draw} holds no draw: run without --marks first (same --seed / --out)")
    res = {**score_digit_marks(cfg.marks, json.loads((draw / "blind_key.json").read_text())),
           "rater": f"{cfg.rater}, blind to the side and the stratum of each tile", "command": command}
    write_json(draw / "blind_count.json", res)
    counts = {f.parent.name: json.loads(f.read_text()) for f in sorted(draw.parent.glob("*/blind_count.json"))}
    counts = {name: c for name, c in counts.items() if c["sizes"] == res["sizes"]}   # the draws of this run and base
    pooled = pool_digit_counts(list(counts.values()))
    return {"out": str(draw / "blind_count.json"), **{k: res[k] for k in ("marked", "pul_by_eye")},
            "pooled": {**{k: pooled[k] for k in ("marked", "pul_by_eye")},
                       "draws": dict(zip(counts, pooled["draws"]))}}


def run_blind_count(cfg: BlindCountConfig, overwrite: bool = False) -> dict:
    """`python -m atu blind-count`. A face run: without --marks, write blind_<feature>.png (and its key) into the run
    folder and stop; look at the PNG only, mark every tile, then run again with --marks to unblind into
    labelled_count.json. A digit run (run.json's feature "digit N"): the same in two steps, the draw's pages and key
    in RUN/blind-count/seed-S/ (or --out), its count in blind_count.json there, pooled with the draws beside it."""
    import json

    from .models import load_generator

    run = Path(cfg.run)
    if not cfg.run or not (run / "config.json").is_file():
        raise ValueError("give --run: the unlearned model's folder (with config.json)")
    info = json.loads((run / "run.json").read_text()) if (run / "run.json").is_file() else {}
    if str(info.get("feature", "")).startswith("digit "):
        return _run_digit_blind_count(cfg, run, info, overwrite)
    cfg = replace(cfg, model=cfg.model or info.get("base_model") or "checkpoints/faces-dcgan64")
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
