"""The one GAN training loop (Accelerate), reused by base training, stage 1, stage 2 and the baselines,
and the classifier's loop.

Runs as it is on the CPU, on one GPU, or as several processes (`accelerate launch`, `torchrun`,
`accelerate.debug_launcher`): data are sharded by Accelerate, gradients averaged by DDP. Nothing here reads
the disk: the caller hands in tensors and modules, and gets modules back.
"""
from __future__ import annotations

import copy
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
from accelerate import Accelerator, PartialState
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from .augment import random_affine, random_cutout
from .losses import LogisticGANLoss
from .runtime import channels_last


class Cancelled(RuntimeError):
    """Raised by a progress callback to stop a run (the app's Stop button)."""


@dataclass
class GANTrainConfig:
    steps: int = 10_000               # generator updates (one D update before each)
    batch_size: int = 64              # per process; the real data are repeated if there are fewer images
    lr_g: float = 2e-4                # Adam learning rate of G (DCGAN's value)
    lr_d: float = 2e-4                # Adam learning rate of D
    beta1: float = 0.5                # Adam beta1 (DCGAN's value; 0.9 makes GANs oscillate)
    beta2: float = 0.999              # Adam beta2
    lr_schedule: str = "constant"     # both learning rates over the run: "constant", or a name diffusers'
                                      #   optimization.get_scheduler knows ("linear", "cosine": decay to 0 at the end)
    ema_beta: float = 0.999           # G_ema <- beta * G_ema + (1 - beta) * G after every step; 0 = no EMA
    augment_translate: float = 0.0    # DiffAugment-style random shift (fraction of size) of real and fake for D;
                                      #   > 0 when D sees only a few real images (stage 1)
    augment_cutout: float = 0.0       # DiffAugment cutout: one square of this fraction of the size, per image, set
                                      #   to 0 in both real and fake for D; 0 = off (base training: 0.5)
    d_warmup: int = 0                 # D-only steps before G trains: a fresh D (the base model shipped none) must
                                      #   first learn real vs fake, or its early gradients only shake G
    g_bn_frozen: bool = False         # G's BatchNorm layers normalise with their running statistics and keep them
                                      #   (fine-tuning: train = inference, no small-batch statistics, README "Faces")
    g_frozen: str = ""                # comma list of G parameter-name prefixes kept fixed ("net.9,net.12"), "" = none
    neg_weight: float = 0.0           # weight of D's negative term softplus(D(x_neg)) (losses.d_negative_loss), on
                                      #   half a batch from `negatives`; 0 = off (the source is never called)
    r1_gamma: float = 0.0             # R1 penalty on D's gradient at the (augmented) real images, added as
                                      #   r1_gamma / 2 * R1 (Mescheder et al. 2018); 0 = off
    r1_every: int = 16                # ... taken lazily, on every r1_every-th D step (weight x r1_every; stylegan2)
    seed: int = 0                     # seeds latents, data order, augmentation
    log_every: int = 50               # steps between logged losses (and `evaluate` calls)
    cpu: bool = False                 # force the CPU even when a GPU is visible


@dataclass
class GANTrainResult:
    G: nn.Module                      # the trained generator (unwrapped, on the CPU)
    D: nn.Module                      # the trained discriminator
    G_ema: nn.Module                  # the EMA copy of G (the one to evaluate and ship)
    history: list[dict] = field(default_factory=list)   # one dict per logged step
    seconds: float = 0.0

    def save_networks(self, folder) -> None:
        """The layout train-gan writes and --init reads: the EMA G at the root (the model to use), the raw G in
        generator-raw/ and D in discriminator/ (their configs and weights only: the root card describes them)."""
        folder = Path(folder)
        self.G_ema.save_pretrained(folder)
        self.G.save_pretrained(folder / "generator-raw")
        self.D.save_pretrained(folder / "discriminator")
        for sub in ("generator-raw", "discriminator"):
            (folder / sub / "README.md").unlink(missing_ok=True)

    @classmethod
    def load_networks(cls, folder, seconds: float = 0.0) -> "GANTrainResult":
        """The raw G, D and EMA G that save_networks wrote to `folder` (no history)."""
        from .models import load_generator, load_model

        folder = Path(folder)
        return cls(G=load_generator(folder / "generator-raw"), D=load_model(folder / "discriminator"),
                   G_ema=load_generator(folder), seconds=seconds)


ExtraLoss = Callable[[nn.Module], tuple[torch.Tensor, dict]]
FakeLoss = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict]]   # (G's step samples, their latents)
                                                                                #   -> (loss, logs)
NegativeSource = Callable[[int], torch.Tensor]   # n -> n images (in [-1, 1]) that D must call fake


def lr_schedule(opt: torch.optim.Optimizer, name: str, warmup: int, steps: int):
    """diffusers' learning-rate schedule `name` ("linear", "cosine", ...: warm-up, then decay to 0 at `steps`)."""
    from diffusers.optimization import get_scheduler

    return get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=steps)


def requires_grad(model: nn.Module, flag: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(flag)


@torch.no_grad()
def accumulate(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * model for parameters; buffers (BN statistics) are copied."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1 - beta)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def _quiet(accelerator) -> bool:
    """Progress bars only on the main process, and none when TQDM_DISABLE is set (tests, the app's logs)."""
    return not accelerator.is_local_main_process or bool(os.environ.get("TQDM_DISABLE"))


def _infinite(loader):
    epoch = 0
    while True:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def train_gan(G: nn.Module, D: nn.Module, real: torch.Tensor, cfg: GANTrainConfig,
              g_extra_loss: ExtraLoss | None = None,
              evaluate: Callable[[nn.Module], dict] | None = None,
              on_log: Callable[[int, dict], None] | None = None,
              G_ema: nn.Module | None = None, desc: str = "gan",
              negatives: NegativeSource | None = None, loss=None,
              g_latents: Callable[[int], torch.Tensor] | None = None,
              g_fake_loss: FakeLoss | None = None) -> GANTrainResult:
    """Train G and D as a GAN whose real data are `real` (N, C, H, W in [-1, 1]).

    g_extra_loss(G) -> (loss, logs) is added to G's adversarial loss (EWC in stage 1, repulsion in stage 2); its
    gradient norm is logged. evaluate(G_ema) -> dict runs every `log_every` steps (e.g. the negative rate) and
    on_log(step, logs) receives each logged dict (raise Cancelled there to stop).
    negatives(n) -> n images that D's loss also calls fake, weighted by cfg.neg_weight (stage 2's negative-aware D);
    its mean term is logged as `d_neg`.
    loss: the adversarial loss object (atu.losses.LogisticGANLoss(cfg.neg_weight, cfg.r1_gamma, cfg.r1_every) by default): its d_loss and g_loss
    are all the loop knows of the loss, so a family with R1 or another loss passes its own.
    g_latents(n) -> n latents for G's own step (default: n ~ N(0, I), as in D's step).
    g_fake_loss(images, latents) -> (loss, logs) is added to G's loss on the very samples of G's own step and their
    latents (stage 2's guide and class keep).
    G and D are trained in place; G_ema defaults to a copy of G.
    """
    if G_ema is None:
        G_ema = copy.deepcopy(G)
    on_cpu = PartialState(cpu=cfg.cpu).device.type == "cpu"   # the layout was measured on the CPU only
    with channels_last(G, D, G_ema) if on_cpu else nullcontext():   # G, D, G_ema are this run's own
        return _train_gan(G, D, real, cfg, g_extra_loss, evaluate, on_log, G_ema, desc, negatives,
                          loss or LogisticGANLoss(cfg.neg_weight, cfg.r1_gamma, cfg.r1_every), g_latents,
                          g_fake_loss)


def frozen_names(model: nn.Module, prefixes: str) -> list[str]:
    """Names of the parameters under the comma-separated module prefixes ("net.9,net.12" matches net.9.weight and
    net.12.weight, not net.90.weight)."""
    pre = [p.strip() for p in prefixes.split(",") if p.strip()]
    return [n for n, _ in model.named_parameters() if any(n == p or n.startswith(p + ".") for p in pre)]


def _train_gan(G, D, real, cfg, g_extra_loss, evaluate, on_log, G_ema, desc, negatives, loss,
               g_latents, g_fake_loss) -> GANTrainResult:
    if len(real) == 0:
        raise ValueError("train_gan needs at least one real image")
    t0 = time.time()
    accelerator = Accelerator(cpu=cfg.cpu)
    set_seed(cfg.seed)
    G_ema.eval().requires_grad_(False)
    G.train(), D.train()
    if cfg.g_bn_frozen:
        for m in G.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    names = set(frozen_names(G, cfg.g_frozen))
    frozen = [p for n, p in G.named_parameters() if n in names]
    for p in frozen:
        p.requires_grad_(False)
    latent_dim = G.latent_dim

    min_len = cfg.batch_size * accelerator.num_processes
    if len(real) < min_len:  # a few negatives: repeat them so that every process gets full batches
        real = real.repeat(math.ceil(min_len / len(real)), 1, 1, 1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(real), batch_size=cfg.batch_size,
                                         shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(cfg.seed))
    # fused: one kernel for all of a model's parameters (PyTorch's CPU and GPU kernels); on the 2-core CPU the G and D
    # updates of an MNIST step cost 1.1 ms instead of 4.7 ms, equal up to float rounding
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), fused=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), fused=True)
    scheds = [] if cfg.lr_schedule == "constant" else [lr_schedule(o, cfg.lr_schedule, 0, cfg.steps) for o in (opt_g, opt_d)]
    # the schedules stay outside prepare(): Accelerate steps a prepared scheduler once per process at every step (it
    # assumes `steps` counts the whole run's batches), so with N processes a decay would end at steps / N
    G, D, opt_g, opt_d, loader = accelerator.prepare(G, D, opt_g, opt_d, loader)
    G_ema.to(accelerator.device)
    G_raw = accelerator.unwrap_model(G)
    aug_gen = torch.Generator().manual_seed(cfg.seed + accelerator.process_index + 1)

    def aug(x):  # the same random transforms for real and fake (DiffAugment): D never sees an unaugmented image
        if cfg.augment_translate:
            x = random_affine(x, translate=cfg.augment_translate, generator=aug_gen)
        if cfg.augment_cutout:
            x = random_cutout(x, cfg.augment_cutout, generator=aug_gen)
        return x

    history, batches = [], _infinite(loader)

    use_neg = negatives is not None and cfg.neg_weight > 0

    def d_step(x_real, fake=None):
        """One D update; `fake`: G's samples of this step, detached (None: D draws its own, as in the warm-up)."""
        requires_grad(D, True)
        with torch.no_grad():
            if fake is None:
                fake = G(torch.randn(x_real.shape[0], latent_dim, device=accelerator.device))
            x_neg = negatives(max(x_real.shape[0] // 2, 1)).to(accelerator.device) if use_neg else None
        d_loss, d_logs = loss.d_loss(D, aug(x_real), aug(fake), aug(x_neg) if use_neg else None)
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(d_loss)
        opt_d.step()
        return d_loss, d_logs

    for _ in range(cfg.d_warmup):
        d_step(next(batches)[0])
    bar = tqdm(range(1, cfg.steps + 1), desc=desc, disable=_quiet(accelerator), leave=False)
    for step in bar:
        (x_real,) = next(batches)
        b = x_real.shape[0]
        if g_latents is None:   # one batch of G's samples for both updates (as PyTorch's DCGAN example): D's update
            # sees it detached, G's is taken through the updated D; G's forward runs once a step instead of twice
            z = torch.randn(b, latent_dim, device=accelerator.device)
            fake = G(z)
            d_loss, d_logs = d_step(x_real, fake.detach())
        else:                   # G's step draws its own latents: D's step its own samples
            d_loss, d_logs = d_step(x_real)
            z = g_latents(b).to(accelerator.device)
            fake = G(z)

        # G step
        requires_grad(D, False)
        g_adv, logs = loss.g_loss(D, aug(fake))
        g_loss = g_adv
        if g_fake_loss is not None:
            fake_term, fake_logs = g_fake_loss(fake, z)
            g_loss, logs = g_loss + fake_term, {**logs, **fake_logs}
        log_now = step % cfg.log_every == 0 or step == cfg.steps
        if g_extra_loss is not None:
            extra, extra_logs = g_extra_loss(G_raw)
            g_loss, logs = g_loss + extra, {**logs, **extra_logs}
            if log_now and extra.requires_grad:  # how hard the extra term pulls, next to the adversarial loss
                grads = torch.autograd.grad(extra, [p for p in G_raw.parameters() if p.requires_grad],
                                            retain_graph=True, allow_unused=True)
                logs["extra_grad_norm"] = float(torch.sqrt(sum((g ** 2).sum() for g in grads if g is not None)))
            elif log_now:
                logs["extra_grad_norm"] = 0.0
        opt_g.zero_grad(set_to_none=True)
        accelerator.backward(g_loss)
        opt_g.step()
        for sched in scheds:   # after the step's D and G updates (D's warm-up steps keep the first rate)
            sched.step()
        if cfg.ema_beta > 0:
            accumulate(G_ema, G_raw, cfg.ema_beta)
        else:
            G_ema.load_state_dict(G_raw.state_dict())

        if log_now:
            row = {"step": step, "d_loss": float(d_loss.detach()), "g_adv": float(g_adv.detach()),
                   "lr": opt_g.param_groups[0]["lr"],
                   **{k: float(v.detach()) for k, v in d_logs.items()},
                   **{k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in logs.items()}}
            if evaluate is not None:
                row.update(evaluate(G_ema))
            history.append(row)
            bar.set_postfix({k: round(v, 4) for k, v in row.items() if k != "step"})
            if on_log is not None:
                on_log(step, row)

    accelerator.wait_for_everyone()
    G_out = accelerator.unwrap_model(G).cpu().eval()
    D_out = accelerator.unwrap_model(D).cpu().eval()
    requires_grad(D_out, True)
    for p in frozen:   # g_frozen holds only for this run
        p.requires_grad_(True)
    accelerator.free_memory()
    return GANTrainResult(G_out, D_out, G_ema.cpu().eval(), history, time.time() - t0)


# --------------------------------------------------------------------------------------------------------------
# Classifier


@dataclass
class ClassifierTrainConfig:
    epochs: int = 30                  # passes over the 4,000 training digits
    batch_size: int = 64
    lr: float = 2e-3                  # AdamW, cosine-decayed to 0
    weight_decay: float = 1e-4
    rotate_deg: float = 12.0          # augmentation: random rotation, shift and zoom per image
    translate: float = 0.1
    scale: float = 0.1
    label_smoothing: float = 0.0      # cross-entropy label smoothing
    optimizer: str = "adamw"          # "adamw" | "sgd" (Nesterov momentum 0.9); either with a one-cycle schedule
    seed: int = 0
    cpu: bool = False


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: ClassifierTrainConfig,
                     desc: str = "classifier") -> nn.Module:
    """Supervised training with per-image random affine augmentation; returns the model in eval mode."""
    accelerator = Accelerator(cpu=cfg.cpu)
    set_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=cfg.batch_size,
                                         shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(cfg.seed))
    if cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {cfg.optimizer!r}")
    total = cfg.epochs * (len(loader) // accelerator.num_processes)   # this process's steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(total, 1), pct_start=0.15)
    model, opt, loader = accelerator.prepare(model, opt, loader)   # the schedule outside prepare: see _train_gan
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    model.train()
    bar = tqdm(range(cfg.epochs), desc=desc, disable=_quiet(accelerator), leave=False)
    for _ in bar:
        for xb, yb in loader:
            xb = random_affine(xb, cfg.rotate_deg, cfg.translate, cfg.scale, generator=gen)
            loss = nn.functional.cross_entropy(model(xb), yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            opt.step()
            sched.step()
        bar.set_postfix(loss=loss.item())
    accelerator.wait_for_everyone()
    return accelerator.unwrap_model(model).cpu().eval()
