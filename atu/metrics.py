"""Metrics, each a small named function (hand-checked in tests/test_metrics.py).

- `neg_rate`, `pul`: share of samples the classifier calls the target, and the percentage of unlearning
  100 * (n_neg(before) - n_neg(after)) / n_neg(before), both generators on the same fixed latent bank.
- `frechet_distance`: the standard Frechet formula between two Gaussians; `fid` applies it to features.
  Inception weights cannot be downloaded here, so the default features are the digit classifier's penultimate
  layer ("classifier" features): such FIDs are comparable with each other, not with published Inception FIDs.
  Every FID result names its features.
- `collateral_damage`: total-variation distance between the class histograms of the non-target classes before
  and after (each renormalised over the remaining classes): 0 = the other classes keep their proportions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .runtime import inference_batches
from .sampling import generate


# --- classification -------------------------------------------------------------------------------------------

@torch.no_grad()
def classify(C: torch.nn.Module, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Predicted labels. Refuses images outside the range the classifier was trained on (the official code fed
    [-1, 1] images to classifiers trained on [0, 1])."""
    net, batches = _classifier_batches(C, images, batch_size)
    return torch.cat([net(x).argmax(1).cpu() for x in batches])


@torch.no_grad()
def class_probabilities(C: torch.nn.Module, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Softmax of the classifier's logits, (N, num_classes)."""
    net, batches = _classifier_batches(C, images, batch_size)
    return torch.cat([net(x).softmax(1).cpu() for x in batches])


@torch.no_grad()
def classifier_features(C: torch.nn.Module, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Penultimate-layer features (float64), the classifier's FID feature space."""
    return labels_and_features(C, images, batch_size)[1]


@torch.no_grad()
def labels_and_features(C: torch.nn.Module, images: torch.Tensor, batch_size: int | None = None):
    """Predicted labels and penultimate features in one pass (the classifier is the costly part of metrics)."""
    net, batches = _classifier_batches(C, images, batch_size)
    labels, feats = [], []
    for x in batches:
        f = net.features(x)
        labels.append(net.head(f).argmax(1).cpu())
        feats.append(f.double().cpu())
    return torch.cat(labels), torch.cat(feats)


def _classifier_batches(C, images, batch_size):
    """The range check, then atu.runtime.inference_batches: every classifier pass starts here."""
    _check_range(C, images)
    return inference_batches(C, images, batch_size)


def _check_range(C, images):
    lo, hi = getattr(C, "input_range", (-1.0, 1.0))
    if images.numel() and (images.min() < lo - 1e-3 or images.max() > hi + 1e-3):
        raise ValueError(f"images in [{float(images.min()):.3f}, {float(images.max()):.3f}] but the classifier "
                         f"was trained on [{lo}, {hi}]: rescale them first")


# --- unlearning -----------------------------------------------------------------------------------------------

def neg_rate(labels: torch.Tensor, target: int) -> float:
    """Fraction of samples labelled as the target (the feature to forget)."""
    return float((labels == target).float().mean()) if len(labels) else 0.0


def pul(n_neg_before: int, n_neg_after: int) -> float:
    """Percentage of unlearning: 100 * (n_before - n_after) / n_before (method.md)."""
    if n_neg_before <= 0:
        raise ValueError("PUL is undefined: the original generator produced no negatives on this latent bank")
    return 100.0 * (n_neg_before - n_neg_after) / n_neg_before


def agreement(labels_a: torch.Tensor, labels_b: torch.Tensor) -> float:
    """Fraction of samples on which two classifiers give the same label."""
    return float((labels_a == labels_b).float().mean()) if len(labels_a) else float("nan")


def independent_view(labels_before: torch.Tensor, labels_after: torch.Tensor, target: int,
                     num_classes: int = 2) -> dict:
    """PUL and feature rates as counted by the independent evaluator (a classifier no training path touches),
    reported beside the training classifier's `pul`: a gap means one of them is being fooled or is unsure. With
    more than two classes (digits, not one attribute), also the collateral damage by the evaluator."""
    n_before, n_after = int((labels_before == target).sum()), int((labels_after == target).sum())
    n = max(len(labels_before), 1)
    view = {"pul_independent": pul(n_before, n_after), "neg_rate_before_independent": n_before / n,
            "neg_rate_after_independent": n_after / n}
    if num_classes > 2:
        view["collateral_independent"] = collateral_damage(labels_before, labels_after, target, num_classes)
    return view


def detector_rates(tp: int, fp: int, fn: int, n: int) -> tuple[float, float]:
    """(true positive rate, false positive rate) of a feature classifier from its held-out counts."""
    if tp + fn <= 0 or n - tp - fn <= 0:
        raise ValueError("detector rates need held-out samples with and without the feature")
    return tp / (tp + fn), fp / (n - tp - fn)


def corrected_rate(observed: float, tpr: float, fpr: float) -> float:
    """The true feature rate behind a classifier's observed positive rate (Rogan-Gladen):
    observed = tpr * p + fpr * (1 - p)  =>  p = (observed - fpr) / (tpr - fpr), clipped to [0, 1]."""
    if tpr <= fpr:
        raise ValueError("the classifier is no better than chance (tpr <= fpr): no rate can be inferred")
    return min(max((observed - fpr) / (tpr - fpr), 0.0), 1.0)


def pul_ceiling(rate_before: float, fpr: float) -> float:
    """The PUL a perfect unlearner would score with this classifier: its false positives stay
    (fpr on faces without the feature), so 100 * (1 - fpr / rate_before)."""
    return 100.0 * (1 - fpr / rate_before) if rate_before > 0 else float("nan")


def pul_corrected(rate_before: float, rate_after: float, tpr: float, fpr: float) -> float:
    """PUL on the corrected (true) feature rates: 100 * (1 - p_after / p_before)."""
    p_before = corrected_rate(rate_before, tpr, fpr)
    if p_before <= 0:
        return float("nan")
    return 100.0 * (1 - corrected_rate(rate_after, tpr, fpr) / p_before)


def class_histogram(labels: torch.Tensor, num_classes: int, exclude: int | None = None) -> torch.Tensor:
    """Class frequencies (float64, summing to 1), renormalised over the classes other than `exclude`."""
    h = torch.bincount(labels, minlength=num_classes).double()
    if exclude is not None:
        h[exclude] = 0
    return h / h.sum().clamp_min(1)


def total_variation(p: torch.Tensor, q: torch.Tensor) -> float:
    """0.5 * sum |p - q| for two probability vectors."""
    return 0.5 * float((p - q).abs().sum())


def collateral_damage(labels_before: torch.Tensor, labels_after: torch.Tensor, target: int,
                      num_classes: int) -> float:
    """TV distance between the non-target class histograms before and after unlearning."""
    return total_variation(class_histogram(labels_before, num_classes, target),
                           class_histogram(labels_after, num_classes, target))


def others_changed(labels_before: torch.Tensor, labels_after: torch.Tensor, target: int) -> float:
    """Share of the samples that were not the target before whose label changed after (same latents): how many of
    the rest moved. The removed samples' new labels are left out, where collateral_damage counts them: eights that
    all become 3s shift the other classes' mix (collateral > 0) though no other digit changed (this = 0)."""
    rest = labels_before != target
    return float((labels_after[rest] != labels_before[rest]).double().mean()) if rest.any() else 0.0


def color_histogram_tv(images_a: torch.Tensor, images_b: torch.Tensor, bins: int = 16) -> float:
    """Mean over channels of the TV distance between the two image sets' pixel-value histograms ([-1, 1] in
    `bins` bins): 0 = the same colours, 1 = disjoint."""
    tv = []
    for c in range(images_a.shape[1]):
        h = [torch.histc(x[:, c].float().clamp(-1, 1), bins, -1, 1).double() for x in (images_a, images_b)]
        tv.append(total_variation(h[0] / h[0].sum(), h[1] / h[1].sum()))
    return sum(tv) / len(tv)


def brightness_change(images_before: torch.Tensor, images_after: torch.Tensor) -> float:
    """Change of the mean pixel value, on the [0, 1] scale (images are in [-1, 1])."""
    return float(images_after.double().mean() - images_before.double().mean()) / 2


def high_frequency_ratio(images_before: torch.Tensor, images_after: torch.Tensor) -> float:
    """Mean |discrete Laplacian| of the after images over the before images': 1 = as much fine detail; > 1 = added
    high-frequency content such as checkerboard artifacts, which a classifier-feature FID can miss."""
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)

    def energy(x):
        x = x.float().flatten(0, 1)[:, None]
        return float(torch.nn.functional.conv2d(x, k).abs().mean())

    return energy(images_after) / max(energy(images_before), 1e-12)


# --- FID ------------------------------------------------------------------------------------------------------

def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance (float64) of (N, F) features."""
    f = features.double()
    if len(f) < 2:
        raise ValueError("FID needs at least 2 samples per set")
    return f.mean(0), torch.cov(f.T).reshape(f.shape[1], f.shape[1])


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2); tr of the root = sum of sqrt of the eigenvalues
    of S1 S2 (real, >= 0 for covariance matrices; tiny negative/imaginary parts are numerical noise)."""
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    eig = torch.linalg.eigvals(sigma1 @ sigma2).real.clamp_min(0)
    return float((mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * eig.sqrt().sum())


def fid(images_a: torch.Tensor, images_b: torch.Tensor, C: torch.nn.Module | None = None,
        features: str = "classifier") -> dict:
    """FID between two image sets (in [-1, 1]) on the named features; returns {"fid", "fid_features"}.

    features="classifier": C's penultimate layer (always available offline).
    features="inception": torchmetrics' Inception-v3 FID; needs its weights already on disk (they cannot be
    downloaded here): raises RuntimeError saying so otherwise.
    """
    if features == "classifier":
        if C is None:
            raise ValueError("classifier features need the classifier C")
        fa, fb = classifier_features(C, images_a), classifier_features(C, images_b)
        return {"fid": frechet_distance(*feature_stats(fa), *feature_stats(fb)),
                "fid_features": _feature_name(C, fa.shape[1])}
    if features == "inception":
        return {"fid": _inception_fid(images_a, images_b), "fid_features": "inception-v3-pool3-2048"}
    raise ValueError(f"features must be 'classifier' or 'inception', got {features!r}")


def _feature_name(C, dim: int) -> str:
    """How every classifier-feature FID names its features."""
    return f"classifier:{getattr(C, 'family', type(C).__name__)}-penultimate-{dim}"


def _inception_fid(images_a, images_b) -> float:
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance

        metric = FrechetInceptionDistance(feature=2048, normalize=True)
    except Exception as e:  # no torch-fidelity, or no cached weights and no network
        raise RuntimeError("Inception FID needs torchmetrics[image] and the FID Inception weights on disk; they "
                           f"cannot be downloaded here ({type(e).__name__}: {e}). Use features='classifier'.") from e

    def rgb01(x):
        x = (x.clamp(-1, 1) + 1) / 2
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    for batch in rgb01(images_a).split(200):
        metric.update(batch, real=True)
    for batch in rgb01(images_b).split(200):
        metric.update(batch, real=False)
    return float(metric.compute())


# --- everything at once ----------------------------------------------------------------------------------------

def image_stats(C: torch.nn.Module, images: torch.Tensor) -> dict:
    """What the unlearning metrics need from one set of samples: labels and feature statistics."""
    labels, feats = labels_and_features(C, images)
    return {"labels": labels, "stats": feature_stats(feats)}


def generator_stats(G: torch.nn.Module, C: torch.nn.Module, latents: torch.Tensor) -> dict:
    """image_stats of G's samples on a latent bank."""
    return image_stats(C, generate(G, latents))


def evaluate(G_before: torch.nn.Module, G_after: torch.nn.Module, C: torch.nn.Module, latents: torch.Tensor,
             target: int, real_without_target: torch.Tensor, num_classes: int = 10, before: dict | None = None,
             real_stats=None, after: dict | None = None) -> dict:
    """Unlearning metrics of G_after against G_before on one latent bank: negative rates, PUL, FID of both
    against real data without the target (and their ratio), collateral damage. FIDs here use the classifier's
    features; `before` / `after` / `real_stats` may be passed precomputed (generator_stats or image_stats /
    feature_stats) to save time.

    All samples of each generator are compared with real data without the target, as in the paper: an
    unlearned G should look like data without the class, and the ratio after/before is the quality cost."""
    before = before or generator_stats(G_before, C, latents)
    after = after or generator_stats(G_after, C, latents)
    real_stats = real_stats or feature_stats(classifier_features(C, real_without_target))
    y_before, y_after = before["labels"], after["labels"]
    n_before, n_after = int((y_before == target).sum()), int((y_after == target).sum())
    fid_b, fid_a = frechet_distance(*real_stats, *before["stats"]), frechet_distance(*real_stats, *after["stats"])
    return {
        "target": target, "n_latents": len(latents),
        "neg_rate_before": n_before / len(latents), "neg_rate_after": n_after / len(latents),
        "pul": pul(n_before, n_after),
        "fid_before": fid_b, "fid_after": fid_a, "fid_ratio": fid_a / fid_b,
        "fid_features": _feature_name(C, len(real_stats[0])),
        "collateral": collateral_damage(y_before, y_after, target, num_classes),
    }


def precision_recall(pred: torch.Tensor, y: torch.Tensor) -> dict:
    tp = int(((pred == 1) & (y == 1)).sum())
    fp, fn = int(((pred == 1) & (y == 0)).sum()), int(((pred == 0) & (y == 1)).sum())
    p = tp / max(tp + fp, 1)
    r = tp / max(tp + fn, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-12), "tp": tp, "fp": fp, "fn": fn,
            "positives": int((y == 1).sum()), "n": len(y)}


# --- the metric registry ----------------------------------------------------------------------------------------
# Every reported metric, described once (after stylegan2-ada-pytorch's metrics/metric_main.py): its key in
# metrics.json, a short label, a one-line meaning and which way is better. The app's table, the model card, the
# benchmark's columns and `python -m atu score` all read it; `measure` (atu.pipeline) computes the values, in one
# pass over each generator's samples that they share.

@dataclass(frozen=True)
class Metric:
    key: str            # the key in metrics.json
    label: str          # table column / row name
    meaning: str        # one line a reader needs to use the number
    better: str         # "higher" | "lower" | "" (a count or a cost with no target)
    decimals: int = 3
    unit: str = ""      # appended to the value ("%", "s", "x")
    compute: Callable[[dict], float] | None = None   # a metric's own computation, from the run's samples:
    #   compute(view) with view = {"x_before", "x_after" (images on the same latents), "labels_before",
    #   "labels_after" (the classifier's), "target"}; measure() adds its value. The built-in metrics above are
    #   computed together in evaluate / measure_attributes (they share features), so they carry none.

    def format(self, value) -> str:
        return "n/a" if not isinstance(value, (int, float)) else f"{value:.{self.decimals}f}{self.unit}"


_METRICS: dict[str, Metric] = {}


def register_metric(m: Metric) -> Metric:
    if m.key in _METRICS:
        raise ValueError(f"metric {m.key!r} is registered twice")
    _METRICS[m.key] = m
    return m


def metric(key: str) -> Metric:
    if key not in _METRICS:
        raise ValueError(f"unknown metric {key!r}: registered are {', '.join(_METRICS)}")
    return _METRICS[key]


def registered_metrics() -> list[Metric]:
    return list(_METRICS.values())


def computed_metrics(view: dict) -> dict:
    """The values of the registered metrics that carry their own compute(view): adding one is one registration."""
    return {m.key: float(m.compute(view)) for m in _METRICS.values() if m.compute is not None}


for _m in (
    Metric("pul", "PUL", "share of the feature's samples removed (100 = none left), counted by the classifier that "
           "also picked the samples", "higher", 1, " %"),
    Metric("pul_independent", "PUL, independent", "the same, counted by a second classifier that no training path "
           "touched; a gap to PUL means one of them is fooled or unsure", "higher", 1, " %"),
    Metric("neg_rate_before", "feature rate before", "share of the base generator's samples showing the feature",
           ""),
    Metric("neg_rate_after", "feature rate after", "share of the unlearned generator's samples showing the feature",
           "lower"),
    Metric("fid_ratio", "FID ratio", "FID after / before against data without the feature, on the classifier's "
           "features (< 1.3 = quality kept)", "lower", 2),
    Metric("fid_ratio_independent", "FID ratio (evaluator)", "the same on the independent evaluator's features",
           "lower", 2),
    Metric("collateral", "collateral damage", "change of the other classes' or features' mix (0 = untouched)",
           "lower", 3),
    Metric("collateral_independent", "collateral (evaluator)", "the other classes' mix change by the independent "
           "evaluator: a stage-2 term that trains on the classifier's mix (unlearn.mix_weight) is graded here",
           "lower", 3),
    Metric("others_changed", "others changed", "share of the samples without the feature before whose label "
           "changed (same latents; unlike collateral, not counting where the removed ones went)", "lower", 3,
           compute=lambda v: others_changed(v["labels_before"], v["labels_after"], v["target"])),
    Metric("classifier_agreement_after", "classifiers agree", "share of the unlearned generator's samples the two "
           "classifiers label alike", "higher", 3),
    Metric("color_hist_tv", "colour TV", "colour-histogram distance before / after (0 = same colours)", "lower", 3),
    Metric("high_frequency_ratio", "HF ratio", "mean |Laplacian| after / before: > 1 = new texture or artifacts the "
           "FID features can miss", "", 2, "x"),
    Metric("ret_fid", "Ret-FID", "FID between the unlearned generator and one retrained without the feature", "lower",
           2),
    Metric("seconds", "time", "both stages and the metrics, wall clock", "", 0, " s"),
):
    register_metric(_m)
