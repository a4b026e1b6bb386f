"""Choosing the negatives (samples showing the feature) and positives (samples without it).

A classifier stands in for the user here (as in the paper); the app also passes negatives the user clicked in
a gallery or uploaded, which go through `check_negatives`.
"""
from __future__ import annotations

import torch

from .metrics import class_probabilities
from .sampling import generate, make_latent_bank

MIN_NEGATIVES = 4   # below this, stage 1 has too little to adapt to: refuse with a clear message


def draw_chunk(G) -> int:
    """How many samples the helpers here draw at a time: 1,000, or the generator's own `sample_chunk` (a DDPM's
    sample costs 20 UNet calls: atu.diffusion.DDPMGenerator draws 250)."""
    return int(getattr(G, "sample_chunk", 1000))


def draws(G, C, seed: int, chunk: int | None = None, max_draws: int = 50_000, sample=None):
    """Yields (latents, G's samples, C's class probabilities) for `chunk` (default draw_chunk(G)) latents at a time,
    seeded by `seed`, until `max_draws` samples are drawn: the draw every helper here filters. `sample(z)` makes
    the samples when given (it must give generate(G, z)'s: atu.diffusion.PathRecorder also keeps their paths)."""
    chunk = chunk or draw_chunk(G)
    for i in range(-(-max_draws // chunk)):
        z = make_latent_bank(chunk, G.latent_dim, seed * 100_003 + i)
        x = generate(G, z) if sample is None else sample(z)
        yield z, x, class_probabilities(C, x)


def sample_where(G, C, keep, n: int, seed: int, chunk: int | None = None, max_draws: int = 50_000,
                 with_latents: bool = False):
    """Up to n samples of G for which keep(class probabilities (B, classes)) is True, drawn from latents seeded by
    `seed`, `chunk` (default draw_chunk(G)) at a time, and with `with_latents` their latents too (images, latents).
    Returns fewer if `max_draws` samples do not hold n."""
    found, latents = [], []
    for z, x, probs in draws(G, C, seed, chunk, max_draws):
        mask = keep(probs)
        found.append(x[mask]), latents.append(z[mask])
        if sum(len(f) for f in found) >= n:
            break
    x = torch.cat(found)[:n]
    return (x, torch.cat(latents)[:n]) if with_latents else x


def sample_by_label(G, C, target: int, n: int, want_target: bool, seed: int, chunk: int | None = None,
                    max_draws: int = 50_000) -> torch.Tensor:
    """Up to n samples of G that C labels as `target` (want_target=True) or as anything else."""
    return sample_where(G, C, lambda p: (p.argmax(1) == target) == want_target, n, seed, chunk, max_draws)


def confident_negatives(G, C, target: int, n: int, seed: int, min_prob: float = 0.9) -> torch.Tensor:
    """Up to n samples of G that C labels as the target with probability > min_prob."""
    return sample_where(G, C, lambda p: p[:, target] > min_prob, n, seed, max_draws=100_000)


def target_latents(G, C, target: int, n: int, seed: int) -> torch.Tensor:
    """Up to n latents whose base samples C labels as the target: where G must change (stage 2's target_latents)."""
    return sample_where(G, C, lambda p: p.argmax(1) == target, n, seed, with_latents=True)[1]


def pick_negatives(G, C, target: int, n: int, seed: int = 0) -> torch.Tensor:
    """n samples of G that the classifier labels as the target (the few-shot negatives)."""
    neg = sample_by_label(G, C, target, n, True, seed)
    check_negatives(neg, G)
    return neg


def confident_mask(probs: torch.Tensor, target: int, max_target_prob: float, min_top_prob: float) -> torch.Tensor:
    """Which samples are confident positives: labelled as something other than the target, with
    p(target) < max_target_prob and top probability > min_top_prob (1.0 / 0.0: every sample not labelled as the
    target). probs: (N, classes) softmax outputs."""
    top, label = probs.max(1)
    return (label != target) & (probs[:, target] < max_target_prob) & (top > min_top_prob)


def class_quotas(label_counts: torch.Tensor, target: int, n: int) -> torch.Tensor:
    """How many positives of each class, so that they keep the base generator's mix of the other classes:
    n split in proportion to label_counts with the target left out (largest remainders, summing to n)."""
    counts = label_counts.double().clone()
    counts[target] = 0
    if counts.sum() <= 0:
        raise ValueError("no sample of G is labelled as anything but the target: nothing to keep")
    share = counts / counts.sum() * n
    quota = share.floor().long()
    rest = n - int(quota.sum())
    if rest > 0:
        quota[torch.argsort(share - quota, descending=True, stable=True)[:rest]] += 1
    return quota


def pick_positives(G, C, target: int, n: int, seed: int = 0, max_target_prob: float = 1.0,
                   min_top_prob: float = 0.0, balance: bool = True, chunk: int | None = None,
                   max_draws: int = 100_000, sample=None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(n samples of G that the classifier confidently labels as anything but the target, their latents, the number
    of samples drawn to find them): stage 2's real data (and, by their latents, the anchor's pairs or paths).
    Thresholds as in `confident_mask`. With `balance`, the positives keep the base generator's mix of the other classes
    (class_quotas over every label drawn): a confidence filter alone favours the classes the classifier is sure
    of, and that shift of the mix is collateral damage. `sample`: as in `draws`."""
    xs, zs, labels, drawn = [], [], [], 0
    counts = None

    def enough():
        have = torch.bincount(torch.cat(labels), minlength=len(counts))
        return bool((have >= class_quotas(counts, target, n)).all()) if balance else int(have.sum()) >= n

    for z, x, probs in draws(G, C, seed, chunk, max_draws, sample):
        lab = probs.argmax(1)
        counts = torch.bincount(lab, minlength=probs.shape[1]) + (0 if counts is None else counts)
        keep = confident_mask(probs, target, max_target_prob, min_top_prob)
        xs.append(x[keep]), zs.append(z[keep]), labels.append(lab[keep])
        drawn += len(z)
        if enough():
            break
    x, z, lab = torch.cat(xs), torch.cat(zs), torch.cat(labels)
    if balance:   # each class's first `quota` confident samples (fewer if max_draws did not hold them)
        quota = class_quotas(counts, target, n)
        idx = torch.cat([(lab == c).nonzero().flatten()[:int(q)] for c, q in enumerate(quota)])
    else:
        idx = torch.arange(min(n, len(x)))
    pos = x[idx]
    if len(pos) < n // 2:
        raise ValueError(f"only {len(pos)} positives found for target {target} in {drawn} samples: the classifier "
                         "labels almost every sample as the target, or is rarely confident (lower "
                         "unlearn.pos_min_top_prob or raise unlearn.pos_max_target_prob)")
    return pos, z[idx], drawn


def check_negatives(negatives: torch.Tensor, G) -> torch.Tensor:
    """Refuse too few negatives or images of the wrong shape/range, with what to do next."""
    n = 0 if negatives is None else len(negatives)
    if n < MIN_NEGATIVES:
        raise ValueError(f"need at least {MIN_NEGATIVES} negatives, got {n}: select more samples that show the "
                         "feature (gallery or upload), or let the classifier pick them")
    if tuple(negatives.shape[1:]) != tuple(G.image_shape):
        raise ValueError(f"negatives have shape {tuple(negatives.shape[1:])}, the generator makes "
                         f"{tuple(G.image_shape)}: resize them first (atu.data.image_to_tensor does)")
    if negatives.min() < -1.001 or negatives.max() > 1.001:
        raise ValueError("negatives must be in [-1, 1] like the generator's output")
    return negatives


# --- a classifier from a user's clicks (features with no shipped classifier) -----------------------------------

def fit_linear_head(f: torch.Tensor, y: torch.Tensor, weight_decay: float, steps: int = 200) -> torch.nn.Linear:
    """Logistic regression (2 logits, label 1 = has the attribute) on standardised features, by L-BFGS; the
    standardisation is folded into the returned layer, which takes raw features."""
    mu, sd = f.mean(0), f.std(0) + 1e-6
    fs = (f - mu) / sd
    lin = torch.nn.Linear(f.shape[1], 1)
    torch.nn.init.zeros_(lin.weight), torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(lin(fs).squeeze(1), y.float()) \
            + weight_decay * (lin.weight ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    head = torch.nn.Linear(f.shape[1], 2)
    with torch.no_grad():   # logits (0, s): argmax = (s > 0) = (p > 0.5)
        w = lin.weight[0] / sd
        head.weight.zero_(), head.bias.zero_()
        head.weight[1] = w
        head.bias[1] = lin.bias[0] - (w * mu).sum()
    return head


def feedback_classifier(C, has: torch.Tensor, has_not: torch.Tensor, weight_decay: float = 1e-2):
    """A 2-class classifier (label 1 = has the feature) trained on the spot from a user's clicks: the samples they
    selected (`has`) and the ones they were shown and did not select (`has_not`). It is C's body, frozen, with a
    linear head fitted on its features, so it costs a second. Its verdicts are estimates: the app says so."""
    import copy

    if len(has) < MIN_NEGATIVES or len(has_not) < MIN_NEGATIVES:
        raise ValueError(f"a classifier from clicks needs at least {MIN_NEGATIVES} selected and {MIN_NEGATIVES} "
                         f"shown-but-not-selected samples, got {len(has)} and {len(has_not)}")
    C.eval()
    with torch.no_grad():
        f = torch.cat([C.features(has), C.features(has.flip(3)), C.features(has_not), C.features(has_not.flip(3))])
    y = torch.cat([torch.ones(2 * len(has)), torch.zeros(2 * len(has_not))]).long()
    head = fit_linear_head(f, y, weight_decay)
    out = copy.deepcopy(C)
    if not isinstance(out.head, torch.nn.Linear) or out.head.out_features != 2:
        raise ValueError(f"{type(C).__name__} has no 2-class linear head: use a face attribute classifier")
    out.head.load_state_dict(head.state_dict())
    out.attribute = "custom"
    if getattr(out, "_hub_mixin_config", None):
        out._hub_mixin_config = {**out._hub_mixin_config, "attribute": "custom"}
    return out.eval()
