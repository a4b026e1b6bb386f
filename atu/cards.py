"""Model cards, one way: every card atu writes is a Jinja template in atu/templates/ rendered by
huggingface_hub's `ModelCard.from_template`, with its Hub metadata as `ModelCardData`.

    render("unlearned", card_data, **context)      # an unlearned run's card (atu.hub.render_model_card)
    checkpoint_card("checkpoints/mnist-dcgan")      # a shipped model's card, from the records in its folder

A checkpoint's card is rendered from the files its training command wrote beside the weights (train_config.json,
metrics.json, conversion.json, ...), never from values held in memory, so `python -m atu card FOLDER` can
re-render it at any time and tests/test_checkpoints.py checks every shipped card equals its records' rendering.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .io import dataclass_from_dict, read_json

TEMPLATES = Path(__file__).parent / "templates"


def timestep_range(t_min: int, t_max: int) -> str:
    """A diffusion term's timesteps [t_min, t_max) in words, for the run plan and the card: "500 <= t < 900",
    "t >= 500", or "" when it sees every t (t_max 0 = T)."""
    if t_max:
        return f"{t_min} <= t < {t_max}"
    return f"t >= {t_min}" if t_min else ""


def render(template: str, card_data, **context) -> str:
    """README.md text: YAML metadata from `card_data` (a huggingface_hub.ModelCardData), body from the template."""
    from huggingface_hub import ModelCard

    card = ModelCard.from_template(card_data, template_path=str(TEMPLATES / f"{template}.md"), **context)
    return str(card).rstrip("\n") + "\n"


def project_url() -> str | None:
    """Where a card's "Made with atu" links: $ATU_PROJECT_URL, else the Space this runs in ($SPACE_ID, which
    Spaces set), else nowhere (a card links only to what exists)."""
    if os.environ.get("ATU_PROJECT_URL"):
        return os.environ["ATU_PROJECT_URL"]
    if os.environ.get("SPACE_ID"):
        return f"https://huggingface.co/spaces/{os.environ['SPACE_ID']}"
    return None


def _data(pipeline_tag: str, tags: list[str]):
    from huggingface_hub import ModelCardData

    return ModelCardData(license="mit", library_name="atu", pipeline_tag=pipeline_tag, tags=tags)


def reproduce_block(command: str, out: str, shipped_at: str, m: dict) -> str:
    """A trained base model's "Reproduce" section: the commands of the runs that made it (m["earlier_runs"], each
    going on from the folder the one before wrote with --init) and this run's, how long each took, and what to
    pass when a command's output folder is the shipped one (which exists in every checkout)."""
    earlier = m.get("earlier_runs") or []
    lines = [f"Trained in {len(earlier) + 1} runs, each going on from the folder the one before wrote (`--init`):"
             ] if earlier else []
    lines += ["```", *(r["command"] for r in earlier), command, "```"]
    if out != shipped_at:
        lines.append(f"The last command writes `{out}`; `{shipped_at}` is a copy of that folder.")
    if earlier:
        lines.append("Each `--init` reads the folder the command before it wrote; a command whose output folder already "
                     f"exists (`{shipped_at}` in a checkout) needs `--overwrite` too (`--init` is read before the folder "
                     "is replaced).")
    took = [f"{'Run' if i == 0 else 'run'} {i + 1} took {r['train_seconds'] / 60:.1f} min and left FID {r['fid']:.2f}; "
            for i, r in enumerate(earlier)]
    where = f"one {m['gpu']} GPU" if m.get("gpu") else m["machine"]
    lines.append("".join(took) + f"{'the last run' if earlier else 'Training'} took {m['train_seconds'] / 60:.1f} min on "
                 f"{where} (atu {m['atu']}, torch {m['torch']}).")
    return "\n".join(lines)


def checkpoint_card(folder: str | os.PathLike) -> str:
    """The card of a shipped model folder, from its own records. Which card is told by what the folder holds:
    conversion.json (a converted generator), train_history.json (a trained GAN), "feature_dim" in
    train_config.json (a digit classifier), "teacher_heldout" in metrics.json (a face classifier), "pseudo_seed" in
    train_config.json (a face evaluator)."""
    folder = Path(folder)
    if (folder / "conversion.json").is_file():
        from .faces import PACKAGE_VERSION

        return render("faces_base", _data("unconditional-image-generation",
                                          ["gan", "dcgan", "faces", "machine-unlearning", "adapt-then-unlearn"]),
                      info=read_json(folder / "conversion.json"), package_version=PACKAGE_VERSION)
    if not (folder / "train_config.json").is_file() or not (folder / "metrics.json").is_file():
        raise FileNotFoundError(f"{folder} has no train_config.json + metrics.json (nor conversion.json): "
                                "no records to render a card from")
    cfg, m = read_json(folder / "train_config.json"), read_json(folder / "metrics.json")
    if read_json(folder / "config.json").get("family") == "ddpm":
        from .mnist import DDPM_LATENT_BANK_SIZE, LATENT_BANK_SEED, DDPMRunConfig, ddpm_reproduce_command

        return render("mnist_ddpm", _data("unconditional-image-generation",
                                          ["diffusion", "ddpm", "mnist", "unconditional-image-generation", "atu"]),
                      cfg=cfg, m=m, bank_size=DDPM_LATENT_BANK_SIZE, bank_seed=LATENT_BANK_SEED,
                      reproduce=reproduce_block(ddpm_reproduce_command(dataclass_from_dict(DDPMRunConfig, cfg)), cfg["out"],
                                                DDPMRunConfig().out, m))
    if (folder / "train_history.json").is_file():
        from .mnist import GAN_HISTORY, LATENT_BANK_SEED, LATENT_BANK_SIZE, GANRunConfig, gan_reproduce_command

        return render("mnist_gan", _data("unconditional-image-generation",
                                         ["gan", "dcgan", "mnist", "unconditional-image-generation", "atu"]),
                      cfg=cfg, m=m, bank_size=LATENT_BANK_SIZE, bank_seed=LATENT_BANK_SEED, history=GAN_HISTORY,
                      reproduce=reproduce_block(gan_reproduce_command(dataclass_from_dict(GANRunConfig, cfg)), cfg["out"],
                                                GANRunConfig().out, m))
    if "feature_dim" in cfg:   # a digit classifier (records older than a field get that field's default)
        import dataclasses

        from .mnist import ClassifierRunConfig

        cfg = dataclasses.asdict(dataclass_from_dict(ClassifierRunConfig, cfg))
        return render("mnist_classifier", _data("image-classification", ["image-classification", "mnist", "atu"]),
                      cfg=cfg, m=m, flags=_classifier_flags(cfg))
    if "teacher_heldout" in m or "pseudo_seed" in cfg:
        a = m["attribute"]
        rec = read_json(Path(cfg["model"]) / "labels.json")
        kind = "face_evaluator" if "pseudo_seed" in cfg else "face_classifier"
        return render(kind, _data("image-classification", ["image-classification", "faces", a, "atu"]),
                      a=a, m=m, cfg=cfg, rec=rec)
    raise ValueError(f"{folder}: its records match no card template in {TEMPLATES}")


def _classifier_flags(cfg: dict) -> str:
    """The train-classifier options beyond --out that reproduce a digit classifier (none for the default CNN)."""
    import dataclasses

    from .cli import dataclass_flags
    from .mnist import ClassifierRunConfig

    default = ClassifierRunConfig()
    run = dataclasses.replace(dataclass_from_dict(ClassifierRunConfig, cfg), out=default.out)
    return "".join(" " + f for f in dataclass_flags(run, default))


def write_checkpoint_card(folder: str | os.PathLike) -> Path:
    """Render the folder's card from its records into its README.md (atomically)."""
    from .io import atomic_write_bytes

    path = Path(folder) / "README.md"
    atomic_write_bytes(path, checkpoint_card(folder).encode())
    return path


@dataclass
class CardConfig:
    folder: str = ""   # a shipped model folder (checkpoints/NAME): its README.md is re-rendered from its records


def run_card(cfg: CardConfig, overwrite: bool = False) -> dict:
    """`python -m atu card --folder F`: README.md from the folder's records (after editing a template)."""
    if not cfg.folder:
        raise ValueError("pass --folder: a model folder with its records (e.g. checkpoints/mnist-dcgan)")
    old = (Path(cfg.folder) / "README.md").read_text() if (Path(cfg.folder) / "README.md").is_file() else None
    path = write_checkpoint_card(cfg.folder)
    return {"card": str(path), "changed": old != path.read_text()}


def save_checkpoint(folder: str | os.PathLike, model, metrics: dict, train_config, overwrite: bool = False,
                    extra=None) -> Path:
    """A shipped checkpoint folder, written at once (atu.io.atomic_output_dir): the model (save_pretrained),
    metrics.json, train_config.json, and the card rendered from those records. `extra(tmp)` may add files."""
    from .io import atomic_output_dir, write_json

    with atomic_output_dir(folder, overwrite) as tmp:
        model.save_pretrained(tmp)
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "train_config.json", train_config)
        if extra is not None:
            extra(tmp)
        write_checkpoint_card(tmp)
    return Path(folder)
