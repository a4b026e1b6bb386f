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
import io
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .cards import write_checkpoint_card
from .feedback import fit_linear_head, precision_recall
from .io import atomic_output_dir, atomic_write_bytes, write_json
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
        write_checkpoint_card(tmp)
    return {"out": cfg.out, **info}


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
    feature_dim: int = 512                     # the feature space (FID, attribute heads)
    seed: int = 0
    cpu: bool = False


@torch.no_grad()
def g_activations(G, z: torch.Tensor, layers=(1, 2), grid: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, target): G's images and its hidden ReLU activations of the given blocks (0 = the 4x4 one),
    average-pooled to grid x grid and concatenated (256 x 16 + 128 x 16 = 6,144 numbers for the face DCGAN):
    what the encoder learns to read off an image. The pooled 8x8 and 16x16 maps keep where things are (glasses
    sit at the eyes): with the earlier spatial means only, a linear probe found half the eyeglasses."""
    acts = []
    hooks = [m.register_forward_hook(lambda m, i, o: acts.append(o))
             for m in G.net if isinstance(m, torch.nn.ReLU)]
    try:
        x = G(z)
    finally:
        for h in hooks:
            h.remove()
    return x, torch.cat([torch.nn.functional.adaptive_avg_pool2d(acts[i], grid).flatten(1) for i in layers], 1)


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
SPLIT_FILE = "split.json"        # beside it: per attribute, the held-out test part of the labelled samples
ATTRIBUTES = ("eyeglasses", "headwear")


def load_labels(model_dir: str | Path) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict]:
    """(latents, {attribute: 0/1 labels}, the whole record) of the hand-labelled samples: the latents are
    re-drawn from the seed, so the labels are seed -> labels data and the images are G(latents)."""
    import json

    rec = json.loads((Path(model_dir) / LABELS_FILE).read_text())
    z = make_latent_bank(rec["n"], rec["latent_dim"], rec["latent_seed"])
    y = {a: torch.tensor([rec["labels"][str(i)][a] for i in range(rec["n"])]) for a in ATTRIBUTES}
    return z, y, rec


def labelled_split(model_dir: str | Path, attribute: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, test indices) into the hand-labelled samples for one attribute, from split.json. The test
    part (200 samples, stratified, drawn once by train-face-classifiers with seed 0) is used by no training path:
    it measures the classifiers and the evaluators, and it is what the count by eye looks at (blind_grid)."""
    import json

    f = Path(model_dir) / SPLIT_FILE
    if not f.is_file():
        raise FileNotFoundError(f"{f} is missing: the labelled samples have no train/test split")
    rec = json.loads(f.read_text())
    if attribute not in rec["test"]:
        raise ValueError(f"{f} has no split for {attribute!r}: it has {', '.join(rec['test'])}")
    test = torch.tensor(sorted(rec["test"][attribute]))
    train = torch.tensor(sorted(set(range(rec["n"])) - set(test.tolist())))
    return train, test


@dataclass
class FaceClassifierConfig:
    model: str = "checkpoints/faces-dcgan64"   # base generator folder holding labels.json
    encoder: str = "runs/face-encoder"         # the trained face feature network (train-face-encoder): the init
    out_dir: str = "checkpoints"               # writes faces-<attribute>-classifier/ for each attribute
    heldout: int = 200                         # labelled samples kept out of everything, for precision/recall
    n_pseudo: int = 6000                       # generated faces labelled by the teacher for the image classifier
    epochs: int = 6                            # image-classifier epochs over pseudo-labelled + labelled faces
    seed: int = 0


def _teacher_features(G, z: torch.Tensor) -> torch.Tensor:
    return g_activations(G, z)[1]   # G's own pooled 8x8 and 16x16 activations at z


def fit_teacher(f: torch.Tensor, y: torch.Tensor, gen: torch.Generator):
    """Linear head on G's activations (weight decay by 5-fold CV F1) and the logit threshold that maximises the
    out-of-fold F1: returns (head, threshold, out-of-fold precision/recall)."""
    folds = torch.randperm(len(y), generator=gen).chunk(5)
    best = None
    for wd in (1e-2, 1e-1):
        oof = torch.zeros(len(y))
        for k, val in enumerate(folds):
            tr = torch.cat([v for j, v in enumerate(folds) if j != k])
            h = fit_linear_head(f[tr], y[tr], wd)
            with torch.no_grad():
                oof[val] = h(f[val])[:, 1] - h(f[val])[:, 0]
        for t in torch.linspace(-3, 1, 17).tolist():
            m = precision_recall((oof > t).long(), y)
            if best is None or m["f1"] > best[0]:
                best = (m["f1"], wd, t, m)
    _, wd, t, m = best
    return fit_linear_head(f, y, wd), t, m


def _distillation_data(model: str, n_pseudo: int, seed: int):
    """What a distilled face classifier trains on: the hand labels, the labelled images and
    G's activations at their latents (the teacher's features), n_pseudo fresh images with their activations (latents
    from `seed`), and the generator that drew those latents, to go on drawing from (folds, held-out sets)."""
    from .models import load_generator

    G = load_generator(model)
    z, labels, _ = load_labels(model)
    gen = torch.Generator().manual_seed(seed)
    zp = torch.randn(n_pseudo, G.latent_dim, generator=gen)
    xp, fp = zip(*(g_activations(G, c) for c in zp.split(500)))
    return labels, generate(G, z), _teacher_features(G, z), torch.cat(xp), torch.cat(fp), gen


def run_train_face_classifiers(cfg: FaceClassifierConfig, overwrite: bool = False) -> dict:
    """An image classifier per attribute, distilled from the generator's own features:

    1. teacher: a linear head on G's activations at z (it knows what G drew), fitted on the labelled samples
       outside a stratified held-out set, threshold by cross-validated F1;
    2. the teacher labels n_pseudo fresh samples G(z);
    3. student (the shipped classifier): the face feature network, fine-tuned on those images (and the
       labelled training images, mirrored) with atu.train.train_classifier. It needs only the image, so it
       measures any generator's samples. Precision/recall are measured on the held-out labelled set."""
    from .models import load_model
    from .train import ClassifierTrainConfig, train_classifier

    labels, x, f, xp, fp, gen = _distillation_data(cfg.model, cfg.n_pseudo, cfg.seed)
    out = {}
    for a in ATTRIBUTES:
        y = labels[a]
        held = torch.cat([idx[torch.randperm(len(idx), generator=gen)][:round(cfg.heldout * len(idx) / len(y))]
                          for idx in ((y == 1).nonzero().flatten(), (y == 0).nonzero().flatten())])
        train = torch.tensor(sorted(set(range(len(y))) - set(held.tolist())))
        if (Path(cfg.model) / SPLIT_FILE).is_file() and not torch.equal(labelled_split(cfg.model, a)[1], held.sort()[0]):
            raise ValueError(f"the held-out draw (seed {cfg.seed}) differs from {SPLIT_FILE}: the split is made once")
        teacher, t, cv = fit_teacher(f[train], y[train], gen)
        with torch.no_grad():
            yp = ((teacher(fp)[:, 1] - teacher(fp)[:, 0]) > t).long()
            teacher_held = precision_recall(((teacher(f[held])[:, 1] - teacher(f[held])[:, 0]) > t).long(), y[held])
        C = load_model(cfg.encoder, kind="classifier")
        C.attribute = a
        C._hub_mixin_config = {**C._hub_mixin_config, "attribute": a}
        xt = torch.cat([xp, x[train], x[train].flip(3)])
        yt = torch.cat([yp, y[train], y[train]])
        C = train_classifier(C.train(), xt, yt, ClassifierTrainConfig(
            epochs=cfg.epochs, batch_size=64, lr=3e-4, rotate_deg=5, translate=0.06, scale=0.05, seed=cfg.seed),
            desc=f"{a} classifier")
        with torch.no_grad():
            pred = C(x[held]).argmax(1)
        m = {"attribute": a, "heldout": precision_recall(pred, y[held]), "heldout_indices": sorted(held.tolist()),
             "teacher_heldout": teacher_held,
             "teacher_cv_train": cv, "teacher_threshold": t, "n_train": len(train), "n_pseudo": cfg.n_pseudo,
             "pseudo_positive_rate": float(yp.float().mean()), "labelled_positive_rate": float(y.float().mean()),
             "predicted_positive_rate_heldout": float(pred.float().mean())}
        folder = Path(cfg.out_dir) / f"faces-{a}-classifier"
        with atomic_output_dir(folder, overwrite) as tmp:
            C.save_pretrained(tmp)
            write_json(tmp / "metrics.json", m)
            write_json(tmp / "train_config.json", cfg)
            write_checkpoint_card(tmp)
        out[a] = m
    return out


# --- independent evaluators: grade, never train --------------------------------------------------------------

@dataclass
class FaceEvaluatorConfig:
    model: str = "checkpoints/faces-dcgan64"   # base generator folder holding labels.json and split.json
    out_dir: str = "checkpoints"               # writes faces-<attribute>-evaluator/ for each attribute
    attributes: str = "eyeglasses,headwear"
    n_pseudo: int = 6000                       # fresh samples G(z) labelled by the evaluator's own teacher; their
    pseudo_seed: int = 1                       #   latents come from another seed than the classifiers' (seed 0)
    width: int = 16                            # ResNetClassifier channels (16-32-64-64)
    epochs: int = 10
    lr: float = 2e-3                           # AdamW, one-cycle
    seed: int = 1                              # initialisation, batches, augmentation (the classifiers': 0)


def run_train_face_evaluators(cfg: FaceEvaluatorConfig, overwrite: bool = False) -> dict:
    """An evaluator per attribute that no training path touches (catalog: `Feature.evaluator`): a ResNet from
    random weights (the classifiers start from the face encoder, and so does every D built from them), its own
    teacher (a linear head on G's activations fitted on the labelled train part with another fold draw) and its
    own pseudo-labelled samples (other latents). It sees no sample of the test part (split.json), where its
    precision and recall are measured; tests/test_checkpoints.py re-measures them."""
    from .models import ResNetClassifier
    from .train import ClassifierTrainConfig, train_classifier

    labels, x, f, xp, fp, gen = _distillation_data(cfg.model, cfg.n_pseudo, cfg.pseudo_seed)
    out = {}
    for a in cfg.attributes.split(","):
        y = labels[a]
        train, test = labelled_split(cfg.model, a)
        teacher, t, cv = fit_teacher(f[train], y[train], gen)
        with torch.no_grad():
            yp = ((teacher(fp)[:, 1] - teacher(fp)[:, 0]) > t).long()
        torch.manual_seed(cfg.seed)
        E = ResNetClassifier(num_classes=2, width=cfg.width, channels=3, image_size=64, attribute=a)
        E = train_classifier(E, torch.cat([xp, x[train], x[train].flip(3)]), torch.cat([yp, y[train], y[train]]),
                             ClassifierTrainConfig(epochs=cfg.epochs, batch_size=64, lr=cfg.lr, weight_decay=0.05,
                                                   rotate_deg=5, translate=0.06, scale=0.05, seed=cfg.seed),
                             desc=f"{a} evaluator")
        with torch.no_grad():
            pred = E(x[test]).argmax(1)
        m = {"attribute": a, "heldout": precision_recall(pred, y[test]), "heldout_indices": test.tolist(),
             "teacher_cv_train": cv, "teacher_threshold": t, "n_train": len(train), "n_pseudo": cfg.n_pseudo,
             "pseudo_positive_rate": float(yp.float().mean()),
             "predicted_positive_rate_heldout": float(pred.float().mean())}
        folder = Path(cfg.out_dir) / f"faces-{a}-evaluator"
        with atomic_output_dir(folder, overwrite) as tmp:
            E.save_pretrained(tmp)
            write_json(tmp / "metrics.json", m)
            write_json(tmp / "train_config.json", cfg)
            write_checkpoint_card(tmp)
        out[a] = m
    return out


# --- checking an unlearned model by looking ----------------------------------------------------------------------

@dataclass
class LabelledGridConfig:
    run: str = ""                              # the unlearned model's folder (a run folder or any generator folder)
    feature: str = "eyeglasses"                # the hand-labelled feature whose samples are shown
    model: str = "checkpoints/faces-dcgan64"   # the base generator, holding labels.json
    n: int = 48                                # how many of the samples labelled with the feature (the first n)
    out: str = ""                              # the PNG to write


def labelled_grid(G_before, G_after, model_dir: str | Path, feature: str, n: int = 48):
    """The first n hand-labelled samples that have `feature`, drawn by both generators on their latents: rows
    alternate before / after, 8 faces a row, each pixel drawn 2x2. Counting the faces that still show the feature in the
    after rows gives a removal rate that no classifier decides. Returns (PIL image, label indices)."""
    from PIL import Image

    if feature not in ATTRIBUTES:
        raise ValueError(f"feature must be one of {', '.join(ATTRIBUTES)}, got {feature!r}")
    z, labels, _ = load_labels(model_dir)
    idx = labels[feature].nonzero().flatten()[:n]
    before, after = generate(G_before, z[idx]), generate(G_after, z[idx])
    rows = [half for i in range(0, len(idx), 8) for half in (before[i:i + 8], after[i:i + 8])]
    img = to_pil(torch.cat(rows), nrow=8, padding=3)
    return img.resize((img.width * 2, img.height * 2), Image.NEAREST), idx.tolist()   # pixels as drawn


def run_labelled_grid(cfg: LabelledGridConfig, overwrite: bool = False) -> dict:
    from .models import load_generator

    out = Path(cfg.out)
    if not cfg.run or not cfg.out:
        raise ValueError("give --run (the unlearned model's folder) and --out (the PNG to write)")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists: choose another --out or pass --overwrite")
    img, idx = labelled_grid(load_generator(cfg.model), load_generator(cfg.run), cfg.model, cfg.feature, cfg.n)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    return {"out": str(out), "feature": cfg.feature, "label_indices": idx}


# --- the count by eye, blind ------------------------------------------------------------------------------------

MARKS = {"R": "removed: no trace of the feature", "F": "faded: a faint trace remains (a frame remnant, a rim)",
         "C": "clear: the feature, or its outline, is still plainly there"}
COUNT_FILE = "labelled_count.json"


@dataclass
class BlindCountConfig:
    run: str = ""                              # the unlearned model's folder
    feature: str = "eyeglasses"                # the hand-labelled feature to count
    model: str = "checkpoints/faces-dcgan64"   # the base generator, holding labels.json and split.json
    seed: int = 0                              # the shuffle of the tiles
    marks: str = ""                            # "" = draw the grid; else one letter a tile (R / F / C, MARKS), in
                                               #   reading order, rows may be separated by "/": unblinds and counts
    rater: str = "one developer"               # who counted (written to labelled_count.json)


def blind_layout(n: int, seed: int) -> list[tuple[int, str]]:
    """The tiles of a blind count in shown order: each of n samples twice, ("before" and "after"), shuffled."""
    tiles = [(i, side) for i in range(n) for side in ("before", "after")]
    order = torch.randperm(len(tiles), generator=torch.Generator().manual_seed(seed)).tolist()
    return [tiles[j] for j in order]


def score_marks(marks: str, layout: list[tuple[int, str]]) -> dict:
    """Unblind: the marks (one of MARKS per tile, in shown order; '/' and spaces ignored) counted per side.
    "after" counts are the result; "before" counts check the rater against the hand labels (they should be C);
    "clear_before" counts the after-marks of the samples whose before tile was marked C (the feature plainly
    there), the fairest view: a faint feature that is hard to see before is easy to call gone after."""
    m = [c for c in marks.upper() if c not in "/ \n"]
    if len(m) != len(layout) or set(m) - set(MARKS):
        raise ValueError(f"give one of {'/'.join(MARKS)} for each of the {len(layout)} tiles, got {len(m)} marks"
                         + (f" with {''.join(sorted(set(m) - set(MARKS)))}" if set(m) - set(MARKS) else ""))
    counts = {side: {k: 0 for k in MARKS} for side in ("before", "after")}
    per_sample: dict[int, dict] = {}
    for (i, side), mark in zip(layout, m):
        counts[side][mark] += 1
        per_sample.setdefault(i, {})[side] = mark
    n = max(sum(counts["after"].values()), 1)
    clear = [v for v in per_sample.values() if v.get("before") == "C"]   # the feature plainly there before
    return {"counts": counts, "removed_pct": round(100 * counts["after"]["R"] / n, 1),
            "not_clear_pct": round(100 * (n - counts["after"]["C"]) / n, 1),
            "before_clear_pct": round(100 * counts["before"]["C"] / max(sum(counts["before"].values()), 1), 1),
            "clear_before": {"n": len(clear), **{k: sum(v.get("after") == k for v in clear) for k in MARKS}},
            "per_sample": per_sample}


def blind_grid(G_before, G_after, model_dir: str | Path, feature: str, seed: int = 0):
    """The test-part samples hand-labelled with `feature` (split.json), drawn by both generators and shuffled
    together (blind_layout), 8 a row with the row number on the left, each pixel drawn 2x2. Returns (PIL image,
    label indices, layout)."""
    from PIL import Image, ImageDraw

    z, labels, _ = load_labels(model_dir)
    _, test = labelled_split(model_dir, feature)
    idx = test[labels[feature][test] == 1]
    x = {"before": generate(G_before, z[idx]), "after": generate(G_after, z[idx])}
    layout = blind_layout(len(idx), seed)
    grid = to_pil(torch.stack([x[side][i] for i, side in layout]), nrow=8, padding=3)
    grid = grid.resize((grid.width * 2, grid.height * 2), Image.NEAREST)
    img = Image.new("RGB", (grid.width + 40, grid.height), "white")
    img.paste(grid, (40, 0))
    draw, step = ImageDraw.Draw(img), (64 + 3) * 2
    for r in range((len(layout) + 7) // 8):
        draw.text((8, 6 + r * step + step // 2 - 6), f"{r + 1:>2}", fill="black")
    return img, idx.tolist(), layout


def run_blind_count(cfg: BlindCountConfig, overwrite: bool = False) -> dict:
    """`python -m atu blind-count`: without --marks, write blind_<feature>.png (and its key) into the run folder
    and stop; look at the PNG only, mark every tile, then run again with --marks to unblind into
    labelled_count.json."""
    import json

    from .models import load_generator

    run = Path(cfg.run)
    if not cfg.run or not (run / "config.json").is_file():
        raise ValueError("give --run: the unlearned model's folder (with config.json)")
    png, key = run / f"blind_{cfg.feature}.png", run / f"blind_{cfg.feature}_key.json"
    if not cfg.marks:
        if png.exists() and not overwrite:
            raise FileExistsError(f"{png} exists: count it and pass --marks, or pass --overwrite for a new one")
        img, idx, layout = blind_grid(load_generator(cfg.model), load_generator(cfg.run), cfg.model, cfg.feature,
                                      cfg.seed)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        atomic_write_bytes(png, buf.getvalue())
        write_json(key, {"feature": cfg.feature, "seed": cfg.seed, "label_indices": idx,
                         "layout": [[idx[i], side] for i, side in layout]})
        return {"grid": str(png), "tiles": len(layout), "next": "look at the grid only (not the key), mark each "
                f"tile {'/'.join(MARKS)} in reading order, then run again with --marks"}
    rec = json.loads(key.read_text())
    pos = {j: k for k, j in enumerate(rec["label_indices"])}
    layout = [(pos[j], side) for j, side in rec["layout"]]
    s = score_marks(cfg.marks, layout)
    out = {"what": f"the {len(pos)} samples of the labelled test part (split.json) hand-labelled {cfg.feature}, "
                   "drawn by the base and by this model on the same latents, all tiles shuffled together "
                   f"({png.name}); each tile marked by looking before unblinding",
           "command": f"python -m atu blind-count --run {cfg.run} --feature {cfg.feature} --seed {cfg.seed}",
           "rater": f"{cfg.rater}, blind to which tile is before or after (the same face twice can still be "
                    "recognised as a pair)", "feature": cfg.feature, "scheme": MARKS,
           **{k: v for k, v in s.items() if k != "per_sample"},
           "marks": {str(rec["label_indices"][i]): v for i, v in sorted(s["per_sample"].items())},
           "marks_as_given": cfg.marks}
    write_json(run / COUNT_FILE, out)
    return {"out": str(run / COUNT_FILE), **{k: out[k] for k in ("counts", "removed_pct", "not_clear_pct",
                                                                 "clear_before")}}
