"""GAN losses and the repulsion family, as small pure functions (hand-checked in tests/test_losses.py).

Repulsion (method.md, stage 2) pushes the generator's parameters theta away from the K adapted models theta_N:
  d     = parameter_distance(theta, theta_N)   (a squared L2 distance, see there for the normalisation)
  IL2   = gamma / d
  NL2   = -gamma * d
  EL2   = w * exp(-alpha * d)
Each is *added* to the generator's loss, so minimising it increases d.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

REPULSIONS = ("el2", "nl2", "il2", "none")


# --- adversarial (non-saturating logistic, Goodfellow et al. 2014; as in rosinality/stylegan2-pytorch) ---------

def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), averaged."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def d_negative_loss(neg_logits: torch.Tensor) -> torch.Tensor:
    """-log(1 - sigmoid(D(x_neg))), averaged: D calls the negatives (samples showing the feature) fake, the third
    term of a negative-aware D (Rumi-GAN, Asokan & Seelamantula 2020; Kong & Chaudhuri 2023)."""
    return F.softplus(neg_logits).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(D(G(z))), averaged."""
    return F.softplus(-fake_logits).mean()


def anchor_loss(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared pixel error between G's images and the base's images of the same latents (stage 2's anchor)."""
    return (images - targets).pow(2).mean()


def guide_loss(logits: torch.Tensor, target: int) -> torch.Tensor:
    """-log(1 - p(target)), averaged, from a classifier's logits: stage 2's guide term on G's samples (a sample the
    classifier is sure is not the target costs ~0, one it is sure is the target costs a lot). Computed as
    softplus(l_t - logsumexp_{j != t} l_j), stable at any logit scale."""
    others = torch.cat([logits[:, :target], logits[:, target + 1:]], dim=1)
    return F.softplus(logits[:, target] - others.logsumexp(1)).mean()


def sharpen_loss(logits: torch.Tensor, exclude: int | None = None) -> torch.Tensor:
    """mean_i H(p_i) - H(mean_i p_i), p_i = softmax(logits_i), H the entropy in nats: low when each sample is
    confidently one class (first part) and the batch holds the classes evenly (second part; the pair of IMSAT and
    CatGAN). Between -log(classes) (one-hot samples, evenly mixed) and log(classes). The base GAN's sharpening term
    on G's samples (atu.mnist.GANRunConfig.sharpen_weight): fewer samples that two classifiers read two ways.
    `exclude`: a class left out (its logit dropped; retraining without it), so the others are the ones mixed evenly."""
    if exclude is not None:
        logits = logits[:, torch.arange(logits.shape[1], device=logits.device) != exclude]
    logp = logits.log_softmax(1)
    per_sample = -(logp.exp() * logp).sum(1).mean()
    mean_p = logp.exp().mean(0)
    return per_sample + (mean_p * mean_p.clamp_min(1e-12).log()).sum()


def mix_loss(logits: torch.Tensor, target: int, mix: torch.Tensor) -> torch.Tensor:
    """KL(mix || q) between the classes' wanted mix and the batch's: q = the mean over the batch of each sample's
    softmax over the classes other than the target (renormalised per sample, so the term never gains by making a
    sample look like the target); mix: (classes,) shares, its target entry ignored. Stage 2's class-mix term on G's
    samples: 0 when the batch holds the other classes in the wanted shares, large when a class the removed samples
    fall into (3 or 5 for eights) is over-represented."""
    keep = torch.arange(logits.shape[1], device=logits.device) != target
    q = logits[:, keep].softmax(1).mean(0)
    m = mix[keep].to(q) / mix[keep].sum()
    return F.kl_div(q.clamp_min(1e-12).log(), m, reduction="sum")   # sum m log(m / q), 0 where m = 0


def keep_loss(logits: torch.Tensor, base_probs: torch.Tensor, target: int) -> torch.Tensor:
    """Stage 2's class keep: each sample of G should keep the class its latent had in the base generator, the
    target left out. q = the base's class probabilities on the same latent with the target's removed and the rest
    renormalised, w = 1 - p_base(target): the term is sum_i w_i KL(q_i || softmax(logits_i)) / sum_i w_i. A latent
    the base drew as the target (w ~ 0) is free to go anywhere; one it drew as a 3 must stay a 3 (its p(target)
    must fall too, since q has none)."""
    keep = torch.arange(base_probs.shape[1], device=base_probs.device) != target
    q = base_probs * keep
    w = q.sum(1)
    q = q / w.clamp_min(1e-12).unsqueeze(1)
    kl = F.kl_div(logits.log_softmax(1), q, reduction="none").sum(1)   # q log(q / p), 0 where q = 0
    return (w * kl).sum() / w.sum().clamp_min(1e-12)


def bounded_negative(loss_neg: torch.Tensor, cap: float) -> torch.Tensor:
    """A diffusion model's negative term: relu(cap - loss_neg). Minimising it raises the denoising loss on the
    negatives up to `cap` and no further (its gradient is 0 past the cap): raising a loss without a bound
    diverges (atu.diffusion, stage 2)."""
    return F.relu(cap - loss_neg)


def r1_penalty(D, x_real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): mean over the batch of |grad_x D(x)|^2 at real images; D is penalised for
    being steep where the data are."""
    x = x_real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


class LogisticGANLoss:
    """The adversarial loss of atu.train.train_gan as one swappable object (after stylegan2-ada-pytorch's
    training/loss.py): a family that needs another loss or regulariser passes its own object with the same two
    methods instead of forking the loop. Each returns (loss, logs: dict of scalars to log).

    neg_weight: the negative-aware D's weight on its third term (0 = off); r1_gamma: R1 weight (0 = off); r1_every:
    stylegan2's lazy regularisation: R1 on every r1_every-th D step only, weighted r1_gamma / 2 * r1_every (R1's
    double backward through D made a CPU step ~4x dearer when taken every step)."""

    def __init__(self, neg_weight: float = 0.0, r1_gamma: float = 0.0, r1_every: int = 1):
        self.neg_weight, self.r1_gamma, self.r1_every = neg_weight, r1_gamma, max(int(r1_every), 1)
        self.calls = 0

    def d_loss(self, D, real: torch.Tensor, fake: torch.Tensor, neg: torch.Tensor | None = None):
        loss, logs = d_logistic_loss(D(real), D(fake)), {}
        if neg is not None and self.neg_weight > 0:
            d_neg = d_negative_loss(D(neg))
            loss, logs["d_neg"] = loss + self.neg_weight * d_neg, d_neg
        self.calls += 1
        if self.r1_gamma > 0 and (self.calls - 1) % self.r1_every == 0:   # lazy: every r1_every-th call, scaled up
            r1 = r1_penalty(D, real)
            loss, logs["r1"] = loss + self.r1_gamma / 2 * self.r1_every * r1, r1
        return loss, logs

    def g_loss(self, D, fake: torch.Tensor):
        return g_nonsaturating_loss(D(fake)), {}


# --- parameter distance and repulsion ---------------------------------------------------------------------------

def parameter_distance(theta: list[torch.Tensor], theta_N: list[list[torch.Tensor]]) -> torch.Tensor:
    """Mean over the K adapted models and the T parameter tensors of the per-tensor mean squared difference:

        d = (1 / (K T)) * sum_k sum_t mean((theta_t - theta_N[k]_t)^2)

    Every tensor weighs the same whatever its size (like the official code), but unlike the official
    `K / 2T * sum_k sum_t`, d does not grow with K: gamma/alpha keep their meaning when K changes.
    """
    if not theta_N:
        raise ValueError("parameter_distance needs at least one adapted model (theta_N is empty)")
    total = theta[0].new_zeros(())
    for adapted in theta_N:
        if len(adapted) != len(theta):
            raise ValueError(f"adapted model has {len(adapted)} tensors, generator has {len(theta)}")
        for p, q in zip(theta, adapted):
            total = total + (p - q).pow(2).mean()
    return total / (len(theta_N) * len(theta))


def il2(d: torch.Tensor, gamma: float) -> torch.Tensor:
    """Inverse: gamma / d."""
    return gamma / d


def nl2(d: torch.Tensor, gamma: float) -> torch.Tensor:
    """Negative: -gamma * d."""
    return -gamma * d


def el2(d: torch.Tensor, alpha: float, weight: float = 1.0) -> torch.Tensor:
    """Exponential: weight * exp(-alpha * d)."""
    return weight * torch.exp(-alpha * d)


def repulsion(kind: str, d: torch.Tensor, gamma: float, weight: float = 1.0) -> torch.Tensor:
    """The repulsion term by name; `gamma` is alpha for "el2". "none" is 0 (plain fine-tuning)."""
    if kind == "el2":
        return el2(d, gamma, weight)
    if kind == "nl2":
        return nl2(d, gamma)
    if kind == "il2":
        return il2(d, gamma)
    if kind == "none":
        return d.new_zeros(())
    raise ValueError(f"unknown repulsion loss {kind!r}; choose one of {REPULSIONS}")
