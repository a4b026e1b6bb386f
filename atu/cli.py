"""`python -m atu <command>`: every option of a command is a field of its config dataclass (nested fields as
`--train.steps 100`); `--dry-run` prints the resolved config and exits; unknown options are rejected."""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import typing


def add_dataclass_args(parser: argparse.ArgumentParser, cls, prefix: str = "", aliases: dict | None = None) -> None:
    aliases = aliases or {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name, typ = prefix + f.name, hints[f.name]
        if dataclasses.is_dataclass(typ):
            add_dataclass_args(parser, typ, name + ".", aliases)
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flags = [f"--{name}"] + [f"--{a}" for a, full in aliases.items() if full == name]
        if typ is bool:
            parser.add_argument(*flags, dest=name, type=_parse_bool, default=default, metavar="BOOL")
        else:
            parser.add_argument(*flags, dest=name, type=typ if typ in (int, float, str) else str, default=default)


def dataclass_values(cfg, prefix: str = "") -> dict:
    """{dest: value} of a config dataclass, nested fields as "stage.field" (the parser's dests)."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out.update(dataclass_values(v, prefix + f.name + ".") if dataclasses.is_dataclass(v) else {prefix + f.name: v})
    return out


def dataclass_flags(cfg, default, prefix: str = "") -> list[str]:
    """The command-line options (`--train.steps 20000`) that turn `default` into `cfg`, in field order, each value
    quoted for a shell (an empty --evaluator is `''`, not nothing)."""
    out = []
    for f in dataclasses.fields(cfg):
        v, d = getattr(cfg, f.name), getattr(default, f.name)
        if dataclasses.is_dataclass(v):
            out += dataclass_flags(v, d, prefix + f.name + ".")
        elif v != d:
            out += [f"--{prefix}{f.name}", shlex.quote(str(v).lower() if isinstance(v, bool) else f"{v:g}"
                                                       if isinstance(v, float) else str(v))]
    return out


def build_dataclass(cls, ns: argparse.Namespace, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        name, typ = prefix + f.name, hints[f.name]
        kwargs[f.name] = build_dataclass(typ, ns, name + ".") if dataclasses.is_dataclass(typ) else getattr(ns, name)
    return cls(**kwargs)


def _parse_bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def _commands():
    from . import by_eye, cards, face_classifiers, faces, mnist, pipeline

    return {
        "unlearn": (pipeline.RunConfig, pipeline.cli_unlearn,
                    "unlearn a class: stage 1 (adapt to negatives) + stage 2 (repulsion) + metrics"),
        "train-classifier": (mnist.ClassifierRunConfig, mnist.run_train_classifier,
                             "train the MNIST digit classifier (labels samples; FID features)"),
        "train-gan": (mnist.GANRunConfig, mnist.run_train_gan,
                      "train the MNIST DCGAN base model (G, D, EMA G, latent bank)"),
        "train-ddpm": (mnist.DDPMRunConfig, mnist.run_train_ddpm,
                       "train the MNIST DDPM base model (UNet, EMA, bank of initial noise; issue #17)"),
        "convert-faces": (faces.ConvertFacesConfig, faces.run_convert_faces,
                          "convert the gan-face-generate 64x64 face DCGAN into an atu generator folder"),
        "train-face-encoder": (face_classifiers.FaceEncoderConfig, face_classifiers.run_train_face_encoder,
                               "train the face feature network on the face generator's own samples"),
        "train-face-classifiers": (face_classifiers.FaceClassifierConfig, face_classifiers.run_train_face_classifiers,
                                   "fit the eyeglasses/headwear classifiers on the hand labels"),
        "train-face-evaluators": (face_classifiers.FaceEvaluatorConfig, face_classifiers.run_train_face_evaluators,
                                  "train the independent eyeglasses/headwear evaluators (they only grade)"),
        "labelled-grid": (by_eye.LabelledGridConfig, by_eye.run_labelled_grid,
                          "draw the hand-labelled samples with a feature before / after unlearning, to check by eye"),
        "blind-count": (by_eye.BlindCountConfig, by_eye.run_blind_count,
                        "count by eye, blind: draw shuffled before/after tiles, then unblind the marks"),
        "score": (pipeline.ScoreConfig, pipeline.run_score,
                  "measure a saved run folder again and write its registered metrics to score.json"),
        "card": (cards.CardConfig, cards.run_card,
                 "re-render a shipped model's README.md from the records in its folder (atu/templates)"),
    }


SEEDED_STAGES = ("adapt", "unlearn", "latent")
STAGE_SEEDS_UNSET = {f"{stage}.seed": None for stage in SEEDED_STAGES}
ALIASES = {"unlearn": {"loss": "unlearn.loss", "gamma": "unlearn.gamma", "K": "adapt.K"}}


def main(argv: list[str] | None = None) -> int:
    commands = _commands()
    parser = argparse.ArgumentParser(prog="python -m atu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (cls, _, help_) in commands.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add_dataclass_args(p, cls, aliases=ALIASES.get(name))
        p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
        p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
        if name == "unlearn":
            from .catalog import BASE_MODELS   # light: dataclasses and paths only

            p.add_argument("--base", default="", help=f"a catalogued base model ({', '.join(BASE_MODELS)}): its "
                           "folder, --feature's classifier and the preset's settings become the defaults, as in the "
                           "app; any other option still overrides them")
            p.add_argument("--preset", default="standard", help="with --base: fast | standard (atu.session.PRESETS)")
            p.set_defaults(**STAGE_SEEDS_UNSET)   # not given: the run's --seed (_seed_every_stage)
            parsers = {"unlearn": p}
    p = sub.add_parser("push", help="push a run folder to the Hugging Face Hub",
                       description="Push a run folder (unlearned generator, card, run record) to the Hub. The "
                                   "token comes from --token, $HF_TOKEN or `hf auth login`; it is never printed.")
    p.add_argument("run_dir")
    p.add_argument("--repo-id", required=True, help="user/name")
    p.add_argument("--private", action="store_true")
    p.add_argument("--token", default=None, help="prefer $HF_TOKEN: a token on the command line shows in `ps`")
    ns = parser.parse_args(argv)
    if ns.command == "push":
        return _push(ns)
    if ns.command == "unlearn" and ns.base:
        try:
            parsers["unlearn"].set_defaults(**{**dataclass_values(_catalog_config(ns.base, ns.feature, ns.preset)),
                                                **STAGE_SEEDS_UNSET})
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        ns = parser.parse_args(argv)   # the catalog's config as defaults, the options given on top
    cls, run, _ = commands[ns.command]
    cfg = build_dataclass(cls, ns)
    if ns.command == "unlearn":
        cfg = _seed_every_stage(cfg)
    print(json.dumps(dataclasses.asdict(cfg), indent=2))
    if ns.dry_run:
        if ns.command == "unlearn":
            from .pipeline import plan
            print(plan(cfg))
        return 0
    try:
        result = run(cfg, overwrite=ns.overwrite)
    except (FileExistsError, FileNotFoundError, ValueError) as e:  # CheckpointError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 0


def _seed_every_stage(cfg):
    """`--seed S` seeds the whole run (negatives, stage 1, stage 2), as the app's seed does; a stage's own
    `--unlearn.seed` (or `--adapt.seed`, `--latent.seed`) given on the command line still wins: a stage seed not
    given is None here (STAGE_SEEDS_UNSET). Before, `--seed` left stage 2's batches at seed 0."""
    given = {stage: getattr(cfg, stage).seed for stage in SEEDED_STAGES if getattr(cfg, stage).seed is not None}
    cfg = cfg.with_seed(cfg.seed)
    return dataclasses.replace(cfg, **{stage: dataclasses.replace(getattr(cfg, stage), seed=s)
                                       for stage, s in given.items()})


def _catalog_config(base: str, feature: str, preset: str):
    """The RunConfig the app runs for this base model, feature and preset (atu.session.run_config)."""
    from . import catalog, session

    model = catalog.get(base)
    if not feature:
        raise ValueError(f"--base {base} needs --feature: one of {', '.join(model.features)}")
    return session.run_config(model, feature, preset)


def _push(ns) -> int:
    from pathlib import Path

    from .hub import HubError, check_repo_id, push_run, refresh_card

    try:
        check_repo_id(ns.repo_id)
        refresh_card(Path(ns.run_dir), ns.repo_id)
        url = push_run(ns.run_dir, ns.repo_id, token=ns.token, private=ns.private)
    except HubError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(url)
    return 0
