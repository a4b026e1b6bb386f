"""Base-GAN recipes for issue #13, trained side by side on one lent GPU within a fixed wall-clock budget.

    python benchmarks/mnist-v3/base-gpu/sweep.py OUT_DIR BUDGET_SECONDS [MIN_STEPS]

1. Probe: every recipe trains 300 timed steps (after 50 warm-up steps), all at once, so each rate is measured under
   the same contention as the real runs.
2. Each recipe runs as the project's own command (`python -m atu train-gan ...`, the command its card will carry)
   with as many steps as its probed rate fits in the budget (a multiple of 2,000, at most 100,000).
3. The best recipe by FID whose G is 64 wide is retrained from scratch without digits 1, 4 and 8 (atu.bench's
   retrained_model, the recipe's own steps), all three at once, in the time left: the issue's bar for the base is
   that retraining reaches PUL >= 97, measured afterwards by `atu.bench --retrained-dir`.
4. OUT_DIR gets results.json (every recipe: command, steps, rate, the CLI's metrics.json), samples.png (each
   recipe's 64 bank samples side by side), log.txt, and the best runs by FID as tar parts of at most 15 MiB
   (the lent machine returns at most 8 files of 16 MiB).
Nothing here is part of the package: it only chooses how many steps each recipe gets and packs what comes back.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

# recipe -> train-gan options beyond COMMON (the shipped model: --width 64, batch 64, 20,000 steps). G stays 64 wide
# in all but the last: stage 2 runs G and D on the user's CPU (<= 90 s a class), and w128 costs ~4x; the last shows
# whether capacity is what holds the base back.
RECIPES = {
    "w64-b128": ["--width", "64", "--train.batch_size", "128"],
    "w64-b128-r1": ["--width", "64", "--train.batch_size", "128", "--train.r1_gamma", "0.05"],
    "w64-b128-lin": ["--width", "64", "--train.batch_size", "128", "--train.lr_schedule", "linear"],
    "w64-b256": ["--width", "64", "--train.batch_size", "256"],
    "w64-d128-b128": ["--width", "64", "--d_width", "128", "--train.batch_size", "128"],
    "w128-b128": ["--width", "128", "--train.batch_size", "128"],
}
COMMON = ["--fid_every", "10000", "--train.augment_translate", "0.125", "--train.augment_cutout", "0.5"]
RUNS = Path("/tmp/atu-sweep")


def shippable(name: str) -> bool:
    """A recipe whose G is as wide as the shipped one (stage 2 must stay fast on a CPU)."""
    return RECIPES[name][:2] == ["--width", "64"]
PROBE_STEPS = int(os.environ.get("SWEEP_PROBE_STEPS", "300"))   # fewer for a dry run on the CPU
if os.environ.get("SWEEP_ONLY"):                                  # a comma list of recipes (dry run)
    RECIPES = {n: RECIPES[n] for n in os.environ["SWEEP_ONLY"].split(",")}


def probe(name: str) -> None:
    """Seconds per training step of one recipe (printed as JSON)."""
    import argparse

    from atu.cli import add_dataclass_args, build_dataclass
    from atu.data import mnist_split
    from atu.mnist import GANRunConfig, new_gan
    from atu.train import train_gan
    from dataclasses import replace

    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, GANRunConfig)
    cfg = build_dataclass(GANRunConfig, parser.parse_args(RECIPES[name] + COMMON))
    x, _ = mnist_split("train")
    train_gan(*new_gan(cfg), x, replace(cfg.train, steps=PROBE_STEPS // 6, log_every=10**9))   # warm-up (CUDA, cuDNN)
    t = time.time()
    train_gan(*new_gan(cfg), x, replace(cfg.train, steps=PROBE_STEPS, log_every=10**9))
    print(json.dumps({"name": name, "sec_per_step": (time.time() - t) / PROBE_STEPS}), flush=True)


def run(out: Path, budget: float, min_steps: int) -> None:
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    RUNS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
    probes = {n: subprocess.Popen([sys.executable, __file__, "--probe", n], stdout=subprocess.PIPE, env=env, text=True)
              for n in RECIPES}
    rates = {}
    for n, p in probes.items():
        lines = [ln for ln in p.communicate()[0].splitlines() if ln.startswith("{")]
        rates[n] = json.loads(lines[-1])["sec_per_step"] if lines else None
    print(f"probe done at {time.time() - t0:.0f} s: {rates}", flush=True)
    retrain = os.environ.get("SWEEP_RETRAIN", "1") == "1"
    train_time = (budget - (time.time() - t0) - 150) / (2 if retrain else 1)   # then retraining of the best as long
    procs, results = {}, {}
    for n, rate in rates.items():
        if rate is None:
            results[n] = {"error": "probe failed"}
            continue
        steps = max(min_steps, min(100_000, int(0.85 * train_time / rate) // 2000 * 2000))
        args = ["train-gan", "--out", str(RUNS / n), *RECIPES[n], *COMMON, "--train.steps", str(steps)]
        results[n] = {"command": "python -m atu " + " ".join(args), "steps": steps, "probe_sec_per_step": rate}
        procs[n] = subprocess.Popen([sys.executable, "-m", "atu", *args], env=env,
                                    stdout=open(RUNS / f"{n}.log", "w"), stderr=subprocess.STDOUT)
        print(f"{n}: {steps} steps", flush=True)
    deadline = time.time() + train_time + 90
    for n, p in procs.items():
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            results[n]["error"] = "killed at the deadline"
        metrics = RUNS / n / "metrics.json"
        if metrics.exists():
            results[n]["metrics"] = json.loads(metrics.read_text())
        results[n]["log_tail"] = (RUNS / f"{n}.log").read_text()[-1500:]
    (out / "results.json").write_text(json.dumps(results, indent=1))
    done = pack(out, results)
    print(f"sweep packed at {time.time() - t0:.0f} s", flush=True)
    best = [n for n in done if shippable(n)]   # best first
    if best and retrain:
        results["retrain"] = retrain_best(out, best[0], t0 + budget - 15)
        (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"done at {time.time() - t0:.0f} s", flush=True)


def retrain_best(out: Path, name: str, deadline: float) -> dict:
    """atu.bench.retrained_model for digits 1, 4, 8 on one recipe's run, side by side; the folder comes back as a tar."""
    folder = RUNS / f"retrained-{name}"
    env = {**os.environ, "OMP_NUM_THREADS": "4", "TQDM_DISABLE": "1"}
    procs = {t: subprocess.Popen([sys.executable, "-c", "from atu.bench import retrained_model; "
                                  f"retrained_model({str(RUNS / name)!r}, {t}, None, {str(folder)!r})"],
                                 env=env, stdout=open(RUNS / f"retrain-{t}.log", "w"), stderr=subprocess.STDOUT)
             for t in (1, 4, 8)}
    info = {"recipe": name, "folder": folder.name}
    for t, p in procs.items():
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
        done = folder / str(t) / "retrain.json"
        info[str(t)] = json.loads(done.read_text()) if done.exists() else (RUNS / f"retrain-{t}.log").read_text()[-800:]
    if folder.exists():
        with tarfile.open(out / "retrained.tar", "w") as tf:
            tf.add(folder, arcname=folder.name)
    print(f"retrained {name}: {info}", flush=True)
    return info


def pack(out: Path, results: dict) -> list[str]:
    """Print the finished recipes best FID first, save their sample grids side by side, and write whole runs as tar
    parts (shippable first, best first) while they fit; returns the finished recipes in that order."""
    from PIL import Image

    done = sorted((n for n in results if "metrics" in results[n]),   # shippable (G 64 wide) first, then by FID
                  key=lambda n: (not shippable(n), results[n]["metrics"]["fid"]))
    for n in done:
        m = results[n]["metrics"]
        print(f"{n}: FID {m['fid']:.2f} (raw {m['raw_G']['fid']:.2f}), agreement {m.get('classifier_agreement')}, "
              f"digits {m['class_fraction_min']:.3f}-{m['class_fraction_max']:.3f}, {m['train_seconds']:.0f} s", flush=True)
    grids = [Image.open(RUNS / n / "samples.png") for n in done]
    if grids:
        canvas = Image.new("L", (sum(g.width for g in grids) + 20 * len(grids), grids[0].height), 255)
        x = 0
        for g in grids:
            canvas.paste(g.convert("L"), (x, 0))
            x += g.width + 20
        canvas.save(out / "samples.png")   # best FID on the left
    left = 40 * 2**20                       # leaves room for the retrained models (3 G of ~3.7 MB)
    for n in done:                          # whole runs, best first, while they fit in what can come back
        tar = RUNS / f"{n}.tar"
        with tarfile.open(tar, "w") as tf:
            tf.add(RUNS / n, arcname=n)
        size = tar.stat().st_size
        if size > left:
            continue
        left -= size
        data, part = tar.read_bytes(), 0
        while part * 15 * 2**20 < len(data):
            (out / f"{n}.tar.part{part}").write_bytes(data[part * 15 * 2**20:(part + 1) * 15 * 2**20])
            part += 1
    return done


if __name__ == "__main__":
    if sys.argv[1] == "--probe":
        probe(sys.argv[2])
    else:
        run(Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
