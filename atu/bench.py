"""The MNIST benchmark: every method through the same metrics, on the same latents, PUL counted by the training
classifier and by the independent evaluator (a row where they differ by more than 3 points is flagged).

    python -m atu.bench mnist                 # the README table (classes 0-9; 3 seeds for 1, 4, 8)
    python -m atu.bench mnist --quick         # minutes: classes 1, 4, 8, one seed, EL2 / none / extrapolation
    python -m atu.bench mnist-ddpm            # the diffusion family (checkpoints/mnist-ddpm): 1, 4, 8 x 3 seeds
    python -m atu.bench speed                 # one feature end to end per catalogued model and preset, timed

Per class and seed, stage 1 runs once and its theta_N serves every repulsion loss and the extrapolation
baseline (best g by PUL among those with FID ratio <= 1.5). Retraining from scratch (the gold standard; it
needs the data) is trained with the base model's own schedule. Writes JSON and a markdown table.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch


from .baselines import extrapolate, retrain
from .catalog import HOLD, KEEP_WEIGHT
from .feedback import pick_negatives
from .metrics import fid, metric, registered_metrics
from .pipeline import (RunConfig, adapt_stage, co_classifier_paths, grading_classifier, latent_stage, load_base,
                       is_diffusion, make_probe, measure, unlearn_stage)
from .sampling import generate, load_latent_bank

PAPER = {  # method.md, paper Tables 1 and 3 (StyleGAN2, Inception FID): PUL / FID for EL2 and extrapolation
    1: {"el2": (99.32, 9.65), "extrapolation": (95.10, 41.39), "retrain": (98.80, 4.94)},
    4: {"el2": (96.23, 10.24), "extrapolation": (94.50, 17.90), "retrain": (98.58, 5.24)},
    8: {"el2": (95.22, 8.89), "extrapolation": (90.90, 45.79), "retrain": (99.72, 4.80)},
}
PAPER_BASE_FID = 5.4
PAPER_FACES = {  # method.md, CelebA-HQ (StyleGAN2, pre-trained FID 5.3): PUL / FID; Hat stands for our headwear
    "headwear": {"el2": (94.40, 9.45), "extrapolation": (94.35, 12.18), "retrain": (98.65, 6.35)},
    "eyeglasses": {"el2": (93.63, 9.66), "extrapolation": (92.80, 23.70), "retrain": (58.57, 6.50)},
}
PAPER_FACES_BASE_FID = 5.3


def faces_config(feature: str, seed: int = 0, model: str = "checkpoints/faces-dcgan64") -> RunConfig:
    """The faces run is the app's "fast" preset on faces-dcgan64 (atu.session.run_config with the model's own
    overrides, atu.catalog): K = 2 adapted models x 150 steps, 300 stage-2 steps at batch 16, 1,000 positives,
    metrics on 2,000 latents, a fresh D started from the feature classifier's network (RunConfig.fresh_d) and
    warmed up for 100 steps before each stage, G's BatchNorm statistics kept fixed in stage 2 (g_bn_frozen)."""
    from . import catalog, session

    return session.run_config(catalog.BASE_MODELS["faces-dcgan64"], feature, "fast", seed=seed,
                              root=Path(model).parent)


def mnist_config(model: str = "checkpoints/mnist-dcgan", family: str = "") -> RunConfig:
    """The MNIST run is the app's (and the CLI's) "standard" preset for the catalogued model, measured on the
    paper's 5,056 latents (method.md). A folder the catalog does not know (a new training run) gets the recipe of
    the catalogued `family` it belongs to, with the shipped classifiers (the mnist-ddpm suite passes its own: a
    DDPM run under the GAN's defaults is another method, and 3x slower); without a family, RunConfig's defaults."""
    from . import catalog, session

    m = catalog.by_path(model)
    if m is not None:
        cfg = session.run_config(m, next(iter(m.features)), "standard", root=Path(model).parent)
    elif family:
        m = catalog.BASE_MODELS[family]
        cfg = dataclasses.replace(session.run_config(m, next(iter(m.features)), "standard", root=Path("checkpoints")),
                                  model=model)
    else:
        cfg = RunConfig(model=model)
    return dataclasses.replace(cfg, eval_latents=5056)


def bench_faces(features, seeds, losses, out: Path, save_models: str = "") -> list[dict]:
    rows = []
    for feat in features:
        base = load_base(faces_config(feat))
        for s in seeds:
            new = bench_class(faces_config(feat, s), base, losses,
                              save_dir=Path(save_models) / f"{feat}-s{s}" if save_models else None)
            for r in new:
                r["feature"] = feat
                print(f"{feat} seed {s} {r['method']:>13}: PUL {r['pul']:6.2f} / E {r.get('pul_independent', -1):6.2f} (rate after "
                      f"{r['neg_rate_after']:.3f})  FID x{r['fid_ratio']:.2f}  "
                      f"collateral {r['collateral']:.3f}  colour TV {r['color_hist_tv']:.3f}  "
                      f"HF x{r['high_frequency_ratio']:.2f}  {r['seconds'] or 0:.0f} s", flush=True)
            rows += new
            (out / "rows.json").write_text(json.dumps(rows, indent=2, default=float))
    return rows
G_GRID = (1.25, 1.5, 2.0, 2.5, 3.0)
VARIANTS = {"noneg": {"neg_weight": 0.0, "redirect_weight": 0.0}, "noguide": {"guide_weight": 0.0},
            "keep": {"keep_weight": KEEP_WEIGHT},   # keep: the class keep beside the rest (measured at 0.3)
            "hold": HOLD,   # hold (DDPM): the anchor at 3 and the negative terms below t = 900 (atu.catalog.HOLD)
            "pure": {"neg_pool_min_p": 0.5}}   # pure (DDPM): the negative pool keeps only the adapted models' samples
                                               #   the training classifier labels as the feature (p >= 0.5)


def method_config(cfg: RunConfig, method: str) -> RunConfig:
    """A stage-2 method by name: a repulsion loss ("el2", "none", ...) with the run's stage 2 as it is (the
    negative-aware D and the classifier guide included), "<loss>-noneg" for the same without the negative-aware D
    (neg_weight 0; on a DDPM without any negative term: redirect_weight 0 too), "<loss>-noguide" without the guide
    (guide_weight 0), "<loss>-keep" with the class keep at weight 0.3 (GAN), "<loss>-hold" with the DDPM's option
    atu.catalog.HOLD (the anchor at weight 3, the negative terms below t = 900), "<loss>-pure" with the DDPM's negative
    pool filtered to the feature (unlearn.neg_pool_min_p 0.5); variants compose ("el2-noneg-keep"); or
    "latent" (latent steering, atu.latent: no stage 1)."""
    if method == "latent":
        return dataclasses.replace(cfg, method="latent")
    loss, *variants = method.split("-")
    if any(v not in VARIANTS for v in variants):
        raise ValueError(f"unknown method {method!r}: a repulsion loss, optionally with -noneg, -noguide, -keep, "
                         "-hold or -pure (they compose: el2-noneg-keep)")
    u = dataclasses.replace(cfg.unlearn, loss=loss, **{k: v for x in variants for k, v in VARIANTS[x].items()})
    return dataclasses.replace(cfg, method="adapt-then-unlearn", unlearn=u)


def bench_class(cfg: RunConfig, base, losses, retrained=None, retrain_seconds: float | None = None,
                save_dir: Path | None = None, grid: tuple[float, ...] = G_GRID, on_row=None) -> list[dict]:
    """All methods for one class and seed: list of rows {method, pul, fid_ratio, ret_fid, collateral, seconds};
    on_row(row) hears each row as soon as it is measured (a DDPM's methods take minutes each).
    `retrained` (trained once per class) gives every row its Ret-FID; its own row comes only with
    `retrain_seconds` (the class's first seed), so that one model is not counted as three seeds. `save_dir`:
    each method's generator is saved in save_dir/<method>/ (for the count by eye, atu.by_eye.run_blind_count)."""
    G, D, C = base
    if not is_diffusion(G) and any("hold" in m.split("-")[1:] for m in losses):
        raise ValueError("-hold is the DDPM's option (the anchor on its sampler's paths, the negative terms' "
                         "timesteps): a GAN has none of them; use -keep to hold a GAN's other digits")
    events: list[dict] = []
    probe = make_probe(cfg, G, C)
    probe_rate = lambda g: {} if g is G else probe(g)  # noqa: E731  (stage 1's purity only: the base's curve is not drawn here)
    t0 = time.time()
    negatives = pick_negatives(G, C, cfg.target, cfg.n_negatives, seed=cfg.seed)
    theta_N = adapt_stage(cfg, base, negatives, events.append, probe_rate)
    t_adapt = time.time() - t0
    log = lambda e: None  # noqa: E731  (stage 2 progress is not needed here)
    # stage-1 purity: the probe negative rate adapt_stage measured on each adapted model when it finished
    purity = [e["neg_rate"] for e in events if e["stage"] == "adapt" and e.get("done")]
    rows, positives = [], None
    latents = load_latent_bank(cfg.model)[:cfg.eval_latents]
    ref = generate(retrained, latents) if retrained is not None else None
    co = ",".join(p.name for p in co_classifier_paths(cfg))   # what picked negatives and positives beside C
    grader = grading_classifier(C)   # Ret-FID on the features measure() reads

    def row(method, G_after, seconds, **extra):
        m = measure(cfg, G, G_after, C)
        if ref is not None and method != "retrain":   # the retrained model against itself is 0 by definition
            m["ret_fid"] = fid(ref, generate(G_after, latents), grader)["fid"]
        rows.append({"method": method, "target": cfg.target, "seed": cfg.seed, "seconds": seconds,
                     "stage1_purity": sum(purity) / len(purity),
                     "co_classifiers": "" if method == "retrain" else co, **extra, **m})
        if on_row is not None:
            on_row(rows[-1])

    for method in losses:
        c = method_config(cfg, method)
        t1 = time.time()   # no probes during stage 2 here (nothing draws them): they would cost ~10% of its time
        if c.method == "latent":   # no stage 1: its seconds are its own
            G_after, info = latent_stage(c, base, log, lambda g: {})
            row(method, G_after, time.time() - t1, **info)
        else:
            res, positives = unlearn_stage(c, base, theta_N, log, lambda g: {}, positives, negatives=negatives)
            G_after = res.G_ema
            pool = {"neg_pool_draws": res.neg_pool_draws} if c.unlearn.neg_pool_min_p > 0 else {}
            row(method, G_after, t_adapt + time.time() - t1, d_end=res.history[-1].get("distance"),
                positive_draws=res.positive_draws, **pool)   # pool: a DDPM's draws for its negative pool
        if save_dir is not None:
            G_after.save_pretrained(save_dir / method)
    cands = []
    for g in grid:   # an empty grid skips the baseline
        t1 = time.time()
        Gx = extrapolate(G, theta_N, g)
        m = measure(cfg, G, Gx, C)
        cands.append((g, m, time.time() - t1))
    if cands:
        ok = [c for c in cands if c[1]["fid_ratio"] <= 1.5] or cands[:1]
        g_best, _, sec = max(ok, key=lambda c: c[1]["pul"])
        row("extrapolation", extrapolate(G, theta_N, g_best), t_adapt + sec, g=g_best,
            sweep={str(g): {"pul": m["pul"], "fid_ratio": m["fid_ratio"]} for g, m, _ in cands})
    if retrained is not None and retrain_seconds is not None:
        row("retrain", retrained, retrain_seconds, seed=0)   # baselines.retrain's seed, whatever the run's
    return rows


SUMMARY_KEYS = ("pul", "pul_independent", "neg_rate_after", "fid_ratio", "fid_ratio_independent", "ret_fid",
                "collateral", "collateral_independent", "color_hist_tv", "high_frequency_ratio",
                "classifier_agreement_after", "seconds")
PUL_GAP_FLAG = 3.0   # points: a row whose two PULs differ by more is flagged (one classifier is fooled or unsure)


def mean_std(vals: list[float]) -> tuple[float | None, float | None]:
    """(mean, sample std) of the values; std 0 for one value, (None, None) for none."""
    if not vals:
        return None, None
    return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def summarise(rows: list[dict]) -> list[dict]:
    """Mean +- std over seeds per (target, method); a (target, method, seed) seen twice counts once."""
    groups: dict[tuple, list[dict]] = {}
    seen = set()
    for r in rows:
        key = (r.get("feature", r["target"]), r["method"])
        if (*key, r["seed"]) in seen:   # the same run twice (e.g. one retrained model from two merged invocations)
            continue
        seen.add((*key, r["seed"]))
        groups.setdefault(key, []).append(r)
    return [{"target": t, "method": meth, "n_seeds": len(rs),
             **{k: mean_std([r[k] for r in rs if r.get(k) is not None]) for k in _summary_keys()}}
            for (t, meth), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1]))]


def across_targets(summary: list[dict]) -> list[dict]:
    """One row per method: the mean (and std) over targets of each target's seed mean, so every digit counts once
    however many seeds it has. target = "mean of N". A metric only some targets have (Ret-FID exists only for the
    retrained digits) is left out rather than averaged over that subset."""
    by: dict[str, list[dict]] = {}
    for r in summary:
        by.setdefault(r["method"], []).append(r)

    def over(rs, key):
        vals = [r[key][0] for r in rs if r[key][0] is not None]
        return mean_std(vals) if len(vals) == len(rs) else (None, None)

    return [{"target": f"mean of {len(rs)}", "method": meth, "n_seeds": sum(r["n_seeds"] for r in rs),
             **{k: over(rs, k) for k in _summary_keys()}}
            for meth, rs in sorted(by.items())]


# Table columns per suite: (title, summary key, decimals), titles from the metric registry (atu.metrics). The first
# column names the digit or feature; a suite may show more decimals than the registry's display default.
def _col(key: str, decimals: int | None = None) -> tuple[str, str, int]:
    m = metric(key)
    unit = {" %": " %", " s": " (s)"}.get(m.unit, "")
    return m.label + unit, key, m.decimals if decimals is None else decimals


COLUMNS = {
    "mnist": ("digit", [_col("pul", 2), _col("pul_independent", 2), _col("fid_ratio"), _col("ret_fid"),
                        _col("collateral"), _col("collateral_independent"), _col("seconds")],
              "paper PUL / FID", PAPER, PAPER_BASE_FID),
    "faces": ("feature", [_col("pul"), _col("pul_independent"), _col("neg_rate_after"), _col("fid_ratio"),
                          _col("fid_ratio_independent"), _col("collateral"), _col("color_hist_tv"),
                          _col("high_frequency_ratio"), _col("seconds")],
              "paper CelebA-HQ PUL / FID", PAPER_FACES, PAPER_FACES_BASE_FID),
}


SHOWN_WHERE_MEASURED = {"collateral_independent"}   # columns left out of a table no row of which has them (rows
#   from before the metric existed)


def pul_gap(r: dict) -> float | None:
    """PUL by the training classifier minus PUL by the independent evaluator (summary row: seed means)."""
    a, b = r.get("pul", (None,))[0], r.get("pul_independent", (None,))[0]
    return None if a is None or b is None else a - b


def _summary_keys() -> tuple[str, ...]:
    """What summarise averages: the suites' columns and every registered metric with its own compute."""
    return SUMMARY_KEYS + tuple(m.key for m in registered_metrics() if m.compute is not None)


def markdown(summary: list[dict], suite: str = "mnist") -> str:
    """The summary as a markdown table, with the paper's PUL / FID (and its FID ratio) beside each method."""
    first, cols, paper_title, paper, base_fid = COLUMNS[suite]
    def some(key):
        return any(r.get(key, (None,))[0] is not None for r in summary)

    cols = [c for c in cols if c[1] not in SHOWN_WHERE_MEASURED or some(c[1])]
    cols = cols + [_col(m.key) for m in registered_metrics()   # a registered metric with its own compute: a column
                   if m.compute is not None and some(m.key)]

    def f(v, nd):
        m, s = v
        return "-" if m is None else (f"{m:.{nd}f}" if not s else f"{m:.{nd}f} ± {s:.{nd}f}")

    flags = any(r.get("pul_independent", (None,))[0] is not None for r in summary)
    titles = [first, "method", "seeds", *(c[0] for c in cols), *(["PULs differ"] if flags else []), paper_title]
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for r in summary:
        p = paper.get(r["target"], {}).get(r["method"])
        gap = pul_gap(r)
        cells = [r["target"], r["method"], r["n_seeds"], *(f(r[key], nd) for _, key, nd in cols),
                 *([f"**{gap:+.1f}**" if abs(gap) > PUL_GAP_FLAG else ""] if flags and gap is not None else
                   [""] if flags else []),
                 f"{p[0]:.2f} / {p[1]:.2f} ({p[1] / base_fid:.2f}x)" if p else ""]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def write_summary(rows: list[dict], out: Path, suite: str) -> None:
    """rows.json, summary.json and table.md in `out`; prints the table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.json").write_text(json.dumps(rows, indent=2, default=float))
    summary = summarise(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    table = markdown(summary, suite)
    if len({r["target"] for r in summary}) > 2:   # many digits: a per-method line over them all, as a second table
        table += "\n\n" + markdown(across_targets(summary), suite).replace("| seeds |", "| runs |", 1)
    (out / "table.md").write_text(table + "\n")
    print(table)


SPEED_RUNS = "mnist-dcgan:digit 8:standard,mnist-dcgan:digit 8:fast,faces-dcgan64:eyeglasses:fast,mnist-ddpm:digit 8:fast"
SPEED_TARGETS = {"mnist-dcgan": 90, "faces-dcgan64": 300, "mnist-ddpm": 600}   # s, end to end (issues #13, #14, #17)


def machine() -> dict:
    """What a time was measured on: CPU model, cores, torch threads, torch version."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (info.read_text().splitlines() if info.exists() else [])
             if line.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()   # this process's
    return {"cpu": cpu, "cores": cores, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d")}


def parse_speed_runs(spec: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """--runs "base:feature:preset[:option+option],...": (base, feature, preset, the model's options the app's
    Settings add, atu.catalog.BaseModel.options). A malformed item raises ValueError."""
    runs = []
    for item in (r for r in spec.split(",") if r):
        parts = item.split(":")
        if len(parts) not in (3, 4):
            raise ValueError(f"--runs takes base:feature:preset[:option+option] items, got {item!r}")
        runs.append((*parts[:3], tuple(o for o in (parts[3] if len(parts) == 4 else "").split("+") if o)))
    return runs


def speed_label(preset: str, options) -> str:
    """A speed run's preset as the table and the log name it: the preset, then any option ticked."""
    return " + ".join((preset, *options))


def speed_configs(runs: list[tuple[str, str, str, tuple[str, ...]]], seed: int = 0) -> list[RunConfig]:
    """The app's config for each (base, feature, preset, options): a wrong name fails here, before anything runs."""
    from . import catalog, session

    return [session.run_config(catalog.get(base_name), feature, preset, seed=seed, options=options)
            for base_name, feature, preset, options in runs]


def bench_speed(runs: list[tuple[str, str, str, tuple[str, ...]]], seed: int = 0, on_row=None) -> list[dict]:
    """Each (base, feature, preset, options) run exactly as the app (those options ticked) and `python -m atu
    unlearn --base B --feature F --preset P` make it (atu.session.run_config), timed end to end: loading the base model, picking the negatives, both
    stages, the metrics (`run_unlearning`'s seconds; writing the run folder is not included)."""
    from .pipeline import run_unlearning

    rows = []
    for (base_name, feature, preset, options), cfg in zip(runs, speed_configs(runs, seed)):
        res = run_unlearning(cfg)
        m = res.metrics
        rows.append({"base": base_name, "feature": feature, "preset": preset, "options": list(options), "seed": seed,
                     "method": cfg.method, "eval_latents": cfg.eval_latents,
                     "seconds": {k: round(v, 1) for k, v in res.seconds.items()},
                     "target_s": SPEED_TARGETS.get(base_name), **{k: m.get(k) for k in (
                         "pul", "pul_independent", "fid_ratio", "collateral")}, "machine": machine()})
        r = rows[-1]
        print(f"{base_name} / {feature} / {speed_label(preset, options)}: {r['seconds']['total']:.0f} s "
              f"(target {r['target_s']} s), PUL {r['pul']:.1f} / {r['pul_independent'] or float('nan'):.1f}", flush=True)
        if on_row is not None:
            on_row(rows)
    return rows


def speed_markdown(rows: list[dict]) -> str:
    """The speed rows as a markdown table, each total against its target."""
    lines = ["| model | feature | preset | method | load + stage 1 (s) | stage 2 (s) | metrics (s) | total (s) | target (s) | "
             "PUL / evaluator | latents |", "|" + "---|" * 11]
    for r in rows:
        s, t = r["seconds"], r["target_s"]
        verdict = "" if t is None else (" (met)" if s["total"] <= t else f" (**missed by {s['total'] - t:.0f}**)")
        pb = "-" if r["pul_independent"] is None else f"{r['pul_independent']:.1f}"
        lines.append(f"| {r['base']} | {r['feature']} | {speed_label(r['preset'], r.get('options', ()))} | "
                     f"{r['method']} | {s['adapt']:.0f} | "
                     f"{s['unlearn']:.0f} | {s['metrics']:.0f} | {s['total']:.0f}{verdict} | {t or '-'} | "
                     f"{r['pul']:.1f} / {pb} | {r['eval_latents']} |")
    m = rows[0]["machine"] if rows else machine()
    return "\n".join(lines) + (f"\n\nOn {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, torch "
                               f"{m['torch']}, {m['date']}.")


def retrained_model(model: str, target: int, steps: int | None, folder: str = ""):
    """(G_ema retrained from scratch without `target`, training seconds). With `folder`, a model saved there by an
    earlier run (folder/<target>/ with retrain.json) is reused, and a new one is saved there: retraining costs
    hours a class on the CPU. A base trained in several runs saves each run but the last in folder/<target>/runs/,
    and a retraining stopped after one of them goes on from it."""
    import atu

    saved = Path(folder) / str(target) if folder else None
    if saved is not None and (saved / "retrain.json").is_file():
        info = json.loads((saved / "retrain.json").read_text())
        return atu.load_generator(saved), float(info["seconds"])
    res = retrain(model, target, steps, runs_dir=str(saved / "runs") if saved is not None else None)
    G, seconds = res.G_ema, res.seconds   # the training time of every run, those read back from runs/ included
    if saved is not None:
        G.save_pretrained(saved)
        (saved / "retrain.json").write_text(json.dumps({"target": target, "seed": 0, "seconds": seconds,
                                                        "steps": steps}, indent=2))
    return G, seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m atu.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", choices=["mnist", "mnist-ddpm", "faces", "speed"],
                   help="mnist-ddpm: the mnist suite on checkpoints/mnist-ddpm, by default classes 1, 4, 8 x seeds "
                        "0, 1, 2 without retraining; speed: --runs end to end, timed (run it on an idle machine)")
    p.add_argument("--runs", default=SPEED_RUNS, help="speed: comma list of base:feature:preset[:option+option] "
                   "(options: the model's atu.catalog options, as ticked in the app; names hold no ':', ',' or '+')")
    p.add_argument("--features", default="eyeglasses,headwear", help="faces: comma list")
    p.add_argument("--merge", default="", help="comma list of rows.json from earlier runs: summarise them together "
                                                "(e.g. seeds run separately) into --out, without running anything")
    p.add_argument("--quick", action="store_true", help="classes 1,4,8, one seed, el2/none, no retraining")
    p.add_argument("--classes", default=None, help="comma list (default 0-9; quick: 1,4,8)")
    p.add_argument("--seeds", default=None, help="comma list of seeds for every class (default 0; mnist-ddpm: 0,1,2)")
    p.add_argument("--extra-seeds", default="1,2", help="more seeds for the paper's classes 1, 4, 8")
    p.add_argument("--losses", default=None, help="comma list of stage-2 methods: a repulsion loss, or loss-noneg "
                                                  "without the negative-aware D (default el2,none,el2-noneg; "
                                                  "quick: el2,none)")
    p.add_argument("--retrain", default="1,4,8", help="classes to retrain from scratch ('' = none)")
    p.add_argument("--retrain-steps", type=int, default=None, help="default: the base model's own schedule")
    p.add_argument("--retrained-dir", default="", help="reuse (and save) retrained models in DIR/<class>/")
    p.add_argument("--model", default="checkpoints/mnist-dcgan")
    p.add_argument("--out", default="bench_out/mnist")
    p.add_argument("--save-models", default="", help="save each method's generator in DIR/<feature>-s<seed>/<method>/ "
                                                      "(mnist: DIR/digit<c>-s<seed>/<method>/), to look at or count "
                                                      "by eye (python -m atu blind-count)")
    p.add_argument("--eval-latents", type=int, default=None, help="metrics on the bank's first N latents "
                                                                    "(default: the paper's 5,056, or the whole bank)")
    p.add_argument("--grid", default=",".join(map(str, G_GRID)),
                   help="extrapolation's g values (comma list; MNIST: '' = no extrapolation baseline)")
    p.add_argument("--co-classifiers", default="auto",
                   help="mnist suites: RunConfig.co_classifiers, the classifiers read beside the training classifier "
                        "wherever samples are picked ('auto' = the catalog's; '' = none, the default before session "
                        "28; or comma-separated folders)")
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args(argv)
    family = "mnist-ddpm" if a.suite == "mnist-ddpm" else ""
    if a.suite == "mnist-ddpm":   # the same suite on the diffusion model, with its own defaults
        a.suite = "mnist"
        a.model = "checkpoints/mnist-ddpm" if a.model == "checkpoints/mnist-dcgan" else a.model
        a.out = "bench_out/mnist-ddpm" if a.out == "bench_out/mnist" else a.out
        a.classes, a.seeds = a.classes or "1,4,8", a.seeds or "0,1,2"
        a.extra_seeds, a.retrain = "", a.retrain if a.retrain != "1,4,8" else ""
    a.seeds = a.seeds or "0"
    grid = tuple(float(g) for g in a.grid.split(",") if g.strip())
    if a.merge:
        if a.suite == "speed":
            p.error("speed has no --merge: its table is one run of --runs")
        if a.dry_run:   # the plan only: the files may not exist yet (the runs that write them come first)
            print(f"merge {a.merge} into {a.out}")
            return 0
        rows = [r for f in a.merge.split(",") for r in json.loads(Path(f).read_text())]
        print(f"merge {len(rows)} rows from {a.merge} into {a.out}")
        write_summary(rows, Path(a.out), a.suite)
        return 0
    if a.suite == "speed":
        seeds = [int(x) for x in a.seeds.split(",") if x]
        if len(seeds) != 1:
            p.error(f"speed takes one seed, got {a.seeds!r}")
        try:
            runs = parse_speed_runs(a.runs)
            speed_configs(runs, seeds[0])   # a wrong base, feature, preset or option is refused before anything runs
        except ValueError as e:
            p.error(str(e))
        print(f"speed: {len(runs)} runs end to end, one at a time: "
              f"{', '.join(speed_label(':'.join(r[:3]), r[3]) for r in runs)}")
        if a.dry_run:
            return 0
        out = Path(a.out if a.out != "bench_out/mnist" else "bench_out/speed")
        out.mkdir(parents=True, exist_ok=True)

        def save(rows):   # after every run: a crash in a later one keeps the earlier rows
            (out / "speed.json").write_text(json.dumps(rows, indent=2))
            (out / "table.md").write_text(speed_markdown(rows) + "\n")

        print(speed_markdown(bench_speed(runs, seeds[0], on_row=save)))
        return 0
    if a.suite == "faces":
        feats, seeds = a.features.split(","), [int(x) for x in a.seeds.split(",") if x]
        losses = (a.losses or ("latent,el2" if a.quick else "latent,el2,el2-noneg")).split(",")
        print(f"faces: {feats} x seeds {seeds} x {losses + ['extrapolation']}")
        if a.dry_run:
            return 0
        out = Path(a.out if a.out != "bench_out/mnist" else "bench_out/faces")
        out.mkdir(parents=True, exist_ok=True)
        write_summary(bench_faces(feats, seeds, losses, out, a.save_models), out, "faces")
        return 0
    classes = [int(c) for c in (a.classes or ("1,4,8" if a.quick else ",".join(map(str, range(10))))).split(",")]
    seeds = [int(s) for s in a.seeds.split(",") if s]
    extra = [] if a.quick else [int(s) for s in a.extra_seeds.split(",") if s]
    losses = (a.losses or ("el2,none" if a.quick else "el2,none,el2-noneg")).split(",")
    retrain_classes = [] if a.quick and a.retrain == "1,4,8" else [int(c) for c in a.retrain.split(",") if c]
    plan = [(c, s) for c in classes for s in seeds + (extra if c in (1, 4, 8) else [])]
    methods = losses + ["extrapolation"] * bool(grid)
    base_cfg = dataclasses.replace(mnist_config(a.model, family), co_classifiers=a.co_classifiers)
    co = ",".join(p.name for p in co_classifier_paths(base_cfg)) or "none"
    print(f"{len(plan)} (class, seed) runs x methods {methods}; retrain {retrain_classes}; co-classifiers {co}")
    if a.dry_run:
        return 0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.eval_latents:
        base_cfg = dataclasses.replace(base_cfg, eval_latents=a.eval_latents)
    bases = {}   # loaded once per set of co-classifiers (the catalog gives every digit the same one)

    def base_for(cfg):
        key = tuple(co_classifier_paths(cfg))
        if key not in bases:
            bases[key] = load_base(cfg)
        return bases[key]

    rows = []
    for c in classes:
        retrained, retrain_seconds = None, None
        if c in retrain_classes:
            retrained, retrain_seconds = retrained_model(a.model, c, a.retrain_steps, a.retrained_dir)
            print(f"retrained without {c} in {retrain_seconds:.0f} s")
        for s in [s for (cc, s) in plan if cc == c]:
            cfg = dataclasses.replace(base_cfg, target=c, feature=f"digit {c}").with_seed(s)   # every stage's seed, as the CLI's --seed

            def report(r, c=c, s=s):   # each row as it comes, and rows.json so far (a long run can be stopped)
                rows.append(r)
                print(f"digit {c} seed {s} {r['method']:>13}: PUL {r['pul']:6.2f} / B {r.get('pul_independent', -1):6.2f}"
                      f"  FID x{r['fid_ratio']:.2f}  "
                      f"collateral {r['collateral']:.3f}  {r['seconds'] or 0:.0f} s", flush=True)
                (out / "rows.json").write_text(json.dumps(rows, indent=2, default=float))

            bench_class(cfg, base_for(cfg), losses, retrained, retrain_seconds, grid=grid, on_row=report,
                        save_dir=Path(a.save_models) / f"digit{c}-s{s}" if a.save_models else None)
            retrain_seconds = None   # the retrained model's own row: once per class
    write_summary(rows, out, "mnist")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
