"""The face classifiers atu trains from the hand labels of faces-dcgan64's samples, and the independent
evaluators that only grade:

    python -m atu train-face-encoder      # a face feature network, learned from the generator's own activations
    python -m atu train-face-classifiers  # eyeglasses / headwear classifiers: pick samples, start the D
    python -m atu train-face-evaluators   # the independent judges (another network, teacher and seed)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .cards import save_checkpoint
from .faces import ATTRIBUTES, SPLIT_FILE, labelled_split, load_labels
from .feedback import fit_linear_head
from .io import atomic_output_dir, check_output_dir, write_json
from .metrics import precision_recall
from .sampling import generate


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
        bar.set_postfix(loss=loss.item())
    E = accelerator.unwrap_model(E).cpu().eval()
    with torch.no_grad():   # held-out fit on fresh latents: share of the target's variance explained
        x, t = g_activations(G.cpu(), torch.randn(1000, G.latent_dim, generator=gen))   # fresh latents
        r2 = 1 - float(((E.regress(E.body(x)) - (t - mu) / sd) ** 2).mean())
    return E, {"heldout_r2": r2, "final_loss": loss.item()}


def run_train_face_encoder(cfg: FaceEncoderConfig, overwrite: bool = False) -> dict:
    check_output_dir(cfg.out, overwrite)
    from .models import load_generator

    E, m = train_face_encoder(load_generator(cfg.model), cfg)
    with atomic_output_dir(cfg.out, overwrite) as tmp:
        E.save_pretrained(tmp)
        write_json(tmp / "train_config.json", cfg)
        write_json(tmp / "metrics.json", m)
    return {"out": cfg.out, **m}


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
    for a in ATTRIBUTES:
        check_output_dir(Path(cfg.out_dir) / f"faces-{a}-classifier", overwrite)
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
        save_checkpoint(Path(cfg.out_dir) / f"faces-{a}-classifier", C, m, cfg, overwrite)
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
    for a in cfg.attributes.split(","):
        check_output_dir(Path(cfg.out_dir) / f"faces-{a}-evaluator", overwrite)
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
        save_checkpoint(Path(cfg.out_dir) / f"faces-{a}-evaluator", E, m, cfg, overwrite)
        out[a] = m
    return out
