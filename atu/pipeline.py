"""The one entry point the CLI and the app share:

    result = run_unlearning(RunConfig(target=8), on_progress=print)
    save_run(result, "runs/mnist-8-el2")

base G, D, classifier -> negatives (given, or picked by the classifier) -> stage 1 (K adapted models, theta_N in
memory) -> positives -> stage 2 (repulsion) -> metrics on the fixed latent bank -> a Hub-ready run folder.

method="latent" replaces both stages by latent steering (atu.latent): the classifier's labels of the base G's
samples -> the feature's direction in latent space -> G fine-tuned to draw G_base(steered z) -> the same metrics.
"""
from __future__ import annotations

import dataclasses
import hashlib
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from . import __version__
from .adapt import AdaptConfig, adapt_one, flatten
from .data import mnist_split
from .ewc import fisher_diagonal
from .feedback import check_negatives, confident_negatives, pick_negatives, pick_positives, target_latents
from .io import atomic_output_dir, check_output_dir, write_json
from .latent import LatentConfig, find_direction, latent_unlearn
from .metrics import (agreement, brightness_change, class_probabilities, classifier_features, classify,
                      color_histogram_tv, computed_metrics, corrected_rate, detector_rates, evaluate, feature_stats,
                      frechet_distance, high_frequency_ratio, image_stats, independent_view, labels_and_features,
                      neg_rate, pul_ceiling, pul_corrected)
from .models import (ClassifierEnsemble, DCGANDiscriminator, FaceAttributeClassifier, FeatureDiscriminator,
                     load_generator, load_model)
from .sampling import before_after_grid, generate, load_latent_bank, make_latent_bank, to_pil
from .unlearn import UnlearnConfig, unlearn

PROBE_SEED = 777   # the small latent bank that stage 2 probes every few steps (not the evaluation bank)
ANCHOR_SEED = 700_001   # + the run's seed: which positives' paths the DDPM anchor holds, or (anchor_paths "any") its
                        #   noises (no other draw starts there)


@dataclass
class RunConfig:
    model: str = "checkpoints/mnist-dcgan"            # base generator folder (with discriminator/, latent bank),
                                                      #   or a Hub repo id user/name (downloaded once, then cached)
    base_repo: str = ""                               # the base's Hub repo id, filled in by the run (from a repo id
                                                      #   in `model`, or the hub.json `atu push` leaves in a base
                                                      #   folder): the card's base_model lineage; "" = not on the Hub
    classifier: str = "checkpoints/mnist-classifier"  # labels samples: picks negatives/positives, measures PUL
    co_classifiers: str = "auto"                      # more classifier folders (comma-separated) that every training
                                                      #   path reads beside `classifier`, as the mean of their class
                                                      #   probabilities (models.ClassifierEnsemble): negatives,
                                                      #   positives, the probe, the guide, the keep, hard latents.
                                                      #   Metrics still read `classifier` alone; the evaluator may
                                                      #   not be one. "auto" = the catalog's for this feature (MNIST
                                                      #   GAN: mnist-classifier-c; docs/benchmark-mnist.md, session
                                                      #   28), "" = none
    evaluator: str = "auto"                           # independent classifier that only re-counts the target
                                                      #   (pul_independent; never picks or trains anything): "auto" =
                                                      #   the catalog's for this feature (MNIST: mnist-classifier-b,
                                                      #   faces: faces-<feature>-evaluator), "" = none
    target: int = 8                                   # the class (feature) to forget
    feature: str = ""                                 # its name for cards and records; "" = "digit <target>"
    n_negatives: int = 25                             # negatives the classifier picks (when none are given)
    eval_latents: int = 5000                          # metrics on the first N latents of the shipped bank (the
                                                      #   benchmark's size: ~500 samples of a digit, 0.2 PUL points each)
    seed: int = 0                                     # seeds negative/positive draws, stage 1 and stage 2
    out: str = ""                                     # CLI output folder; "" = runs/<model>-<target>-<loss>-s<seed>
    fresh_d_warmup: int = 200                         # D-only steps before each stage when the base model ships no
                                                      #   discriminator (a fresh D knows nothing yet)
    fresh_d: str = "auto"                             # that fresh D: "classifier" = the classifier's network (`body`)
                                                      #   with a new logit head (models.FeatureDiscriminator), "dcgan"
                                                      #   = a DCGAN D from random weights, "auto" = "classifier" when
                                                      #   the classifier has a body, else "dcgan" (README "Faces")
    method: str = "adapt-then-unlearn"                # "adapt-then-unlearn" (the paper: stage 1 adapt + stage 2
                                                      #   repulsion) | "latent" (latent steering, atu.latent: the faces'
                                                      #   default, README "Faces")
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    unlearn: UnlearnConfig = field(default_factory=UnlearnConfig)
    latent: LatentConfig = field(default_factory=LatentConfig)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")

    def with_seed(self, seed: int) -> "RunConfig":
        """This config with the run's seed and every stage's seed set to `seed` (what `python -m atu unlearn
        --seed S` runs; a stage's own --<stage>.seed is then an override on top)."""
        seed = int(seed)
        return dataclasses.replace(self, seed=seed, adapt=dataclasses.replace(self.adapt, seed=seed),
                                   unlearn=dataclasses.replace(self.unlearn, seed=seed),
                                   latent=dataclasses.replace(self.latent, seed=seed))


METHODS = ("adapt-then-unlearn", "latent")


@dataclass
class RunResult:
    config: RunConfig
    G_before: torch.nn.Module
    G_after: torch.nn.Module            # the EMA generator after stage 2
    theta_N: torch.Tensor               # (K, P) adapted parameter vectors
    negatives: torch.Tensor
    negatives_source: str
    metrics: dict
    history: list[dict]                 # progress events of both stages
    seconds: dict


Progress = Callable[[dict], None]


def load_base(cfg: RunConfig):
    """(G, D, C). A base model without a discriminator/ folder (e.g. the converted faces-dcgan64) gets a fresh
    discriminator (RunConfig.fresh_d), marked `atu_fresh` so that each stage warms it up first
    (RunConfig.fresh_d_warmup). C is what the training paths read: the classifier, or with
    RunConfig.co_classifiers a ClassifierEnsemble whose `primary` is the classifier (what measure() reads)."""
    G = load_generator(cfg.model)
    C = load_model(cfg.classifier, kind="classifier")
    D = _load_d(cfg, G, C) if not is_diffusion(G) else None   # a DDPM has no D: both stages train it by denoising
    return G, D, with_co_classifiers(cfg, C)


def co_classifier_paths(cfg: RunConfig) -> list[Path]:
    """The co-classifiers' folders: RunConfig.co_classifiers, or the catalog's for this feature ("auto")."""
    from . import catalog

    if cfg.co_classifiers == "auto":
        base = catalog.by_path(cfg.model)
        names = base.co_classifiers_for(Path(cfg.classifier).name, cfg.target) if base else ()
        return [Path(cfg.model).parent / n for n in names]
    return [Path(p.strip()) for p in cfg.co_classifiers.split(",") if p.strip()]


def with_co_classifiers(cfg: RunConfig, C):
    """C, or C and the co-classifiers read as one (ClassifierEnsemble); refuses the independent evaluator."""
    paths = co_classifier_paths(cfg)
    if not paths:
        return C
    e_path = evaluator_path(cfg)
    for p in paths:
        if e_path is not None and p.resolve() == e_path.resolve():
            raise ValueError(f"co_classifiers: {p} is the independent evaluator, which no training path may read; "
                             "name another classifier or set evaluator")
    return ClassifierEnsemble([C, *(load_model(p, kind="classifier") for p in paths)])


def grading_classifier(C):
    """The classifier that grades (PUL, FID features): C itself, or a training ensemble's primary, the shipped
    classifier (RunConfig.co_classifiers: the ensemble only picks and trains, it never grades)."""
    return getattr(C, "primary", C)


def _load_d(cfg: RunConfig, G, C):
    d_dir = Path(cfg.model) / "discriminator"
    if d_dir.is_dir():
        return load_model(d_dir, kind="discriminator")
    if cfg.fresh_d not in ("auto", "classifier", "dcgan"):
        raise ValueError(f"fresh_d must be 'auto', 'classifier' or 'dcgan', got {cfg.fresh_d!r}")
    torch.manual_seed(cfg.seed)
    if cfg.fresh_d == "classifier" or (cfg.fresh_d == "auto" and isinstance(getattr(C, "body", None), nn.Module)):
        D = FeatureDiscriminator.from_classifier(C, G.image_shape)
    else:
        D = DCGANDiscriminator(channels=G.image_shape[0], image_size=G.image_shape[1])
    D.atu_fresh = True
    return D


def is_diffusion(G) -> bool:
    """A diffusion-family generator (atu.diffusion.DDPMGenerator), told without importing diffusers."""
    return getattr(G, "family", "") == "ddpm"


def _warm(stage_cfg, cfg: RunConfig, D):
    """The stage's config, with the D warm-up switched on when D is fresh."""
    return dataclasses.replace(stage_cfg, d_warmup=cfg.fresh_d_warmup) if getattr(D, "atu_fresh", False) else stage_cfg


def adapt_stage(cfg: RunConfig, base, negatives: torch.Tensor, log: Progress, probe_rate) -> torch.Tensor:
    """Stage 1: K adapted models, each from its own seed; the Fisher is computed once. Returns theta_N (K, P)."""
    G, D, _ = base
    diffusion = is_diffusion(G)
    if diffusion:   # the Fisher of the denoising loss on the base's own samples (atu.diffusion)
        from .diffusion import adapt_one_ddpm, fisher_denoising

        fisher = fisher_denoising(G, generate(G, make_latent_bank(cfg.adapt.fisher_samples, G.latent_dim, cfg.seed)),
                                  seed=cfg.seed)
    else:
        fisher = fisher_diagonal(G, D, cfg.adapt.fisher_samples, seed=cfg.seed)
    acfg = _warm(cfg.adapt, cfg, D)

    def adapt_k(seed, on_log):
        if diffusion:
            return adapt_one_ddpm(G, negatives, acfg, seed, fisher, on_log)
        return adapt_one(G, D, negatives, acfg, seed=seed, fisher=fisher, on_log=on_log)

    theta_N, start = [], probe_rate(G)   # each adapted model starts as the base: its rate is the first point of the
    for k in range(cfg.adapt.K):          #   adapted models' curve (without it, K = 1 plots a lone point)
        tag = {"stage": "adapt", "model": k + 1, "of": cfg.adapt.K, "total": cfg.adapt.steps}
        log({**tag, "step": 0, **start})
        res = adapt_k(cfg.seed * 1000 + k, lambda s, row, tag=tag: log({**tag, **row}))
        theta_N.append(flatten(res.G))
        log({**tag, "step": cfg.adapt.steps, "done": True, **probe_rate(res.G)})
    return torch.stack(theta_N)


NEG_POOL = 1000   # neg_source="classifier": how many of the base G's confident negatives D sees (augmented)


def unlearn_stage(cfg: RunConfig, base, theta_N: torch.Tensor, log: Progress, probe_rate, positives=None,
                  negatives: torch.Tensor | None = None):
    """Stage 2 on confident positives picked by the classifier, or given as (images, their latents, their sampler
    paths or None) from an earlier call; `negatives` (the user's) are used only when unlearn.neg_source is "user".
    Returns (GANTrainResult, (positives, their latents, their paths)); res.positive_draws = samples drawn. The paths
    (a DDPM's, kept only for the anchor on the positives' paths) come from the same pass that draws the positives."""
    G, D, C = base
    u = cfg.unlearn
    if positives is None:
        record = None
        if is_diffusion(G) and u.anchor_weight > 0 and u.anchor_paths == "positives":
            from .diffusion import PathRecorder

            record = PathRecorder(G)
        x_pos, z_pos, draws = pick_positives(G, C, cfg.target, u.n_positives, seed=cfg.seed + 1,
                                             max_target_prob=u.pos_max_target_prob, min_top_prob=u.pos_min_top_prob,
                                             balance=u.pos_balance, sample=record)
        pos_paths = record.paths_of(z_pos) if record is not None else None
    else:
        (x_pos, z_pos, pos_paths), draws = positives, None
    log({"stage": "unlearn", "step": 0, "total": u.steps, "positives": len(x_pos), "positive_draws": draws,
         **probe_rate(G)})
    if u.uses_negatives and u.neg_source == "classifier":
        negatives = confident_negatives(G, C, cfg.target, NEG_POOL, seed=cfg.seed + 2)
    def on_log(step, row):
        log({"stage": "unlearn", "total": u.steps, **row})

    if is_diffusion(G):
        from .diffusion import anchor_path, unlearn_ddpm

        path = anchor_path(G, u, ANCHOR_SEED + cfg.seed, z_pos, pos_paths) if u.anchor_weight > 0 else None
        keep = ((lambda x: class_probabilities(C, x)[:, cfg.target] >= u.neg_pool_min_p)
                if u.neg_pool_min_p > 0 else None)
        res = unlearn_ddpm(G, x_pos, theta_N, u, evaluate=probe_rate, on_log=on_log, negatives=negatives,
                           anchor_path=path, pool_keep=keep)
    else:
        z_target = (target_latents(G, C, cfg.target, u.target_pool, seed=cfg.seed + 3)
                    if u.target_latents > 0 else None)
        res = unlearn(G, D, x_pos, theta_N, _warm(u, cfg, D), evaluate=probe_rate, on_log=on_log,
                      negatives=negatives, positive_latents=z_pos, target_latents=z_target,
                      guide=(C, cfg.target))
    res.positive_draws = draws
    return res, (x_pos, z_pos, pos_paths)


def make_probe(cfg: RunConfig, G, C):
    """Negative rate on a small fixed latent bank (not the evaluation bank), for progress plots."""
    probe = make_latent_bank(cfg.unlearn.eval_latents, G.latent_dim, PROBE_SEED)
    base: dict = {}   # the base model is never trained in place: probed once (stage 1's start, stage 2's step 0)

    def rate(g):
        if g is G and base:
            return dict(base)
        r = {"neg_rate": neg_rate(classify(C, generate(g, probe)), cfg.target)}
        if g is G:
            base.update(r)
        return r

    return rate


LINEAGE_FILE = "hub.json"   # left in a base-model folder by `atu push`: {"repo_id": where it was pushed}


def resolve_base(cfg: RunConfig) -> RunConfig:
    """The config with `model` a local folder and `base_repo` the base's Hub repo id when it has one: a repo id
    in `model` is downloaded (huggingface_hub's cache: once), a local folder keeps the repo id `atu push` recorded
    in its hub.json."""
    import json

    path = Path(cfg.model)
    if path.is_dir():
        lineage = path / LINEAGE_FILE
        repo = json.loads(lineage.read_text()).get("repo_id", "") if lineage.is_file() else ""
        return dataclasses.replace(cfg, base_repo=cfg.base_repo or repo)
    if (cfg.model.count("/") != 1 or cfg.model.startswith((".", "/", "~"))
            or path.parent.is_dir()):   # "checkpoints/mnist-dcgan" run from elsewhere is a missing folder, not a repo
        raise FileNotFoundError(f"base model {cfg.model!r}: no such folder (run from the project's folder?), nor a "
                                "Hub repo id (user/name)")
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(cfg.model, allow_patterns=["*.safetensors", "*.json", "*.md"])
    except Exception as e:   # not found, private without a token, offline: say which and what to do
        raise FileNotFoundError(f"base model {cfg.model!r} could not be downloaded from the Hub "
                                f"({type(e).__name__}): check the repo id, your token (HF_TOKEN) and the network") from None
    return dataclasses.replace(cfg, model=folder, base_repo=cfg.model)


def run_unlearning(cfg: RunConfig, negatives: torch.Tensor | None = None, negatives_source: str = "classifier",
                   on_progress: Progress | None = None, base=None) -> RunResult:
    """Both stages and the metrics. `negatives` (N, C, H, W in [-1, 1]) are the user's; None = classifier picks.
    on_progress(event) gets {"stage", "step", "total", ...losses/probes}; raise atu.train.Cancelled to stop."""
    emit = on_progress or (lambda e: None)
    t0 = time.time()
    cfg = resolve_base(cfg)
    base = base if base is not None else load_base(cfg)
    G, D, C = base
    history: list[dict] = []

    def log(event):
        history.append(event)
        emit(event)

    if negatives is None:
        negatives, negatives_source = pick_negatives(G, C, cfg.target, cfg.n_negatives, seed=cfg.seed), "classifier"
    check_negatives(negatives, G)
    probe_rate = make_probe(cfg, G, C)
    if cfg.method == "latent":
        t1 = time.time()
        G_after, info = latent_stage(cfg, base, log, probe_rate)
        theta_N = torch.empty(0, sum(p.numel() for p in G.parameters()))   # no adapted models
    else:
        theta_N = adapt_stage(cfg, base, negatives, log, probe_rate)
        t1 = time.time()
        res2, positives = unlearn_stage(cfg, base, theta_N, log, probe_rate, negatives=negatives)
        G_after, info = res2.G_ema, {"n_positives": len(positives[0]), "positive_draws": res2.positive_draws,
                                     "d0": res2.d0}
        if cfg.unlearn.neg_pool_min_p > 0:   # a DDPM's filtered pool: how many samples it took
            info["neg_pool_draws"] = res2.neg_pool_draws
    t2 = time.time()
    log({"stage": "metrics", "step": 0, "total": 1})
    metrics = measure(cfg, G, G_after, C)
    metrics.update(n_negatives=len(negatives), **info)
    t3 = time.time()
    seconds = {"adapt": t1 - t0, "unlearn": t2 - t1, "metrics": t3 - t2, "total": t3 - t0}
    metrics["seconds"] = seconds["total"]
    log({"stage": "metrics", "step": 1, "total": 1, "done": True, **metrics})
    return RunResult(cfg, G, G_after, theta_N, negatives, negatives_source, metrics, history, seconds)


def latent_stage(cfg: RunConfig, base, log: Progress, probe_rate):
    """Latent steering (atu.latent) in place of both stages: (the unlearned G, what it found). Its progress events
    are stage "unlearn" events, so that the app and the CLI follow it like stage 2."""
    G, _, C = base
    lc = dataclasses.replace(cfg.latent, seed=cfg.seed)
    log({"stage": "unlearn", "step": 0, "total": lc.steps, **probe_rate(G)})
    d, t, info = find_direction(G, C, cfg.target, lc)
    G_after, _ = latent_unlearn(G, d, t, lc, evaluate=probe_rate,
                                on_log=lambda s, row: log({"stage": "unlearn", "total": lc.steps, **row}))
    return G_after, {"latent_" + k: v for k, v in info.items()}


_BEFORE_CACHE: dict = {}


def evaluator_path(cfg: RunConfig) -> Path | None:
    """The independent evaluator's folder: RunConfig.evaluator, or the catalog's for this feature ("auto")."""
    from . import catalog

    if cfg.evaluator == "auto":
        base = catalog.by_path(cfg.model)
        name = base.evaluator_for(Path(cfg.classifier).name, cfg.target) if base else ""
        path = Path(cfg.model).parent / name if name else None
        return path if path is not None and (path / "config.json").is_file() else None
    return Path(cfg.evaluator) if cfg.evaluator else None


def measure(cfg: RunConfig, G_before, G_after, C) -> dict:
    """atu.metrics.evaluate on the base model's shipped latent bank, against held-out digits without the target,
    plus the independent evaluator's count of the target (pul_independent) and how often it agrees with C.
    The base model's side is computed once per (model, classifier, bank size, target) and cached.
    Face attributes (no real data here) go through measure_attributes."""
    from . import catalog

    latents = load_latent_bank(cfg.model)[:cfg.eval_latents]
    base = catalog.by_path(cfg.model)   # the catalog says what FID compares against; else the classifier's kind
    C = grading_classifier(C)
    no_real_data = (base.fid_reference == "samples" if base
                    else getattr(C, "family", "") == FaceAttributeClassifier.family)
    if no_real_data:
        return measure_attributes(cfg, G_before, G_after, C, latents)
    key = (id(G_before), id(C), cfg.model, cfg.eval_latents, cfg.target, str(evaluator_path(cfg)))
    entry = _BEFORE_CACHE.get(key)   # read once: another session's thread may clear the cache meanwhile
    if entry is None:
        real, _ = mnist_split("heldout", exclude_class=cfg.target)
        x_before = generate(G_before, latents)
        entry = (image_stats(C, x_before), feature_stats(classifier_features(C, real)),
                 *_evaluator_before(cfg, x_before), x_before)
        _BEFORE_CACHE.clear()  # keep one entry: the app or the benchmark works on one base model at a time
        _BEFORE_CACHE[key] = entry
    before, real_stats, E, e_before, x_before = entry
    x_after = generate(G_after, latents)   # once, for both classifiers
    after = image_stats(C, x_after)
    m = evaluate(G_before, G_after, C, latents, cfg.target, None, before=before, real_stats=real_stats, after=after)
    m.update(_evaluator_view(cfg, E, e_before, before["labels"], after["labels"], x_after))
    m.update(_computed(cfg, x_before, x_after, before, after))
    return m


def _computed(cfg: RunConfig, x_before, x_after, before: dict, after: dict) -> dict:
    """The registered metrics that carry their own compute, on the view every family gives them."""
    return computed_metrics({"x_before": x_before, "x_after": x_after, "labels_before": before["labels"],
                             "labels_after": after["labels"], "target": cfg.target})


def _evaluator_before(cfg: RunConfig, x_before) -> tuple:
    """(the independent evaluator or None, its labels and feature statistics of the base model's samples)."""
    e_path = evaluator_path(cfg)
    E = load_model(e_path, kind="classifier") if e_path else None
    return E, (image_stats(E, x_before) if E is not None else None)


def _evaluator_view(cfg: RunConfig, E, e_before, c_before, c_after, x_after, ref_stats=None) -> dict:
    """The evaluator's PUL and rates (atu.metrics.independent_view), its agreement with the training classifier
    before and after, and, given the reference set's statistics in its feature space (the faces), the FID ratio
    on its features: {} without an evaluator."""
    if E is None:
        return {}
    e_after = image_stats(E, x_after)
    m = {**independent_view(e_before["labels"], e_after["labels"], cfg.target, getattr(E, "num_classes", 2)),
         "evaluator": evaluator_path(cfg).name,
         "classifier_agreement_before": agreement(c_before, e_before["labels"]),
         "classifier_agreement_after": agreement(c_after, e_after["labels"])}
    if ref_stats is not None:
        fb, fa = frechet_distance(*ref_stats, *e_before["stats"]), frechet_distance(*ref_stats, *e_after["stats"])
        m.update(fid_before_independent=fb, fid_after_independent=fa, fid_ratio_independent=fa / fb)
    return m


REFERENCE_SEED = 99   # faces: the latents of the reference set (base samples without the feature) for FID


def measure_attributes(cfg: RunConfig, G_before, G_after, C, latents) -> dict:
    """Feature unlearning on a generator without real data (the faces): PUL from the feature's classifier; FID on
    that classifier's penultimate features against the base generator's own samples that do not show the feature
    (another latent bank); collateral = the largest change in another catalogued feature's rate, plus the colour
    histogram distance, the brightness change and the high-frequency ratio of the images on the same latents."""
    from . import catalog

    key = ("attr", id(G_before), id(C), cfg.model, len(latents), cfg.target, str(evaluator_path(cfg)))
    entry = _BEFORE_CACHE.get(key)   # read once (see measure)
    if entry is None:
        ref_x = generate(G_before, make_latent_bank(len(latents), G_before.latent_dim, REFERENCE_SEED))
        ref_y, ref_f = labels_and_features(C, ref_x)
        base = catalog.by_path(cfg.model)
        others = {name: load_model(Path(cfg.model).parent / f.classifier, kind="classifier")
                  for name, f in (base.features.items() if base else [])
                  if str(Path(cfg.model).parent / f.classifier) != str(Path(cfg.classifier))}
        x_before = generate(G_before, latents)
        E, e_before = _evaluator_before(cfg, x_before)
        if E is not None:   # the reference set without the feature as the evaluator reads it, in its features
            e_ref_y, e_ref_f = labels_and_features(E, ref_x)
            e_ref_stats = feature_stats(e_ref_f[e_ref_y != cfg.target])
        entry = (image_stats(C, x_before), feature_stats(ref_f[ref_y != cfg.target]),
                 others, x_before, {n: neg_rate(classify(o, x_before), 1) for n, o in others.items()},
                 E, e_before, e_ref_stats if E is not None else None)
        _BEFORE_CACHE.clear()
        _BEFORE_CACHE[key] = entry
    before, ref_stats, others, x_before, rates_before, E, e_before, e_ref_stats = entry
    x_after = generate(G_after, latents)   # once: for the classifier metrics and the image statistics
    after = image_stats(C, x_after)
    m = evaluate(G_before, G_after, C, latents, cfg.target, None, num_classes=2, before=before, real_stats=ref_stats,
                 after=after)
    m.update(_evaluator_view(cfg, E, e_before, before["labels"], after["labels"], x_after, e_ref_stats))
    changes = {n: neg_rate(classify(o, x_after), 1) - rates_before[n] for n, o in others.items()}
    m.update(collateral=max((abs(v) for v in changes.values()), default=0.0),
             other_feature_rate_change=changes, color_hist_tv=color_histogram_tv(x_before, x_after),
             brightness_change=brightness_change(x_before, x_after),
             high_frequency_ratio=high_frequency_ratio(x_before, x_after),
             fid_reference="base samples without the feature")
    m.update(classifier_error_view(cfg.classifier, m["neg_rate_before"], m["neg_rate_after"]))
    m.update(_computed(cfg, x_before, x_after, before, after))
    return m


def classifier_error_view(classifier: str, rate_before: float, rate_after: float) -> dict:
    """What the feature classifier's own errors do to PUL, from its held-out counts (metrics.json "heldout",
    written by train-face-classifiers; {} for a classifier without them, e.g. one trained from clicks):
    pul_ceiling, the PUL of a perfect unlearner (the classifier's false positives remain), and pul_corrected,
    the PUL of the feature rates corrected for its recall and false-positive rate (atu.metrics.corrected_rate)."""
    import json

    f = Path(classifier) / "metrics.json"
    h = json.loads(f.read_text()).get("heldout", {}) if f.is_file() else {}
    if not all(k in h for k in ("tp", "fp", "fn", "n")):
        return {}
    tpr, fpr = detector_rates(h["tp"], h["fp"], h["fn"], h["n"])
    return {"classifier_tpr": tpr, "classifier_fpr": fpr, "pul_ceiling": pul_ceiling(rate_before, fpr),
            "pul_corrected": pul_corrected(rate_before, rate_after, tpr, fpr),
            "feature_rate_before_corrected": corrected_rate(rate_before, tpr, fpr),
            "feature_rate_after_corrected": corrected_rate(rate_after, tpr, fpr)}


def default_out(cfg: RunConfig) -> str:
    name = (cfg.feature or str(cfg.target)).replace(" ", "-").replace(":", "")
    how = "latent" if cfg.method == "latent" else cfg.unlearn.loss
    return cfg.out or f"runs/{Path(cfg.model).name}-{name}-{how}-s{cfg.seed}"


def cli_unlearn(cfg: RunConfig, overwrite: bool = False) -> dict:
    """`python -m atu unlearn`: run both stages, write the run folder, return the metrics."""
    from tqdm.auto import tqdm

    out = default_out(cfg)
    check_output_dir(out, overwrite)   # fail before training, not after

    def report(e):
        if e.get("done") and e["stage"] == "adapt":
            tqdm.write(f"stage 1: adapted model {e['model']}/{e['of']}: negative rate {e['neg_rate']:.3f}")

    result = run_unlearning(cfg, on_progress=report)
    save_run(result, out, overwrite=overwrite)
    return {"out": out, **result.metrics}


def plan(cfg: RunConfig) -> str:
    a, u, lc = cfg.adapt, cfg.unlearn, cfg.latent
    head = f"base {public_path(cfg.model)}, target {cfg.target}, classifier {public_path(cfg.classifier)}\n"
    tail = f"metrics on {cfg.eval_latents} latents of the shipped bank -> {default_out(cfg)}"
    if cfg.method == "latent":
        return (head + f"latent steering: the classifier labels {lc.n_samples} samples -> the feature's direction; "
                f"G fine-tuned x {lc.steps} steps (batch {lc.batch_size}) towards the base on latents with that "
                f"component {lc.mode} at (no-feature mean - {lc.margin:g})\n" + tail)
    return (head + f"{cfg.n_negatives} negatives picked by the classifier (unless given)\n"
            f"stage 1: K={a.K} adapted models x {a.steps} steps (batch {a.batch_size}, EWC lambda {a.ewc_lambda:g})\n"
            f"stage 2: {u.loss} (gamma {u.gamma:g}) x {u.steps} steps on {u.n_positives} positives"
            + (f", negatives as fake (weight {u.neg_weight:g}, from {u.neg_source}"
               f"{_t_range(u.neg_t_min, u.neg_t_max)})" if u.neg_weight > 0 else "")
            + (f", negatives redirected to positives (weight {u.redirect_weight:g}"
               f"{_t_range(u.redirect_t_min, u.redirect_t_max)})" if u.redirect_weight > 0 else "")
            + (f", the anchor (weight {u.anchor_weight:g})" if u.anchor_weight > 0 else "")
            + "\n" + tail)


def _t_range(t_min: int, t_max: int) -> str:
    """A diffusion term's timesteps for plan(): "" when it sees all of them."""
    from .cards import timestep_range

    text = timestep_range(t_min, t_max)
    return f", {text}" if text else ""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def public_path(path: str | Path) -> str:
    """How a record or a card names a local model folder: relative to the project ("checkpoints/mnist-dcgan") when
    it lies inside it, else by its folder name only, never by an absolute path of the machine that ran it."""
    from .catalog import CHECKPOINTS

    p = Path(path)
    if not p.is_absolute():
        return str(path)
    try:
        return str(p.resolve().relative_to(CHECKPOINTS.parent))
    except ValueError:
        return p.name


def run_record(result: RunResult) -> dict:
    """The machine-readable record of a run (run.json): what was unlearned, how, with what result."""
    cfg, u = result.config, result.config.unlearn
    base_file = Path(cfg.model) / "model.safetensors"
    return {
        "base_model": cfg.base_repo or public_path(cfg.model),
        "base_model_repo": cfg.base_repo or None,   # the card's base_model lineage (None: the base is not on the Hub)
        "base_model_sha256": sha256_file(base_file) if base_file.is_file() else None,
        "target": cfg.target, "feature": cfg.feature or f"digit {cfg.target}",
        "negatives": {"count": len(result.negatives), "source": result.negatives_source},
        "method": cfg.method, "family": getattr(result.G_after, "family", ""),
        **({"sample_steps": result.G_after.sample_steps} if is_diffusion(result.G_after) else {}),
        **({"latent_steps": cfg.latent.steps, "latent_mode": cfg.latent.mode, "latent_margin": cfg.latent.margin}
           if cfg.method == "latent" else {}),
        "loss": cfg.unlearn.loss, "gamma": cfg.unlearn.gamma, "K": cfg.adapt.K,
        "neg_weight": cfg.unlearn.neg_weight, "guide_weight": cfg.unlearn.guide_weight,
        "keep_weight": cfg.unlearn.keep_weight,
        **({"pos_target": u.pos_target, "neg_source": u.neg_source, "redirect_weight": u.redirect_weight,
            "redirect_states": u.redirect_states, "anchor_weight": u.anchor_weight, "anchor_pool": u.anchor_pool,
            "anchor_paths": u.anchor_paths, "neg_t": [u.neg_t_min, u.neg_t_max],
            "redirect_t": [u.redirect_t_min, u.redirect_t_max],
            **({"neg_pool_min_p": u.neg_pool_min_p} if u.neg_pool_min_p > 0 else {})}
           if is_diffusion(result.G_after) and cfg.method != "latent" else {}),
        "co_classifiers": [p.name for p in co_classifier_paths(cfg)],
        "adapt_steps": cfg.adapt.steps, "unlearn_steps": cfg.unlearn.steps, "seed": cfg.seed,
        "versions": {"atu": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "metrics": result.metrics, "seconds": result.seconds,
    }


def save_run(result: RunResult, folder: str | Path, overwrite: bool = False) -> Path:
    """A Hub-ready folder: the unlearned generator (model.safetensors + config.json), README.md (model card),
    run.json, run_config.json, metrics.json, history.json, before_after.png, negatives.png."""
    latents = load_latent_bank(result.config.model)[:32]
    with atomic_output_dir(folder, overwrite) as tmp:
        result.G_after.save_pretrained(tmp)
        (tmp / "README.md").unlink(missing_ok=True)   # replaced by atu's own card below
        from .diffusers_layout import write_diffusers_layout

        write_diffusers_layout(tmp, result.G_after)   # the same generator as a diffusers pipeline, where it can be
        record = run_record(result)
        write_json(tmp / "run.json", record)
        write_json(tmp / "run_config.json", dataclasses.replace(   # base_repo keeps the Hub id beside the folder
            result.config, model=public_path(result.config.model)))
        write_json(tmp / "metrics.json", result.metrics)
        write_json(tmp / "history.json", result.history)
        grid = before_after_grid(result.G_before, result.G_after, latents, nrow=8)
        grid.resize((grid.width * 2, grid.height * 2), 0).save(tmp / "before_after.png")
        to_pil(result.negatives, nrow=8).save(tmp / "negatives.png")
        _write_card(tmp, record)
    return Path(folder)


def _write_card(folder: Path, record: dict) -> None:
    from .hub import write_model_card

    write_model_card(folder, record, base_model=None)


# --- re-scoring a saved run ---------------------------------------------------------------------------------------

@dataclass
class ScoreConfig:
    run: str = ""          # a saved run folder (model.safetensors + run_config.json, as `unlearn` or the app wrote it)
    metrics: str = ""      # comma-separated registered metrics to report (atu.metrics); "" = every one it has
    eval_latents: int = 0  # latents of the base's bank to measure on; 0 = the run's own (its metrics.json's)
    model: str = ""        # the base model folder or repo id; "" = the run's own (run_config.json names a base
                           #   outside this project by its folder name only: then say where it is)
    classifier: str = ""   # likewise for the training classifier


def run_score(cfg: ScoreConfig, overwrite: bool = False) -> dict:
    """`python -m atu score --run DIR`: measure a saved run again (atu.pipeline.measure, on the run's own config:
    the same base, classifiers and latents) and write the registered metrics to DIR/score.json."""
    import json

    from .io import atomic_write_bytes, dataclass_from_dict
    from .metrics import metric, registered_metrics

    folder = Path(cfg.run)
    if not (folder / "run_config.json").is_file():
        raise FileNotFoundError(f"{folder} has no run_config.json: pass a run folder that atu wrote")
    rc = dataclass_from_dict(RunConfig, json.loads((folder / "run_config.json").read_text()))
    model = cfg.model or (rc.model if Path(rc.model).is_dir() or not rc.base_repo else rc.base_repo)
    rc = resolve_base(dataclasses.replace(rc, eval_latents=cfg.eval_latents or rc.eval_latents, model=model,
                                          classifier=cfg.classifier or rc.classifier))
    record = folder / "run.json"
    want = json.loads(record.read_text()).get("base_model_sha256") if record.is_file() else None
    weights = Path(rc.model) / "model.safetensors"
    have = sha256_file(weights) if want and weights.is_file() else want
    if have != want:   # e.g. the base's Hub repo changed since the run
        raise ValueError(f"the base model at {model} is not the one this run was made from (weights sha256 "
                         f"{have[:12]}... vs {want[:12]}... in run.json): pass --model with that base")
    m = measure(rc, load_generator(rc.model), load_generator(folder), load_model(rc.classifier, kind="classifier"))
    keys = [k.strip() for k in cfg.metrics.split(",") if k.strip()] or [x.key for x in registered_metrics() if x.key in m]
    absent = [metric(k).key for k in keys if k not in m]   # metric() refuses names that are not registered
    if absent:
        raise ValueError(f"{', '.join(absent)} not measured for this run (measured: "
                         f"{', '.join(k for k in m if k in {x.key for x in registered_metrics()})})")
    out = {"run": public_path(folder), "n_latents": m["n_latents"], **{k: m[k] for k in keys}}
    atomic_write_bytes(folder / "score.json", (json.dumps(out, indent=2, sort_keys=True) + "\n").encode())
    for k in keys:
        print(f"{metric(k).label:>22}  {metric(k).format(m[k]):>10}  {metric(k).meaning}")
    return out
