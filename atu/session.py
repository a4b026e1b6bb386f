"""What one user of the app does, as plain functions (the app only lays them out and wires them):

    choose negatives (gallery clicks, uploads, classifier picks) -> run both stages with streamed progress ->
    save the run in the user's own folder -> before/after, metrics, extrapolation preview -> zip / push

Negatives are kept as an ordered dict {key: image (C, H, W) in [-1, 1]}: the key says where an image came from
("sample 3/12" = seed 3, index 12; "upload 1: name.png"; "classifier 0/4"), so a click toggles exactly one image
and the chosen set can be shown and edited. Nothing here holds global state: each browser session has its
own dict and its own folder.
"""
from __future__ import annotations

import dataclasses
import queue
import shutil
import threading
from pathlib import Path
from typing import Iterator

import torch
from safetensors.torch import load_file, save_file

from .adapt import AdaptConfig
from .baselines import extrapolate
from .catalog import BaseModel
from .data import image_to_tensor
from .feedback import MIN_NEGATIVES, pick_negatives  # noqa: F401  (MIN_NEGATIVES: the app's count)
from .latent import LatentConfig
from .pipeline import RunConfig, run_unlearning, save_run
from .sampling import generate, to_pil
from .train import Cancelled
from .unlearn import UnlearnConfig

# Presets: "standard" is the CLI's default; "fast" measures on 2,000 latents instead of 5,000 (README "App"); both train
# stage 2 in batches of 16 since session 23 (32 before: 147 s end to end at the defaults against the 90 s target; batch
# 16 removed as much, docs/benchmark-mnist.md "Speed"). Fewer stage-2 steps instead removed less (300 or 400 steps:
# 2-6 PUL points on 8 and 9).
# "method" is the model's default way to unlearn (the faces': latent steering, atu.catalog); for method "latent",
# "unlearn_steps" are its fine-tuning steps and K / adapt_steps are unused.
PRESETS = {
    "fast": {"method": "adapt-then-unlearn", "K": 1, "adapt_steps": 150, "unlearn_steps": 600, "unlearn_batch": 16,
             "eval_latents": 2000, "n_positives": 2000, "probe_latents": 200, "eval_every": 50},
    "standard": {"method": "adapt-then-unlearn", "K": 1, "adapt_steps": 150, "unlearn_steps": 600, "unlearn_batch": 16,
                 "eval_latents": 5000, "n_positives": 2000, "probe_latents": 200, "eval_every": 50},
}
METHODS = {"adapt-then-unlearn": "adapt-then-unlearn (the paper)", "latent": "latent steering"}
THETA_FILE = "theta_N.safetensors"   # stage 1's adapted parameters, beside (not inside) the Hub folder
GRID_LATENTS = 64                    # before/after and extrapolation grids: the first 64 latents of the bank
PREVIEW_LATENTS = 1000               # the extrapolation preview's metrics: the bank's first 1,000 latents


# --- negatives -------------------------------------------------------------------------------------------------

def toggle(negatives: dict, key: str, image: torch.Tensor) -> dict:
    """A copy of `negatives` with `key` added (if absent) or removed (if present)."""
    out = dict(negatives)
    if key in out:
        del out[key]
    else:
        out[key] = image
    return out


def sample_key(seed: int, index: int) -> str:
    return f"sample {seed}/{index}"


BLANK_STD = 0.05   # an upload whose pixels (in [-1, 1]) vary less than this shows nothing: refused


def add_uploads(negatives: dict, paths: list[str], image_shape) -> tuple[dict, list[str]]:
    """Add uploaded image files (converted to the generator's channels and size). Returns (negatives, notes);
    files that are not images, or are blank (one colour) once converted, are skipped with a note. Raises ValueError
    when none of them is usable."""
    from PIL import Image, UnidentifiedImageError

    out, notes, added = dict(negatives), [], 0
    n0 = sum(k.startswith("upload ") for k in out)
    for path in paths or []:
        name = Path(path).name
        try:
            with Image.open(path) as img:
                img.load()
                x, note = image_to_tensor(img, tuple(image_shape))
        except (UnidentifiedImageError, OSError, ValueError):
            notes.append(f"{name}: not an image (upload PNG, JPEG, WebP or BMP files)")
            continue
        if float(x.std()) < BLANK_STD:
            notes.append(f"{name}: blank or nearly one colour after converting to {tuple(image_shape)} (upload an "
                         "image that shows the feature)")
            continue
        added += 1
        out[f"upload {n0 + added}: {name}"] = x
        if note:
            notes.append(f"{name}: {note}")
    if paths and not added:
        raise ValueError("none of the uploaded files is a usable image: upload PNG, JPEG, WebP or BMP files that "
                         "show the feature. " + "; ".join(notes))
    return out, notes


def add_classifier_picks(negatives: dict, G, C, target: int, n: int, seed: int) -> dict:
    """Add n samples of G that the classifier labels as the target (the classifier stands in for a user)."""
    picks = pick_negatives(G, C, target, n, seed=seed)
    out = dict(negatives)
    for i, x in enumerate(picks):
        out[f"classifier {seed}/{i}"] = x
    return out


def stack(negatives: dict) -> torch.Tensor | None:
    return torch.stack(list(negatives.values())) if negatives else None


def source(negatives: dict) -> str:
    """Where the negatives came from, for the run record: 'gallery', 'upload', 'classifier' or a mix."""
    kinds = {"sample": "gallery", "upload": "upload", "classifier": "classifier"}
    return "+".join(sorted({kinds[k.split(" ")[0]] for k in negatives})) or "none"


# --- a run -----------------------------------------------------------------------------------------------------

def preset_values(model: BaseModel | None, preset: str) -> dict:
    """A preset's settings for this base model: atu.session.PRESETS with the model's own changes (atu.catalog)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    return {**PRESETS[preset], **(model.presets.get(preset, {}) if model is not None else {})}


def run_config(model: BaseModel, feature: str, preset: str = "fast", loss: str = "el2", gamma: float = 1.0,
               K: int | None = None, adapt_steps: int | None = None, unlearn_steps: int | None = None,
               seed: int = 0, root: Path | None = None, method: str | None = None,
               options: list[str] | tuple = ()) -> RunConfig:
    """The engine's RunConfig from the app's controls: a preset, with any control that is set overriding it, and the
    model's `options` (atu.catalog.BaseModel.options) the user added."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    unknown = [o for o in options if o not in model.options]
    if unknown:
        raise ValueError(f"{model.title} has no option {unknown[0]!r}: choose from "
                         f"{', '.join(model.options) or '(none)'}")
    p = preset_values(model, preset)
    method = method or p["method"]
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    K, adapt_steps, unlearn_steps = (int(v) if v else p[k] for v, k in
                                     ((K, "K"), (adapt_steps, "adapt_steps"), (unlearn_steps, "unlearn_steps")))
    kw = {"root": root} if root is not None else {}
    return apply_overrides(RunConfig(
        model=str(model.path(**kw)), classifier=str(model.classifier_path(feature, **kw)),
        target=model.target(feature), feature=feature,
        eval_latents=p["eval_latents"],
        adapt=AdaptConfig(K=K, steps=adapt_steps),
        unlearn=UnlearnConfig(loss=loss, gamma=float(gamma), steps=unlearn_steps, batch_size=p["unlearn_batch"],
                              n_positives=p["n_positives"],
                              eval_every=p["eval_every"], eval_latents=p["probe_latents"]),
        method=method, latent=LatentConfig(steps=unlearn_steps, eval_every=p["eval_every"])).with_seed(seed),
        {**model.run_overrides, **{k: v for k, v in p.items() if "." in k},   # a preset's own "stage.field"s
         **{k: v for o in options for k, v in model.options[o].items()}})


def apply_overrides(cfg: RunConfig, overrides: dict) -> RunConfig:
    """cfg with {"field": v} or {"stage.field": v} replaced (a base model's own settings, atu.catalog)."""
    for key, value in overrides.items():
        if "." in key:
            stage, name = key.split(".", 1)
            cfg = dataclasses.replace(cfg, **{stage: dataclasses.replace(getattr(cfg, stage), **{name: value})})
        else:
            cfg = dataclasses.replace(cfg, **{key: value})
    return cfg


def run_and_save(cfg: RunConfig, negatives: torch.Tensor, negatives_source: str, folder: str | Path,
                 cancel: threading.Event | None = None, base=None) -> Iterator[dict]:
    """Both stages in a worker thread; yields their progress events as they come (plain dicts of numbers and
    strings, so that they can cross a process boundary, e.g. ZeroGPU's), then {"stage": "saved", "folder",
    "metrics"} once the run folder (Hub folder + theta_N beside it) is written. Setting `cancel`, or closing
    the generator, stops the run at its next logged step (atu.train.Cancelled) and saves nothing."""
    cancel = cancel or threading.Event()
    events: queue.Queue = queue.Queue()
    folder = Path(folder)
    outcome: dict = {}

    def on_progress(e):
        if cancel.is_set():
            raise Cancelled("stopped by the user")
        events.put(e)

    def work():
        try:
            result = run_unlearning(cfg, negatives, negatives_source, on_progress=on_progress, base=base)
            save_run(result, folder / "model", overwrite=True)
            save_file({"theta_N": result.theta_N.contiguous()}, str(folder / THETA_FILE))
            outcome["metrics"] = result.metrics
        except BaseException as e:  # noqa: BLE001  (handed to the caller's thread below)
            outcome["error"] = e
        finally:
            events.put(None)

    folder.mkdir(parents=True, exist_ok=True)
    worker = threading.Thread(target=work, daemon=True, name="atu-run")
    worker.start()
    ended = False
    try:
        while (e := events.get()) is not None:
            yield e
        ended = True
    finally:
        if not ended:   # the consumer stopped early (Stop, closed tab): stop the worker too
            cancel.set()   # (not on a normal end: the flag is the user's Stop, which the caller may read)
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    yield {"stage": "saved", "folder": str(folder / "model"), "metrics": outcome["metrics"]}


PLOTTED = {   # what the loss plot draws of each stage's logged losses, by family (the DDPM's: atu.diffusion's rows)
    "gan": {"adapt": ("d_loss", "g_adv", "ewc"), "unlearn": ("d_loss", "g_adv", "repulsion", "d_neg", "guide", "mix",
                                                 "keep")},
    "ddpm": {"adapt": ("loss", "ewc"), "unlearn": ("loss", "repulsion", "loss_neg", "loss_redirect", "loss_anchor")},
    "latent": {"unlearn": ("latent_mse",)},
}
LOSS_KEYS = tuple(dict.fromkeys(k for family in PLOTTED.values() for keys in family.values() for k in keys))
RATE_SERIES = {"adapt": "adapted model", "unlearn": "unlearned G (EMA)"}


def _stage_name(stage: str, cfg: RunConfig) -> str:
    """The series' prefix: "1:" / "2:" (stage 1, stage 2: short, so that a run's eight names fit in the legend)."""
    return "1:" if stage == "adapt" else "steering:" if cfg.method == "latent" else "2:"


def plot_series(cfg: RunConfig, diffusion: bool | None = None) -> tuple[list[str], list[str]]:
    """Every series progress_rows can draw for this run, known before it starts: (losses, rates). The app draws
    them all from its first update: Gradio's LinePlot fixes its colours at the first draw, and a series that first
    appears later (all of stage 2's) was never drawn. A term that is off (neg_weight 0, ...) is left out."""
    if cfg.method == "latent":
        return [f"steering: {k}" for k in PLOTTED["latent"]["unlearn"]], [RATE_SERIES["unlearn"]]
    if diffusion is None:   # the base model's config.json says
        from .models import read_config

        diffusion = read_config(cfg.model).get("family") == "ddpm"
    u = cfg.unlearn
    off = {"d_neg": u.neg_weight == 0, "loss_neg": u.neg_weight == 0, "loss_redirect": u.redirect_weight == 0,
           "loss_anchor": u.anchor_weight == 0, "guide": u.guide_weight == 0,
           "mix": u.mix_weight == 0, "keep": u.keep_weight == 0}
    keys = PLOTTED["ddpm" if diffusion else "gan"]
    losses = [f"{_stage_name(stage, cfg)} {k}" for stage in ("adapt", "unlearn") for k in keys[stage]
              if not off.get(k, False)]
    return losses, list(RATE_SERIES.values())


def progress_rows(history: list[dict], cfg: RunConfig) -> tuple[list[dict], list[dict]]:
    """Events -> rows for two line plots: losses and the negative rate, over one step axis that runs through
    stage 1 (K models one after another) and then stage 2. Rows are {"step", "value", "series"}; loss series are
    named by stage ("1: d_loss", "2: d_loss"): the two stages' D and G are different runs."""
    losses, rates = [], []
    a = cfg.adapt.steps
    start2 = 0 if cfg.method == "latent" else cfg.adapt.K * a   # latent steering has no stage 1
    for e in history:
        if "step" not in e or e["stage"] == "metrics":
            continue
        x = (e["model"] - 1) * a + e["step"] if e["stage"] == "adapt" else start2 + e["step"]
        stage = _stage_name(e["stage"], cfg)
        for k in LOSS_KEYS:
            if k in e:
                losses.append({"step": x, "value": e[k], "series": f"{stage} {k}"})
        if "neg_rate" in e:
            rates.append({"step": x, "value": e["neg_rate"], "series": RATE_SERIES[e["stage"]]})
    return losses, rates


def describe(event: dict, cfg: RunConfig) -> tuple[float, str]:
    """(fraction done, a line of text) for a progress event."""
    latent = cfg.method == "latent"
    a, u, K = cfg.adapt.steps, (cfg.latent.steps if latent else cfg.unlearn.steps), (0 if latent else cfg.adapt.K)
    total = K * a + u + max(u // 4, 1)   # metrics count as a quarter of stage 2
    s = event.get("stage")
    if s == "adapt":
        done = (event["model"] - 1) * a + event.get("step", 0)
        text = f"stage 1: adapting model {event['model']}/{K} to the negatives, step {event.get('step', 0)}/{a}"
    elif s == "unlearn" and latent:
        done = event.get("step", 0)
        text = f"latent steering: G learns to draw the steered base, step {event.get('step', 0)}/{u}"
    elif s == "unlearn":
        done = K * a + event.get("step", 0)
        text = f"stage 2: unlearning ({cfg.unlearn.loss}), step {event.get('step', 0)}/{u}"
    elif s == "metrics":
        done, text = K * a + u, f"measuring on {cfg.eval_latents} fixed latents"
    else:
        done, text = total, "saved"
    if "neg_rate" in event and s != "metrics":
        text += f" - negative rate {event['neg_rate']:.3f}"
    return min(done / total, 1.0), text


CUSTOM = "custom: the samples I click"   # a feature with no shipped classifier (faces)


def features_for(model: BaseModel) -> list[str]:
    return list(model.features) + ([CUSTOM] if model.custom_features else [])


def custom_run_config(model: BaseModel, folder: str | Path, negatives: dict, shown: dict, **kw):
    """For CUSTOM: a classifier trained from the clicks (selected = has it; shown and not selected = has not),
    saved beside the run, picks stage 2's positives and estimates PUL. Returns (RunConfig, counts)."""
    from .feedback import feedback_classifier
    from .models import load_model

    first = next(iter(model.features))
    has = stack(negatives)
    rest = {k: v for k, v in shown.items() if k not in negatives}
    C = feedback_classifier(load_model(model.classifier_path(first), kind="classifier"), has,
                            stack(rest) if rest else torch.empty(0))
    path = Path(folder) / "feedback-classifier"
    C.save_pretrained(path)
    cfg = dataclasses.replace(run_config(model, first, **kw), classifier=str(path), target=1,
                              feature="a custom feature (taught by clicks)")
    return cfg, {"selected": len(has), "not_selected": len(rest)}


# --- results ---------------------------------------------------------------------------------------------------

def grid(G, latents: torch.Tensor, scale: int = 3):
    img = to_pil(generate(G, latents), nrow=8)
    return img.resize((img.width * scale, img.height * scale), 0)


def load_theta(run_folder: str | Path) -> torch.Tensor:
    return load_file(str(Path(run_folder).parent / THETA_FILE))["theta_N"]


def extrapolation_preview(G, theta_N: torch.Tensor, g: float, cfg: RunConfig, C, latents: torch.Tensor):
    """The parameter-space baseline theta_N + g (theta_G - theta_N) on the grid's latents, and its metrics (the
    run's own, atu.pipeline.measure) on the first preview_latents(G) latents of the bank: the negative rate with the
    FID ratio beside it, so that a g that removes the feature by breaking the images shows as such."""
    from .pipeline import measure

    Gx = extrapolate(G, theta_N, float(g))
    return grid(Gx, latents), measure(dataclasses.replace(cfg, eval_latents=preview_latents(G)), G, Gx, C)


def preview_latents(G) -> int:
    """How many latents the extrapolation preview measures on: PREVIEW_LATENTS, or 250 for a DDPM (each of its
    samples costs 20 UNet calls: 1,000 took minutes on a CPU, too long for a slider)."""
    return 250 if getattr(G, "family", "") == "ddpm" else PREVIEW_LATENTS


def grid_labels(metrics: dict, feature: str) -> tuple[str, str]:
    """Captions of the before / after grids: the feature's rate on each side and PUL by both classifiers (the one
    that picked the samples, and the independent evaluator where the base model has one)."""
    before = f"before: {feature} in {metrics['neg_rate_before']:.1%} of samples"
    pul = f"PUL {metrics['pul']:.1f}"
    if "pul_independent" in metrics:
        pul += f" (classifier) / {metrics['pul_independent']:.1f} (independent evaluator)"
    return before, f"after: {metrics['neg_rate_after']:.1%}, {pul}"


def metrics_table(metrics: dict) -> list[list]:
    """Rows [metric, value, what it means] for the app's table: the registered metrics the run has
    (atu.metrics.registered_metrics), plus the rates before -> after and, for a shipped classifier with held-out
    counts, what a perfect unlearner would score."""
    from .metrics import metric, registered_metrics

    def row(key):
        m = metric(key)
        return [m.label, m.format(metrics[key]), m.meaning]

    rows = [row(k) for k in ("pul", "pul_independent") if k in metrics]
    rows.append(["negative rate", f"{metrics['neg_rate_before']:.3f} -> {metrics['neg_rate_after']:.3f}",
                 f"samples with the feature, on {metrics['n_latents']} fixed latents"])
    rows += [row(k) for k in ("fid_ratio", "fid_ratio_independent", "collateral", "collateral_independent", "seconds",
                              "high_frequency_ratio", "color_hist_tv") if k in metrics]
    rows += [row(m.key) for m in registered_metrics() if m.compute is not None and m.key in metrics]
    if "pul_ceiling" in metrics:   # a shipped classifier with held-out counts
        rows.append(["classifier's limit", f"PUL {metrics['pul_ceiling']:.0f} %",
                     f"what a perfect unlearner scores: the classifier calls {metrics['classifier_fpr']:.1%} of faces "
                     "without the feature positive; a rate after below that means G fools the classifier, so check "
                     "the grids by eye"])
    return rows


def download_name(base: str, feature: str) -> str:
    """What the app's zip is called: `atu-mnist-dcgan-no-8`, `atu-faces-dcgan64-no-eyeglasses`."""
    slug = feature.removeprefix("digit ") if feature != CUSTOM else "custom-feature"
    return "-".join(["atu", base, "no", *"".join(c if c.isalnum() else " " for c in slug.lower()).split()])


def zip_folder(folder: str | Path, name: str | None = None) -> Path:
    """<name or folder's name>.zip beside the folder (replaced if it exists)."""
    folder = Path(folder)
    return Path(shutil.make_archive(str(folder.parent / (name or folder.name)), "zip", root_dir=folder))


def thumbnail_file(x: torch.Tensor, folder: str | Path, size: int = 96) -> str:
    """A sample as a PNG file named by its content, written once and atomically: a gallery that is re-sent after
    every click must never be served a file that is being rewritten (Gradio re-encodes a PIL image into the same
    cache path on every update, which a browser fetching it meanwhile reads as a truncated file)."""
    import hashlib
    import io

    from .io import atomic_write_bytes

    buf = io.BytesIO()
    to_pil(x).resize((size, size), 0).save(buf, format="PNG")
    data = buf.getvalue()
    path = Path(folder) / f"{hashlib.sha256(data).hexdigest()[:24]}.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    return str(path)


class RunQueue:
    """Runs one at a time, first come first served, with each waiting session's position (Gradio's queue shows it
    only as a small "queue: 1/1" in the corner of each output). Thread-safe; keys are session ids.

        q.join(key); while not q.try_start(key): show(q.ahead(key)); ... run ...; q.leave(key)
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: list[str] = []
        self.active: str | None = None

    def join(self, key: str) -> None:
        with self._lock:
            if key != self.active and key not in self._waiting:
                self._waiting.append(key)

    def try_start(self, key: str) -> bool:
        """True once `key` holds the slot: nobody is running and it is first in line."""
        with self._lock:
            if self.active == key:
                return True
            if self.active is None and self._waiting[:1] == [key]:
                self.active = self._waiting.pop(0)
                return True
            return False

    def ahead(self, key: str) -> int:
        """Runs that go before `key`'s: the one running, plus those queued in front of it."""
        with self._lock:
            if key == self.active:
                return 0
            front = self._waiting.index(key) if key in self._waiting else len(self._waiting)
            return front + (self.active is not None)

    def state(self, key: str) -> str | None:
        """"running", "waiting" or None for a run's key, or for a session when keys are "<session>#<n>"."""
        def mine(k):
            return k is not None and (k == key or k.startswith(key + "#"))

        with self._lock:
            return "running" if mine(self.active) else "waiting" if any(map(mine, self._waiting)) else None

    def leave(self, key: str) -> None:
        """`key`'s run ended or left the queue: the next in line may start."""
        with self._lock:
            if key in self._waiting:
                self._waiting.remove(key)
            if self.active == key:
                self.active = None
