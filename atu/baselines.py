"""Baselines that go through the same metrics: extrapolation in parameter space (no training) and retraining
from scratch on the real training digits without the class (needs the data: the gold standard)."""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch.nn.utils import vector_to_parameters

from .adapt import flatten
from .data import mnist_split
from .io import atomic_output_dir, write_json
from .train import train_gan


def extrapolate(G, theta_N: torch.Tensor, g: float):
    """theta = theta_N + g (theta_G - theta_N), written as theta_G + (g - 1)(theta_G - theta_N) so that g = 1
    returns theta_G exactly. theta_N: (P,) or (K, P) (then their mean). Buffers (BN statistics) are G's."""
    theta_G = flatten(G)
    tn = theta_N.mean(0) if theta_N.dim() == 2 else theta_N
    out = copy.deepcopy(G).eval()
    vector_to_parameters(theta_G + (g - 1) * (theta_G - tn), out.parameters())
    return out


def retrain(model_dir: str, target: int, steps: int | None = None, seed: int = 0, runs_dir: str | None = None):
    """Train the base model's architecture from scratch with its own recipe on the real training digits without
    `target`: every run that made it (metrics.json's earlier_runs, then train_config.json), each going on from the
    one before as --init did, a sharpening term told that the class is gone. `seed` replaces the first run's seed
    and moves the later runs' by as much (the recipe's own first seed replays its draws); `steps` replaces every
    run's. Returns the last run's GANTrainResult (use .G_ema), its .seconds the training time of every run.

    runs_dir: each run but the last saves its raw G, D and EMA G there (runs_dir/run-<i>/, with run.json), and a later
    call with the same model, class, seed and steps goes on from the last saved run instead of training it again,
    so that a retraining of hours that stops between runs loses only the run it was in."""
    from .io import dataclass_from_dict
    from .mnist import GANRunConfig, new_gan, sharpening

    folder = Path(model_dir)
    last = json.loads((folder / "train_config.json").read_text())
    earlier = json.loads((folder / "metrics.json").read_text()).get("earlier_runs", []) if last.get("init") else []
    if any("config" not in r for r in earlier):
        raise ValueError(f"{model_dir} went on from earlier runs whose options it did not record (metrics.json's "
                         "earlier_runs has commands only): retraining it from scratch would need every run replayed "
                         "without the class; train it again with this atu, or pass --retrain '' to the benchmark")
    runs = [dataclass_from_dict(GANRunConfig, r) for r in [*(e["config"] for e in earlier), last]]
    x, _ = mnist_split("train", exclude_class=target)
    res, seconds = None, 0.0
    for i, cfg in enumerate(runs):
        run_seed = (cfg.train.seed + seed - runs[0].train.seed) % 2**32   # numpy's seeds are 0 <= s < 2**32
        tcfg = replace(cfg.train, seed=run_seed, **({"steps": steps} if steps else {}))
        # what makes a saved run this run: the model's recipe up to it, the class, the seed and the steps
        key = {"model": str(folder), "target": target, "seed": seed, "steps": steps,
               "configs": [asdict(r) for r in runs[:i + 1]]}
        saved = _saved_run(runs_dir, i, key) if i < len(runs) - 1 else None
        if saved is not None:
            res, seconds = saved, seconds + saved.seconds
            print(f"retrain without {target}: run {i + 1} of {len(runs)} read from {runs_dir}", flush=True)
            continue
        fake = sharpening(cfg, exclude=target) if cfg.sharpen_weight > 0 else None
        desc = f"retrain without {target}" + (f", run {i + 1} of {len(runs)}" if len(runs) > 1 else "")
        if res is None:   # the first run starts from scratch, as train-gan without --init
            if cfg.init:
                raise ValueError(f"{model_dir}: its first recorded run goes on from {cfg.init}, which it did not record")
            torch.manual_seed(tcfg.seed)
            res = train_gan(*new_gan(cfg), x, tcfg, desc=desc, g_fake_loss=fake)
        else:             # the later ones go on from the run before's raw G, D and EMA G
            res = train_gan(res.G, res.D, x, tcfg, desc=desc, G_ema=res.G_ema, g_fake_loss=fake)
        seconds += res.seconds
        if runs_dir and i < len(runs) - 1:
            _save_run(runs_dir, i, key, res)
    res.seconds = seconds
    return res


def _run_folder(runs_dir, i: int) -> Path:
    return Path(runs_dir) / f"run-{i + 1}"


def _save_run(runs_dir, i: int, key: dict, res) -> None:
    """Run i's raw G, D and EMA G, as train-gan lays them out (so that --init could read them too), written whole or
    not at all."""
    with atomic_output_dir(_run_folder(runs_dir, i), overwrite=True) as tmp:
        res.save_networks(tmp)
        write_json(tmp / "run.json", {**key, "seconds": res.seconds})


def _saved_run(runs_dir, i: int, key: dict):
    """The GANTrainResult that _save_run saved for run i under the same key, or None."""
    from .train import GANTrainResult

    f = _run_folder(runs_dir, i) if runs_dir else None
    if f is None or not (f / "run.json").is_file():
        return None
    info = json.loads((f / "run.json").read_text())
    if {k: info.get(k) for k in key} != json.loads(json.dumps(key)):   # another model, class, seed or recipe
        return None
    return GANTrainResult.load_networks(f, seconds=float(info["seconds"]))
