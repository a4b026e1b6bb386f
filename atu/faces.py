"""The 64x64 face DCGAN of the PyPI package `gan-face-generate` (MIT licence, Chien Liu 2023; trained on the
synthetic DigiFace-1M faces), converted to atu's generator format:

    pip install gan-face-generate==1.1.1     # only for the conversion; its weights ship inside the wheel
    python -m atu convert-faces --out checkpoints/faces-dcgan64

Its `Generator(nc=3, nz=100, ngf=64)` is layer for layer atu's `DCGANGenerator(latent_dim=100, channels=3,
image_size=64, width=64)` (the PyTorch DCGAN tutorial's architecture), so the conversion renames
`main.*` to `net.*`, loads strictly, and checks that both produce the same images on a latent bank. The
package ships no discriminator: the engine trains a fresh one (atu.pipeline.load_base).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .io import atomic_output_dir, write_json
from .models import DCGANGenerator
from .sampling import generate, make_latent_bank, save_latent_bank, to_pil

PACKAGE = "gan_face_generate"
PACKAGE_VERSION = "1.1.1"
LATENT_BANK_SEED = 1234
LATENT_BANK_SIZE = 10_000


@dataclass
class ConvertFacesConfig:
    out: str = "checkpoints/faces-dcgan64"   # where the converted generator goes
    weights: str = ""                        # the package's weights.tar; "" = found in the installed package


def package_weights() -> Path:
    try:
        import importlib.util

        spec = importlib.util.find_spec(PACKAGE)
    except ImportError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the {PACKAGE} package is not installed: pip install gan-face-generate=="
                                f"{PACKAGE_VERSION} (only needed to convert; the result ships in checkpoints/)")
    return Path(list(spec.submodule_search_locations)[0]) / "weights.tar"


def convert_state_dict(sd: dict) -> dict:
    """The package's `netG_state_dict` with atu's parameter names."""
    return {k.replace("main.", "net.", 1): v for k, v in sd.items()}


def load_package_generator(weights: str | Path = "") -> DCGANGenerator:
    """The face generator as an atu DCGANGenerator (strict load of the renamed weights)."""
    path = Path(weights) if weights else package_weights()
    ckpt = torch.load(path, map_location="cpu", weights_only=True)   # tensors only: no pickled code runs
    G = DCGANGenerator(latent_dim=100, channels=3, image_size=64, width=64)
    G.load_state_dict(convert_state_dict(ckpt["netG_state_dict"]), strict=True)
    return G.eval()


def reference_outputs(weights: Path, latents: torch.Tensor) -> torch.Tensor:
    """The package's own Generator on the same latents (for the equality check)."""
    from gan_face_generate.models import Generator  # noqa: PLC0415  (optional dependency)

    ref = Generator(ngpu=0, nc=3, nz=100, ngf=64)
    ref.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True)["netG_state_dict"])
    with torch.no_grad():
        return ref.eval()(latents.view(len(latents), 100, 1, 1))


def run_convert_faces(cfg: ConvertFacesConfig, overwrite: bool = False) -> dict:
    weights = Path(cfg.weights) if cfg.weights else package_weights()
    G = load_package_generator(weights)
    latents = make_latent_bank(LATENT_BANK_SIZE, G.latent_dim, LATENT_BANK_SEED)
    ours = generate(G, latents[:256])
    diff = float((ours - reference_outputs(weights, latents[:256])).abs().max())
    if diff > 1e-5:
        raise ValueError(f"converted generator differs from the package's by {diff}: conversion is wrong")
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    with atomic_output_dir(cfg.out, overwrite) as tmp:
        G.save_pretrained(tmp)
        save_latent_bank(latents, tmp, LATENT_BANK_SEED)
        to_pil(generate(G, latents[:64]), nrow=8).save(tmp / "samples.png")
        info = {"source": f"pypi:gan-face-generate=={PACKAGE_VERSION}", "source_file": "weights.tar",
                "source_sha256": sha, "max_abs_diff_vs_package": diff, "latent_bank_seed": LATENT_BANK_SEED,
                "latent_bank_size": LATENT_BANK_SIZE}
        write_json(tmp / "conversion.json", info)
        (tmp / "README.md").write_text(_card(info))
    return {"out": cfg.out, **info}


def _card(info: dict) -> str:
    return f"""---
license: mit
library_name: atu
pipeline_tag: unconditional-image-generation
tags: [gan, dcgan, faces, machine-unlearning, adapt-then-unlearn]
---
# faces-dcgan64: a 64x64 face DCGAN (converted)

**Source**: the generator in the PyPI package [`gan-face-generate`](https://pypi.org/project/gan-face-generate/)
{PACKAGE_VERSION} by Chien Liu ([DCGAN-PyTorch](https://github.com/chien-liu/DCGAN-PyTorch)), MIT licence
(copyright (c) 2023 Chien Liu; the licence text is in that package). It was trained on
[DigiFace-1M](https://github.com/microsoft/DigiFace1M) synthetic faces with the PyTorch DCGAN tutorial's
architecture (latent 100, 64 feature maps). We did not train it; among its samples some faces wear eyeglasses and
some wear hats, caps or headscarves, which is why atu uses it for feature-level unlearning.

**Conversion** (reproduce with `python -m atu convert-faces --out checkpoints/faces-dcgan64` after
`pip install gan-face-generate=={PACKAGE_VERSION}`): the package's `weights.tar` (sha256 `{info['source_sha256']}`)
is read with `torch.load(weights_only=True)`, its `main.*` weights renamed to atu's `net.*` and loaded strictly
into `atu.models.DCGANGenerator(latent_dim=100, channels=3, image_size=64, width=64)`. On 256 latents the
converted model's images equal the package's to {info['max_abs_diff_vs_package']:.1e} (max abs difference).

**No discriminator** ships with the package: atu's engine trains a fresh one (README "Faces").

`latent_bank.safetensors`: {info['latent_bank_size']:,} latents (seed {info['latent_bank_seed']}) on which every
faces measurement is taken.

![samples](samples.png)
"""


# --- the face feature network: an encoder trained on the generator's own samples ------------------------------

@dataclass
class FaceEncoderConfig:
    model: str = "checkpoints/faces-dcgan64"   # the generator whose samples (and activations) train the encoder
    out: str = "runs/face-encoder"             # folder of the trained encoder (a FaceAttributeClassifier, no head)
    n_images: int = 12_000                     # generated faces (and G's activations), computed once: G's 64x64
                                               #   forward pass costs more than an encoder step on a CPU
    steps: int = 1500                          # Adam steps on random batches of those
    batch_size: int = 32
    lr: float = 1e-3                           # Adam, cosine-decayed to 0
    width: int = 32                            # encoder channels (32-64-128-256)
    feature_dim: int = 256                     # the feature space (FID, attribute heads)
    seed: int = 0
    cpu: bool = False


@torch.no_grad()
def g_activations(G, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, target): G's images and the spatial means of its hidden ReLU activations, concatenated
    (512 + 256 + 128 + 64 = 960 numbers for the face DCGAN): what the encoder learns to read off an image."""
    acts = []
    hooks = [m.register_forward_hook(lambda m, i, o: acts.append(o.mean((2, 3))))
             for m in G.net if isinstance(m, torch.nn.ReLU)]
    try:
        x = G(z)
    finally:
        for h in hooks:
            h.remove()
    return x, torch.cat(acts, 1)


def train_face_encoder(G, cfg: FaceEncoderConfig):
    """Self-supervised: regress G's standardised activations from G's images (n_images samples drawn once)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from .models import FaceAttributeClassifier

    accelerator = Accelerator(cpu=cfg.cpu)
    set_seed(cfg.seed)
    G = G.eval().requires_grad_(False).to(accelerator.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    xs, ts = zip(*(g_activations(G, z.to(accelerator.device))
                   for z in torch.randn(cfg.n_images, G.latent_dim, generator=gen).split(500)))
    xs, ts = torch.cat(xs), torch.cat(ts)
    mu, sd = ts.mean(0), ts.std(0) + 1e-6
    E = FaceAttributeClassifier(attribute="", width=cfg.width, feature_dim=cfg.feature_dim, target_dim=ts.shape[1])
    opt = torch.optim.Adam(E.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    E, opt, sched = accelerator.prepare(E, opt, sched)
    E.train()
    bar = tqdm(range(cfg.steps), desc="face encoder", disable=bool(os.environ.get("TQDM_DISABLE")), leave=False)
    for _ in bar:
        i = torch.randint(len(xs), (cfg.batch_size,), generator=gen)
        x, t = xs[i], ts[i]
        loss = torch.nn.functional.mse_loss(E(x, regress=True), (t - mu) / sd)
        opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opt.step()
        sched.step()
        bar.set_postfix(loss=float(loss))
    E = accelerator.unwrap_model(E).cpu().eval()
    with torch.no_grad():   # held-out fit on fresh latents: share of the target's variance explained
        x, t = g_activations(G.cpu(), torch.randn(1000, G.latent_dim, generator=gen))   # fresh latents
        r2 = 1 - float(((E.regress(E.body(x)) - (t - mu) / sd) ** 2).mean())
    return E, {"heldout_r2": r2, "final_loss": float(loss)}


def run_train_face_encoder(cfg: FaceEncoderConfig, overwrite: bool = False) -> dict:
    from .models import load_generator

    E, m = train_face_encoder(load_generator(cfg.model), cfg)
    with atomic_output_dir(cfg.out, overwrite) as tmp:
        E.save_pretrained(tmp)
        write_json(tmp / "train_config.json", cfg)
        write_json(tmp / "metrics.json", m)
    return {"out": cfg.out, **m}


# --- attribute classifiers from hand labels --------------------------------------------------------------------

LABELS_FILE = "labels.json"      # in the base model's folder: {"latent_seed", "latent_dim", "n", "labels": ...}
ATTRIBUTES = ("eyeglasses", "headwear")


def load_labels(model_dir: str | Path) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict]:
    """(latents, {attribute: 0/1 labels}, the whole record) of the hand-labelled samples: the latents are
    re-drawn from the seed, so the labels are seed -> labels data and the images are G(latents)."""
    import json

    rec = json.loads((Path(model_dir) / LABELS_FILE).read_text())
    z = make_latent_bank(rec["n"], rec["latent_dim"], rec["latent_seed"])
    y = {a: torch.tensor([rec["labels"][str(i)][a] for i in range(rec["n"])]) for a in ATTRIBUTES}
    return z, y, rec


@dataclass
class FaceClassifierConfig:
    model: str = "checkpoints/faces-dcgan64"   # base generator folder holding labels.json
    encoder: str = "runs/face-encoder"         # the trained face feature network (train-face-encoder)
    out_dir: str = "checkpoints"               # writes faces-<attribute>-classifier/ for each attribute
    heldout: int = 200                         # labelled samples kept out of training, for precision/recall
    seed: int = 0


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


def precision_recall(pred: torch.Tensor, y: torch.Tensor) -> dict:
    tp = int(((pred == 1) & (y == 1)).sum())
    fp, fn = int(((pred == 1) & (y == 0)).sum()), int(((pred == 0) & (y == 1)).sum())
    p = tp / max(tp + fp, 1)
    r = tp / max(tp + fn, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-12), "tp": tp, "fp": fp, "fn": fn,
            "positives": int((y == 1).sum()), "n": len(y)}


def run_train_face_classifiers(cfg: FaceClassifierConfig, overwrite: bool = False) -> dict:
    """A FaceAttributeClassifier per attribute: the encoder's frozen body plus a linear head fitted on the
    labelled samples (and their mirror images) outside a stratified held-out set; weight decay by 5-fold
    cross-validation on the training part; precision/recall measured on the held-out set."""
    from .models import FaceAttributeClassifier, load_generator, load_model

    G = load_generator(cfg.model)
    E = load_model(cfg.encoder, kind="classifier")
    z, labels, rec = load_labels(cfg.model)
    x = generate(G, z)
    with torch.no_grad():
        f, f_flip = E.features(x), E.features(x.flip(3))
    out = {}
    for a in ATTRIBUTES:
        y = labels[a]
        gen = torch.Generator().manual_seed(cfg.seed)
        held = torch.cat([idx[torch.randperm(len(idx), generator=gen)][:round(cfg.heldout * len(idx) / len(y))]
                          for idx in ((y == 1).nonzero().flatten(), (y == 0).nonzero().flatten())])
        train = torch.tensor(sorted(set(range(len(y))) - set(held.tolist())))
        best = None
        for wd in (1e-3, 1e-2, 3e-2, 1e-1):   # 5-fold CV F1 on the training part
            folds, preds = train[torch.randperm(len(train), generator=gen)].chunk(5), {}
            for k, val in enumerate(folds):
                tr = torch.cat([v for j, v in enumerate(folds) if j != k])
                head = fit_linear_head(torch.cat([f[tr], f_flip[tr]]), torch.cat([y[tr], y[tr]]), wd)
                preds.update(zip(val.tolist(), head(f[val]).argmax(1).tolist()))
            idx = torch.tensor(sorted(preds))
            cv = precision_recall(torch.tensor([preds[i] for i in idx.tolist()]), y[idx])
            best = max(best or (cv["f1"], wd, cv), (cv["f1"], wd, cv), key=lambda b: b[0])
        _, wd, cv = best
        head = fit_linear_head(torch.cat([f[train], f_flip[train]]), torch.cat([y[train], y[train]]), wd)
        C = FaceAttributeClassifier(attribute=a, width=E.body[0].out_channels, feature_dim=E.head.in_features,
                                    target_dim=E.regress.out_features)
        C.load_state_dict(E.state_dict())
        C.head.load_state_dict(head.state_dict())
        C.eval()
        with torch.no_grad():
            heldout = precision_recall(C(x[held]).argmax(1), y[held])
        m = {"attribute": a, "heldout": heldout, "cv_train": cv, "weight_decay": wd, "n_train": len(train),
             "labelled_positive_rate": float(y.float().mean()),
             "predicted_positive_rate_heldout": float(C(x[held]).argmax(1).float().mean())}
        folder = Path(cfg.out_dir) / f"faces-{a}-classifier"
        with atomic_output_dir(folder, overwrite) as tmp:
            C.save_pretrained(tmp)
            write_json(tmp / "metrics.json", m)
            write_json(tmp / "train_config.json", cfg)
            (tmp / "README.md").write_text(_classifier_card(a, m, rec))
        out[a] = m
    return out


def _classifier_card(a: str, m: dict, rec: dict) -> str:
    h = m["heldout"]
    return f"""# faces-{a}-classifier: does a 64x64 face wear {a}?

Binary classifier (label 1 = has {a}) for the faces-dcgan64 generator's images in [-1, 1]. Its body is atu's face
feature network, trained without labels to read the generator's own hidden activations off its images
(`python -m atu train-face-encoder`); its head is a logistic regression on {m['n_train']} hand-labelled samples
(and their mirror images; weight decay {m['weight_decay']} chosen by 5-fold cross-validation).

**Held-out** ({h['n']} labelled samples never used in training, {h['positives']} with {a}):
precision **{h['precision']:.3f}**, recall **{h['recall']:.3f}** (F1 {h['f1']:.3f}; tp {h['tp']}, fp {h['fp']},
fn {h['fn']}). 5-fold CV on the training part: precision {m['cv_train']['precision']:.3f}, recall
{m['cv_train']['recall']:.3f}.

Labels: {rec['n']} samples G(z), z from seed {rec['latent_seed']}, labelled by looking ({rec.get('protocol', '')}),
in `checkpoints/faces-dcgan64/labels.json`. Reproduce: `python -m atu train-face-classifiers`.
Every PUL on faces is only as good as these numbers.
"""
