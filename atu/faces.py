"""The 64x64 face DCGAN of the PyPI package `gan-face-generate` (MIT licence, Chien Liu 2023; trained on the
synthetic DigiFace-1M faces), converted to atu's generator format:

    pip install gan-face-generate==1.1.1     # only for the conversion; its weights ship inside the wheel
    python -m atu convert-faces --out checkpoints/faces-dcgan64

Its `Generator(nc=3, nz=100, ngf=64)` is layer for layer atu's `DCGANGenerator(latent_dim=100, channels=3,
image_size=64, width=64)` (the PyTorch DCGAN tutorial's architecture), so the conversion renames
`main.*` to `net.*`, loads strictly, and checks that both produce the same images on a latent bank. The
package ships no discriminator: the engine trains a fresh one (atu.pipeline.load_base).

Beside the converter: the hand labels of its samples (labels.json) and their fixed train/test split
(split.json). The classifiers and evaluators trained from them are in atu.face_classifiers; the checks by
eye (labelled grid, blind count) in atu.by_eye.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from .cards import write_checkpoint_card
from .io import atomic_output_dir, check_output_dir, write_json
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
    check_output_dir(cfg.out, overwrite)
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


# --- hand labels and their split --------------------------------------------------------------------------------

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
