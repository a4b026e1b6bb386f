"""The MNIST family's shipped models: the digit classifiers and the DCGAN (G, D, EMA of G), trained here.

    python -m atu train-classifier --out checkpoints/mnist-classifier
    python -m atu train-gan --out checkpoints/mnist-dcgan --classifier checkpoints/mnist-classifier
    python -m atu train-ddpm --out checkpoints/mnist-ddpm

Each writes a self-describing folder: model.safetensors + config.json (the model), train_config.json (the
resolved options), metrics.json (the measured quality), README.md (the card) and a sample grid PNG.
"""
from __future__ import annotations

import copy
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from accelerate import PartialState

from . import __version__
from .data import NUM_CLASSES, mnist_split
from .cards import save_checkpoint, write_checkpoint_card
from .io import atomic_output_dir, check_output_dir, write_json
from .metrics import agreement, classify, fid
from .models import DCGANDiscriminator, DCGANGenerator, DigitClassifier, DigitResNet, load_model
from .sampling import generate, make_latent_bank, save_latent_bank, to_pil
from .diffusion import DDPMGenerator, DiffusionTrainConfig, train_diffusion
from .train import ClassifierTrainConfig, GANTrainConfig, GANTrainResult, train_classifier, train_gan

LATENT_BANK_SIZE = 10_000   # >= 5,000 (method.md uses 5,056 for PUL); 10,000 for the class-balance check
LATENT_BANK_SEED = 1234     # never change: every shipped number is measured on this bank
DDPM_LATENT_BANK_SIZE = 2_000   # the DDPM's bank is its initial noise (1x32x32 = 1,024 numbers a latent) and each
                                #   sample costs 20 UNet calls: 2,000 (the benchmark's metric size), not 10,000


@dataclass
class ClassifierRunConfig:
    out: str = "checkpoints/mnist-classifier"                         # output folder
    arch: str = "cnn"                                                 # "cnn": DigitClassifier, the training
                                                                      #   classifier (picks samples, FID features);
                                                                      #   "resnet": DigitResNet, the independent
                                                                      #   evaluator (checkpoints/mnist-classifier-b)
    width: int = 32                                                   # CNN width (channels of the first conv)
    feature_dim: int = 128                                            # penultimate size = FID feature size (cnn)
    role: str = "classifier"                                          # what its card says it is for (training
                                                                      #   does not read it): "classifier" (the
                                                                      #   training classifier), "co-classifier"
                                                                      #   (read beside it on training paths only,
                                                                      #   RunConfig.co_classifiers); a resnet is
                                                                      #   the independent evaluator
    train: ClassifierTrainConfig = field(default_factory=ClassifierTrainConfig)


@dataclass
class GANRunConfig:
    out: str = "checkpoints/mnist-dcgan"                              # output folder
    classifier: str = "checkpoints/mnist-classifier"                  # measures class balance and FID
    evaluator: str = "checkpoints/mnist-classifier-b"                 # independent classifier: how often it agrees
                                                                      #   with `classifier` on G's samples ("" = skip)
    latent_dim: int = 64                                              # size of z
    width: int = 32                                                   # G's width (last hidden channels)
    d_width: int = 0                                                  # D's width; 0 = the same as G's
    d_spectral_norm: bool = False                                     # D with spectral norm instead of BN
    fid_every: int = 0                                                # steps between FIDs of the EMA G (2,000 bank
                                                                      #   latents) in train_history; 0 = off
    init: str = ""                                                    # a GAN folder written by train-gan to go on
                                                                      #   from (its raw G, D and EMA G; the widths
                                                                      #   are its own); "" = from scratch
    sharpen_weight: float = 0.0                                       # G's loss gains this x atu.losses.sharpen_loss
                                                                      #   of `sharpen_classifier` on its samples: each
                                                                      #   sample one digit, the ten drawn evenly; 0 = off
    sharpen_classifier: str = "checkpoints/mnist-classifier-c"        # read by that term only: never `classifier` or
                                                                      #   `evaluator`, which measure the result
    train: GANTrainConfig = field(default_factory=GANTrainConfig)


@dataclass
class DDPMRunConfig:
    out: str = "checkpoints/mnist-ddpm"                               # output folder
    classifier: str = "checkpoints/mnist-classifier"                  # measures class balance and FID
    evaluator: str = "checkpoints/mnist-classifier-b"                 # independent classifier ("" = skip)
    block_out_channels: str = "32,64,64"                              # the UNet's widths, one per resolution
    layers_per_block: int = 1                                         # ResNet layers per UNet block
    sample_steps: int = 20                                            # DDIM steps of G(z)
    fid_every: int = 0                                                # steps between FIDs of the EMA model (on
                                                                      #   fid_latents bank latents); 0 = off
    fid_latents: int = 250                                            # latents for that learning-curve FID
    init: str = ""                                                    # a folder written by train-ddpm to go on
                                                                      #   from (its raw model trains, its EMA
                                                                      #   goes on averaging); "" = from scratch
    sharpen_weight: float = 0.0                                       # the loss gains this x atu.losses.sharpen_loss
                                                                      #   of `sharpen_classifier` on samples drawn
                                                                      #   by the model's own sampler, the gradient
                                                                      #   back through it (the GAN's term, as
                                                                      #   reward fine-tuning); 0 = off
    sharpen_classifier: str = "checkpoints/mnist-classifier-c"        # read by that term only: never `classifier` or
                                                                      #   `evaluator`, which measure the result
    sharpen_batch: int = 16                                           # samples a step for that term: each costs
                                                                      #   `sample_steps` UNet calls and their backward
    sharpen_grad_steps: int = 0                                       # the term's gradient goes through the sampler's
                                                                      #   last k steps only (DRaFT-K); 0 = every step
    train: DiffusionTrainConfig = field(default_factory=DiffusionTrainConfig)


def _env() -> dict:
    return {"atu": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"}


def run_train_classifier(cfg: ClassifierRunConfig, overwrite: bool = False) -> dict:
    check_output_dir(cfg.out, overwrite)
    x, y = mnist_split("train")
    xh, yh = mnist_split("heldout")
    t0 = time.time()
    torch.manual_seed(cfg.train.seed)   # the initialisation too comes from the recipe's seed (torch's own start seed
                                        #   differs per process: unseeded, the same command trained another CNN)
    if cfg.arch == "cnn":
        net = DigitClassifier(NUM_CLASSES, cfg.width, cfg.feature_dim)
    elif cfg.arch == "resnet":
        net = DigitResNet(NUM_CLASSES, cfg.width)
    else:
        raise ValueError(f"arch must be 'cnn' or 'resnet', got {cfg.arch!r}")
    C = train_classifier(net, x, y, cfg.train)
    seconds = time.time() - t0
    pred = classify(C, xh)
    per_class = [float((pred[yh == c] == c).float().mean()) for c in range(NUM_CLASSES)]
    metrics = {"heldout_accuracy": float((pred == yh).float().mean()), "heldout_per_class_accuracy": per_class,
               "train_accuracy": float((classify(C, x) == y).float().mean()), "train_seconds": seconds,
               "n_train": len(x), "n_heldout": len(xh), **_env()}
    wrong = (pred != yh).nonzero().view(-1)[:32]

    def errors_grid(tmp):   # the held-out digits it gets wrong, beside the card
        if len(wrong):
            to_pil(xh[wrong], nrow=8).resize((8 * 34 * 3, ((len(wrong) + 7) // 8) * 34 * 3), 0).save(
                tmp / "heldout_errors.png")

    save_checkpoint(cfg.out, C, metrics, cfg, overwrite, extra=errors_grid)
    return metrics


def new_gan(cfg: GANRunConfig) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    """A fresh G and D as `cfg` describes them (G first: the seed's draws go to G's weights, then D's)."""
    return (DCGANGenerator(cfg.latent_dim, 1, 32, cfg.width),
            DCGANDiscriminator(1, 32, cfg.d_width or cfg.width, spectral_norm=cfg.d_spectral_norm))


def run_train_gan(cfg: GANRunConfig, overwrite: bool = False) -> dict:
    check_output_dir(cfg.out, overwrite)
    x, _ = mnist_split("train")
    xh, _ = mnist_split("heldout")
    C = load_model(cfg.classifier, kind="classifier")
    earlier = []
    if cfg.init:   # go on training a saved GAN (e.g. with a decaying learning rate): its widths are the ones recorded
        G, D, G_ema, earlier = _gan_init(cfg)
        g_width, d = G._hub_mixin_config["width"], D._hub_mixin_config
        cfg = replace(cfg, latent_dim=G.latent_dim, width=g_width, d_width=0 if d["width"] == g_width else d["width"],
                      d_spectral_norm=d["spectral_norm"])
    else:
        torch.manual_seed(cfg.train.seed)   # G's and D's first weights from the recipe's seed, as every other draw
        (G, D), G_ema = new_gan(cfg), None
    latents = make_latent_bank(LATENT_BANK_SIZE, G.latent_dim, LATENT_BANK_SEED)
    calls = iter(range(1, 10**9))

    def learning_curve(G_ema) -> dict:  # runs every log_every steps: FID on a slice of the bank every fid_every
        step = next(calls) * cfg.train.log_every
        if not cfg.fid_every or step % cfg.fid_every:
            return {}
        out = {"fid_2k": fid(xh, generate(G_ema, latents[:2000]), C)["fid"]}
        print(f"train-gan step {step}: FID (2,000 samples) {out['fid_2k']:.2f}", flush=True)
        return out

    res = train_gan(G, D, x, cfg.train, evaluate=learning_curve, desc="train-gan", G_ema=G_ema,
                    g_fake_loss=sharpening(cfg) if cfg.sharpen_weight > 0 else None)
    E = load_model(cfg.evaluator, kind="classifier") if cfg.evaluator else None
    # G draws the 10,000 measured samples where it trained (a wide G on the CPU costs minutes); the classifiers stay
    # on the CPU, so the features (and FID) are computed as everywhere else
    dev = PartialState(cpu=cfg.train.cpu).device
    metrics = measure_base_gan(copy.deepcopy(res.G_ema).to(dev), C, latents, x, xh, evaluator=E)
    metrics["raw_G"] = measure_base_gan(copy.deepcopy(res.G).to(dev), C, latents, x, xh, floor=False, evaluator=E)
    metrics.update(train_seconds=res.seconds, earlier_runs=earlier, fid_curve=[{"step": h["step"], "fid_2k": h["fid_2k"]}
                                                          for h in res.history if "fid_2k" in h], **_env(),
                   **({"gpu": torch.cuda.get_device_name(dev)} if dev.type == "cuda" else {}))   # the card names it
    with atomic_output_dir(cfg.out, overwrite) as tmp:
        res.save_networks(tmp)
        _write_base_run(tmp, cfg, metrics, res, latents)
    return metrics


def _write_base_run(folder: Path, cfg, metrics: dict, res: GANTrainResult, latents: torch.Tensor) -> None:
    """What every MNIST base run writes beside its networks: the latent bank, the recipe, the measurements, the
    training history, 64 samples on the bank's first latents (3x nearest-neighbour, to read by eye) and the card
    that names the command reproducing it."""
    save_latent_bank(latents, folder, LATENT_BANK_SEED)
    write_json(folder / "train_config.json", cfg)
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "train_history.json", res.history)
    to_pil(generate(res.G_ema, latents[:64]), nrow=8).resize((8 * 34 * 3, 8 * 34 * 3), 0).save(folder / "samples.png")
    write_checkpoint_card(folder)


def run_train_ddpm(cfg: DDPMRunConfig, overwrite: bool = False) -> dict:
    """The MNIST DDPM base model (issue #17): a UNet trained with the denoising loss on the 4,000 training digits;
    the folder holds the EMA model (the one to sample and unlearn), the raw model and the bank of initial noise."""
    check_output_dir(cfg.out, overwrite)
    x, _ = mnist_split("train")
    xh, _ = mnist_split("heldout")
    C = load_model(cfg.classifier, kind="classifier")
    widths = tuple(int(w) for w in cfg.block_out_channels.split(","))
    torch.manual_seed(cfg.train.seed)   # the UNet's first weights from the recipe's seed
    model = DDPMGenerator(1, 32, widths, cfg.layers_per_block, sample_steps=cfg.sample_steps)
    ema_init, earlier = None, []
    if cfg.init:   # go on from a saved run: same architecture, its raw weights and its EMA
        model, ema_init, earlier = _ddpm_init(cfg, model)
    latents = make_latent_bank(DDPM_LATENT_BANK_SIZE, model.latent_dim, LATENT_BANK_SEED)

    def learning_curve(ema) -> dict:
        step = len(history_steps) * cfg.train.log_every + cfg.train.log_every
        history_steps.append(step)
        if not cfg.fid_every or step % cfg.fid_every:
            return {}
        out = {"fid_small": fid(xh, generate(ema, latents[:cfg.fid_latents]), C)["fid"]}
        print(f"train-ddpm step {step}: FID ({cfg.fid_latents} samples) {out['fid_small']:.2f}", flush=True)
        return out

    history_steps: list[int] = []
    res = train_diffusion(model, x, cfg.train, evaluate=learning_curve, desc="train-ddpm", ema_init=ema_init,
                          extra_loss=sampled_loss(sharpening(cfg), cfg.sharpen_batch, cfg.train.seed,
                                                  cfg.sharpen_grad_steps) if cfg.sharpen_weight > 0 else None)
    E = load_model(cfg.evaluator, kind="classifier") if cfg.evaluator else None
    t0 = time.time()
    metrics = measure_base_gan(res.G_ema, C, latents, x, xh, evaluator=E)
    metrics.update(train_seconds=res.seconds, earlier_runs=earlier,
                   sample_seconds_per_image=(time.time() - t0) / len(latents),
                   n_params=sum(p.numel() for p in model.parameters()),
                   fid_curve=[{"step": h["step"], "fid_small": h["fid_small"]} for h in res.history
                              if "fid_small" in h], **_env())
    with atomic_output_dir(cfg.out, overwrite) as tmp:
        res.G_ema.save_pretrained(tmp)           # the root model is the EMA model: the one to use
        res.G.save_pretrained(tmp / "model-raw")
        (tmp / "model-raw" / "README.md").unlink(missing_ok=True)
        _write_base_run(tmp, cfg, metrics, res, latents)
    return metrics


def _earlier_runs(folder, run_config, reproduce) -> list[dict]:
    """The runs that made the training folder `folder` (what --init goes on from), oldest first, each
    {"command", "config", "steps", "train_seconds", "fid"}: the card's reproduce block lists the commands before this
    run's; atu.baselines.retrain replays the configs."""
    import dataclasses

    from .io import dataclass_from_dict, read_json

    prev_cfg = dataclass_from_dict(run_config, read_json(folder / "train_config.json"))
    prev_cfg.out = str(folder)
    prev = read_json(folder / "metrics.json")
    return prev.get("earlier_runs", []) + [{"command": reproduce(prev_cfg), "config": dataclasses.asdict(prev_cfg),
                                            "steps": prev_cfg.train.steps, "train_seconds": prev["train_seconds"],
                                            "fid": prev["fid"]}]


def sampled_loss(term, batch: int, seed: int, grad_steps: int = 0):
    """model -> term(images) on the DDPM's own samples of `batch` fresh noises a call (a generator seeded from
    `seed`), the gradient through every step of its sampler (grad_steps 0: a digit's class is decided at the first,
    noisiest steps) or through its last `grad_steps` only: reward fine-tuning in the manner of DRaFT (Clark et al.
    2023). train_diffusion's extra_loss."""
    gen = torch.Generator().manual_seed(seed + 7_919)

    def loss(model):
        z = torch.randn(batch, model.latent_dim, generator=gen).to(next(model.parameters()).device)
        return term(model(z, grad_steps=grad_steps))

    return loss


def sharpening(cfg: GANRunConfig | DDPMRunConfig, exclude: int | None = None):
    """(images, latents) -> (sharpen_weight x sharpen_loss(sharpen_classifier(images)), logs with "sharpen"): a frozen
    private copy of the classifier; refused if it is the classifier or the evaluator that measure the model.
    `exclude`: a class the training data lack (retraining without it): its logit is dropped, so that each sample is
    one of the other digits and those are drawn evenly."""
    from .losses import sharpen_loss
    from .runtime import inference_copy

    path = Path(cfg.sharpen_classifier).resolve()
    if path in {Path(p).resolve() for p in (cfg.classifier, cfg.evaluator) if p}:
        raise ValueError(f"sharpen_classifier {cfg.sharpen_classifier} measures the model (classifier or evaluator): "
                         "sharpen with another classifier (checkpoints/mnist-classifier-c)")
    C = inference_copy(load_model(cfg.sharpen_classifier, kind="classifier")).requires_grad_(False)

    def loss(images, latents=None):
        s = sharpen_loss(C.to(images.device)(images), exclude)
        return cfg.sharpen_weight * s, {"sharpen": s.detach()}

    return loss


def _gan_init(cfg: GANRunConfig):
    """The raw G, D and EMA G of the train-gan folder cfg.init, and the runs that made it."""
    from .models import CheckpointError

    folder = Path(cfg.init)
    if not all((folder / f).exists() for f in ("train_config.json", "metrics.json", "generator-raw", "discriminator")):
        raise CheckpointError(f"--init {folder}: not a folder written by train-gan (it needs train_config.json, "
                              "metrics.json, generator-raw/ and discriminator/)")
    res = GANTrainResult.load_networks(folder)
    return res.G, res.D, res.G_ema, _earlier_runs(folder, GANRunConfig, gan_reproduce_command)


def _ddpm_init(cfg: DDPMRunConfig, model: DDPMGenerator):
    """The raw model and EMA of the train-ddpm folder cfg.init, checked against cfg's architecture, and the runs
    that made it."""
    import json

    from .models import CheckpointError, load_generator

    def arch(m):   # the constructor arguments, as config.json spells them
        return json.loads(json.dumps(m._hub_mixin_config))

    folder = Path(cfg.init)
    if not (folder / "train_config.json").is_file() or not (folder / "model-raw").is_dir():
        raise CheckpointError(f"--init {folder}: not a folder written by train-ddpm (it needs train_config.json and "
                              "model-raw/)")
    raw, ema = load_generator(folder / "model-raw"), load_generator(folder)
    if arch(raw) != arch(model):
        raise CheckpointError(f"--init {folder}: its UNet ({arch(raw)}) is not the one these options build "
                              f"({arch(model)}); pass the same --block_out_channels, --layers_per_block and "
                              "--sample_steps")
    return raw, ema, _earlier_runs(folder, DDPMRunConfig, ddpm_reproduce_command)


def ddpm_reproduce_command(cfg: DDPMRunConfig) -> str:
    from .cli import dataclass_flags

    return "python -m atu train-ddpm " + " ".join(dataclass_flags(cfg, DDPMRunConfig()))


def measure_base_gan(G, C, latents, x_train, x_heldout, floor: bool = True, evaluator=None) -> dict:
    """Class balance of G's samples on the latent bank and FID against the held-out digits; the floor is the
    FID of the real training digits against the same held-out digits. With an independent `evaluator`, the share
    of samples on which it and C agree (an ambiguous scribble is read differently by two classifiers; on real
    held-out digits they agree ~98.5%)."""
    out = measure_base_samples(generate(G, latents), C, x_heldout, evaluator)
    if evaluator is not None and floor:
        out["classifier_agreement_heldout"] = agreement(classify(C, x_heldout), classify(evaluator, x_heldout))
    if floor:
        out["fid_train_vs_heldout"] = fid(x_heldout, x_train, C)["fid"]
    return out


def measure_base_samples(fake, C, x_heldout, evaluator=None) -> dict:
    """measure_base_gan's bars on samples already drawn (e.g. by another sampler, benchmarks/mnist-ddpm/samplers.py):
    class balance by C, FID against the held-out digits, and with an `evaluator` the share it agrees with C on."""
    labels = classify(C, fake)
    hist = torch.bincount(labels, minlength=NUM_CLASSES).double() / len(fake)
    out = {"class_fractions": [round(float(h), 4) for h in hist],
           "class_fraction_min": float(hist.min()), "class_fraction_max": float(hist.max()),
           **fid(x_heldout, fake, C)}
    if evaluator is not None:
        out["classifier_agreement"] = agreement(labels, classify(evaluator, fake))
    return out


def gan_reproduce_command(cfg: GANRunConfig) -> str:
    """The exact train-gan command line for a resolved config (every option that differs from the default)."""
    from .cli import dataclass_flags

    return "python -m atu train-gan " + " ".join(dataclass_flags(cfg, GANRunConfig()))


# The base model shipped before this one (sessions 1-5), kept in every later card's history section.
GAN_HISTORY = [
    "v1 (2026-11): width-32 G, BatchNorm D, no augmentation, 10,000 steps (`--train.steps 10000`): FID 61.36, digits "
    "8.0-12.6%, the two classifiers agree on 89.5% of its samples; retraining without 1 / 4 / 8 reached PUL 96 / 94 / "
    "84 and EL2 unlearning 61 on average (docs/mnist-notebook.md).",
    "v2 (2026-12, sessions 6-16): width-64 G, BatchNorm D with DiffAugment shift 0.125 + cutout 0.5, batch 64, 20,000 "
    "steps (`python -m atu train-gan --width 64 --fid_every 2000 --train.steps 20000 --train.augment_translate 0.125 "
    "--train.augment_cutout 0.5`, 2 CPU cores): FID 36.80, digits 8.6-12.0%, the two classifiers agree on 90.9% of its "
    "samples; retraining without 8 reached PUL 86.8, EL2 unlearning 86.8 on average over the ten digits "
    "(benchmarks/mnist-v2/).",
    "v3 (2026-12, trained on a lent H200 GPU in 3.8 min): the first run of the reproduce block above alone (width-64 "
    "G, BatchNorm D with DiffAugment shift 0.125 + cutout 0.5 and R1 gamma 0.05, batch 128, 14,000 steps): FID 21.79, "
    "digits 9.0-11.7%, the two classifiers agree on 91.9% of its samples; retraining without 1 / 4 / 8 reached PUL "
    "97.6 / 93.7 / 93.7 (evaluator 97.0 / 95.2 / 91.7); EL2 unlearning (the default, with the co-classifier) 97.7 / "
    "97.0 on average over the ten digits, 9 of 10 at >= 95 by both (not 9: 94.8 / 93.7) (benchmarks/mnist-v3/).",
]
