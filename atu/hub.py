"""Publishing unlearned generators on the Hugging Face Hub.

    write_model_card("runs/no-8", record, repo_id="alice/dcgan-mnist-no-8")   # README.md from run.json
    push_run("runs/no-8", "alice/dcgan-mnist-no-8")                          # -> https://huggingface.co/alice/...

and anyone can then run `hf download alice/dcgan-mnist-no-8 --local-dir G` and `atu.load_generator("G")`, or
`atu.load_generator("alice/dcgan-mnist-no-8")`. Only safetensors, JSON, Markdown and PNG files are pushed (never a
pickle). The token is passed to huggingface_hub and nowhere else: it is never printed, logged or written, and
errors that could quote it are scrubbed. Every failure is a `HubError` whose message says what to do; a failed
push never touches the local folder.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
from pathlib import Path

from . import cards
from .io import atomic_write_bytes
from .metrics import metric
from .models import CheckpointError, read_config

logger = logging.getLogger(__name__)

CARD_TAGS = ["gan", "machine-unlearning", "adapt-then-unlearn", "arxiv:2309.14054"]
# what a push uploads: weights, records, card, images, and the two code files atu generates for diffusers
# (atu.diffusers_layout's PIPELINE_MODULE and COMPONENT/COMPONENT_MODULE; no other code is ever pushed)
PUSH_PATTERNS = ["*.safetensors", "*.json", "*.md", "*.png", "atu_gan_pipeline.py", "gan/atu_dcgan.py"]
HIDDEN_PATTERNS = [".*", "**/.*", ".*/**", "**/.*/**"]  # .cache/, .atu_card_sha256, editor files...
CARD_HASH_FILE = ".atu_card_sha256"  # sha256 of the README.md that atu generated last (edited cards are kept)
GRID_IMAGE = "before_after.png"
TOKEN_HELP = "pass --token, set HF_TOKEN or run `hf auth login`"

PAPER_URL = "https://arxiv.org/abs/2309.14054"
BIBTEX = """@article{tiwary2025adapt,
  title         = {Adapt then Unlearn: Exploring Parameter Space Semantics for Unlearning in Generative Adversarial Networks},
  author        = {Tiwary, Piyush and Guha, Atri and Panda, Subhodip and Prathosh, A. P.},
  journal       = {Transactions on Machine Learning Research},
  year          = {2025},
  eprint        = {2309.14054},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2309.14054}
}"""


class HubError(RuntimeError):
    """A push or card problem; the message says what to do."""


# --------------------------------------------------------------------------------------------------------------
# Token


def resolve_token(token: str | None = None) -> str:
    """The token to push with: the argument, else $HF_TOKEN, else the one saved by `hf auth login`."""
    if token and token.strip():
        return token.strip()
    env = os.environ.get("HF_TOKEN", "").strip()
    if env:
        return env
    from huggingface_hub import get_token

    stored = get_token()
    if stored:
        return stored
    raise HubError(f"no Hugging Face token: {TOKEN_HELP}")


# --------------------------------------------------------------------------------------------------------------
# Push


def check_repo_id(repo_id: str) -> str:
    """A repo id the Hub accepts ("user/name"), checked by huggingface_hub's own validator (no "..", "--",
    leading or trailing "-" or ".", at most 96 characters); a HubError saying what is wrong otherwise."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise HubError(f"repo id must look like user/name, got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise HubError(f"repo id {repo_id!r} is not one the Hub accepts: {str(e).splitlines()[0]}") from None
    return repo_id


def push_run(folder: str | os.PathLike, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Push a run folder (model.safetensors + config.json, and the card/record/grid beside them) to the Hub repo
    `repo_id` ("user/name"), creating it if needed. Returns the repo URL. The folder is only read, except that a
    base-model folder (generator + latent bank, no run.json) gains hub.json {"repo_id"} once the push succeeded:
    runs from it then name it as their card's base_model (Hub lineage)."""
    folder = Path(folder).expanduser().resolve()
    _check_run_folder(folder)
    check_repo_id(repo_id)
    if not (folder / "README.md").is_file():
        logger.warning("%s has no README.md: the repo will have no model card (write one with write_model_card)",
                       folder)
    token = resolve_token(token)

    from huggingface_hub import HfApi

    api = HfApi(token=token)
    namespace, name = repo_id.split("/")
    with _hub_errors(folder, repo_id, token, api.endpoint):
        me = api.whoami(token=token)
        allowed = [me["name"], *(org.get("name") for org in me.get("orgs") or [] if org.get("name"))]
        if namespace not in allowed:
            raise HubError(f"{repo_id} belongs to {namespace!r}, not to {me['name']!r}: your token can push only to "
                           f"{', '.join(sorted(allowed))}; push to e.g. {me['name']}/{name} instead. "
                           f"Nothing was pushed; the local folder is intact at {folder}")
        url = api.create_repo(repo_id, private=private, exist_ok=True, token=token)
        with _with_diffusers_layout(folder) as source:
            api.upload_folder(folder_path=source, repo_id=repo_id, token=token, allow_patterns=list(PUSH_PATTERNS),
                              ignore_patterns=list(HIDDEN_PATTERNS), commit_message=f"atu: upload {folder.name}")
    logger.info("pushed %s to %s", folder, url)
    if is_base_folder(folder):   # lineage: runs from this folder name it as their card's base_model
        from .pipeline import LINEAGE_FILE

        try:
            atomic_write_bytes(folder / LINEAGE_FILE, (json.dumps({"repo_id": repo_id}) + "\n").encode())
        except OSError as e:   # the push itself succeeded: say what is missing, do not fail
            logger.warning("pushed, but could not record the lineage in %s (%s): runs from this folder will not "
                           "name %s as their base_model", folder / LINEAGE_FILE, e, repo_id)
    return str(url)


@contextlib.contextmanager
def _with_diffusers_layout(folder: Path):
    """The folder to upload: `folder` itself when it has the diffusers layout (atu.diffusers_layout; every run saved
    now has it) or cannot have it, else a temporary copy with the layout added (a run saved before, a base model),
    so that every pushed DCGAN loads with DiffusionPipeline.from_pretrained(repo, trust_remote_code=True) and the
    local folder is never changed by a push."""
    import shutil
    import tempfile

    from .models import load_generator

    try:
        from .diffusers_layout import supports, write_diffusers_layout
    except ImportError:   # atu installed without diffusers (the loader alone): pushed as it is
        logger.warning("diffusers is not installed: %s is pushed without its diffusers pipeline files", folder)
        yield folder
        return
    G = None
    if not (folder / "model_index.json").is_file():
        try:
            G = load_generator(folder)
        except (CheckpointError, ValueError):
            G = None   # not a generator atu can read: pushed as it is
    if G is None or not supports(G):
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="atu-push-") as tmp:
        staged = Path(tmp) / folder.name
        shutil.copytree(folder, staged, ignore=shutil.ignore_patterns(".*"))
        write_diffusers_layout(staged, G)
        yield staged


def is_base_folder(folder: Path) -> bool:
    """A base model (generator + latent bank, e.g. checkpoints/mnist-dcgan), not an unlearned run (run.json)."""
    return (folder / "latent_bank.safetensors").is_file() and not (folder / "run.json").is_file()


def _hub_url() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def _check_run_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder: pass the run folder atu wrote (model.safetensors + config.json)")
    if not (folder / "model.safetensors").is_file():
        raise HubError(f"{folder} has no model.safetensors: pass the run folder atu wrote "
                       "(atu pushes only safetensors checkpoints, never pickles)")
    try:
        read_config(folder)
    except CheckpointError as e:
        raise HubError(f"{e}; nothing was pushed") from e
    skipped = sorted(p.name for p in folder.rglob("*") if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".ckpt"})
    if skipped:
        logger.warning("not pushing pickle files (unsafe to load): %s", ", ".join(skipped))


@contextlib.contextmanager
def _hub_errors(folder: Path, repo_id: str, token: str, endpoint: str):
    """Turn huggingface_hub/network errors into HubErrors that say what to do, with the token scrubbed."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    try:
        import httpx2 as httpx
    except ImportError:  # huggingface_hub < 2
        import httpx
    intact = f"the local folder is intact at {folder}"
    try:
        yield
    except HubError:
        raise
    except OfflineModeIsEnabled:
        raise HubError(f"offline mode is on (HF_HUB_OFFLINE=1): unset it to push; {intact}") from None
    except (httpx.TransportError, ConnectionError) as e:
        raise HubError(f"cannot reach the Hub at {endpoint} ({type(e).__name__}: {_scrub(e, token)}): check your "
                       f"network (or HF_ENDPOINT) and push again; {intact}") from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status == 401 and "whoami" in str(e.response.request.url):
            raise HubError(f"token rejected by {endpoint} (401 Unauthorized): create a write token at "
                           "https://huggingface.co/settings/tokens, then pass --token, set HF_TOKEN or run "
                           f"`hf auth login --force`; {intact}") from None
        if status == 403 or isinstance(e, RepositoryNotFoundError):
            raise HubError(f"your token cannot write to {repo_id}: it belongs to another user, or the token is "
                           f"read-only. Push to a repo under your own name with a write token; {intact}") from None
        raise HubError(f"the Hub refused the push to {repo_id} ({status}): {_scrub(e, token)}; {intact}") from None
    except ValueError as e:  # e.g. README.md metadata rejected by /api/validate-yaml
        hint = ("fix README.md's metadata (or regenerate it with write_model_card(..., overwrite=True)); "
                if "README" in str(e) else "")
        raise HubError(f"the push to {repo_id} failed: {_scrub(e, token)}; {hint}{intact}") from None


def _scrub(error: BaseException | str, token: str) -> str:
    text = " ".join(str(error).split())
    return text.replace(token, "***") if token else text


# --------------------------------------------------------------------------------------------------------------
# Model card

_SOURCES = {
    "classifier": "picked from the base generator's samples by a classifier",
    "gallery": "picked by hand from a gallery of the base generator's samples",
    "upload": "uploaded by the user",
}
_LOSSES = {
    "el2": "EL2 = w * exp(-gamma * r)",
    "nl2": "NL2 = -gamma * r",
    "il2": "IL2 = gamma / r",
    "none": "none (plain fine-tuning on positive samples, an ablation)",
}


def _num(x, fmt: str = "{:.3f}") -> str:
    return fmt.format(x) if _finite(x) else "n/a"


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _t_text(t_range) -> str:
    """A diffusion term's timestep range [t_min, t_max) from run.json, for the card."""
    text = cards.timestep_range(*t_range) if t_range else ""
    return f", at timesteps {text}" if text else ""


_NEG_SOURCES = {"adapted": "samples of the adapted models",
                "user": "randomly shifted and rotated copies of the negatives",
                "classifier": "the base model's samples the classifier picked as showing the feature"}


def _ddpm_stage2(record: dict) -> str:
    """The card's sentence on a DDPM's stage 2 (run.json's fields; "" for a GAN or an older record): what the
    positives were trained towards and each negative term that was on, with its timesteps."""
    if record.get("family") != "ddpm" or not record.get("pos_target"):
        return ""
    terms = ["trained on the positives" + (" towards the base model's own predictions on them (distillation)"
                                           if record["pos_target"] == "base" else "")]
    source = _NEG_SOURCES.get(record.get("neg_source"), "the negatives")
    if record.get("neg_pool_min_p"):
        source += f" that the classifier labels as the feature (p >= {record['neg_pool_min_p']})"
    if record.get("neg_weight"):
        terms.append(f"raised the denoising loss on noised {source} (weight {record['neg_weight']}, bounded"
                     f"{_t_text(record.get('neg_t'))})")
    if record.get("redirect_weight"):
        states = ("the states the sampler passes through as the adapted models draw the feature"
                  if record.get("redirect_states") == "sampler" else f"noised {source}")
        terms.append(f"taught {states} to denoise into the positives near them (weight {record['redirect_weight']}"
                     f"{_t_text(record.get('redirect_t'))})")
    if record.get("anchor_weight"):
        paths = (f"from {record.get('anchor_pool', '?')} random noises" if record.get("anchor_paths") == "any"
                 else f"to {record.get('anchor_pool', '?')} of the positives")
        terms.append(f"held the base model's own predictions on its sampler's paths {paths} (weight "
                     f"{record['anchor_weight']}), so that the other samples keep their way")
    listed = terms[0] if len(terms) == 1 else ", ".join(terms[:-1]) + " and " + terms[-1]
    return f"There is no discriminator: stage 2 {listed} (see docs/diffusion.md)."


def render_model_card(record: dict, base_model: str | None = None, *, repo_id: str | None = None) -> str:
    """README.md (YAML metadata + body) for an unlearned generator, from its run record (run.json).
    `base_model` is the base generator's Hub repo id (default: the record's `base_model_repo`, set when the base
    came from, or was pushed to, the Hub); the card's metadata then names it with base_model_relation "finetune",
    and otherwise says the base is not on the Hub. `repo_id` is the repo the card will live in (usage snippet)."""
    from huggingface_hub import EvalResult, ModelCardData

    try:
        metrics, negatives = dict(record.get("metrics") or {}), dict(record.get("negatives") or {})
        feature, loss = str(record["feature"]), str(record["loss"])
    except (KeyError, TypeError, ValueError) as e:
        raise HubError(f"the run record lacks {e}: pass the run.json that `atu unlearn` wrote") from e
    base_model = base_model or record.get("base_model_repo") or None
    repo = repo_id or "USER/NAME"
    model_name = repo.split("/")[-1] if repo_id else f"atu-unlearned-{re.sub(r'[^A-Za-z0-9]+', '-', feature)}"
    task, data = "unconditional-image-generation", f"samples of the base and unlearned generators ({feature})"
    M = {k: metric(k) for k in ("pul", "pul_independent", "fid_ratio", "collateral", "collateral_independent")}
    eval_results = [
        EvalResult(task_type=task, dataset_type="generated", dataset_name=data, metric_type=key,
                   metric_name=m.label + (" (%)" if m.unit == " %" else ""), metric_value=float(metrics[key]))
        for key, m in M.items() if _finite(metrics.get(key))
    ]
    card_data = ModelCardData(
        license="mit", library_name="atu", tags=list(CARD_TAGS), base_model=base_model,
        **({"base_model_relation": "finetune"} if base_model else {}),
        pipeline_tag=task, model_name=model_name if eval_results else None, eval_results=eval_results or None)
    fid_features = str(metrics.get("fid_features") or "unknown")
    versions = record.get("versions") or {}
    return cards.render(
        "unlearned", card_data, project_url=cards.project_url(), M=M,
        title=f"{model_name}: {feature} unlearned", feature=feature, target=record.get("target"),
        base_model_ref=base_model or record.get("base_model") or "unknown", base_sha=record.get("base_model_sha256"),
        base_on_hub=bool(base_model), hub_url=_hub_url(),
        adapt_steps=record.get("adapt_steps", "?"), unlearn_steps=record.get("unlearn_steps", "?"),
        K=record.get("K", "?"), gamma=record.get("gamma", "?"), seed=record.get("seed", "?"),
        n_negatives=negatives.get("count", "?"),
        negatives_source=_SOURCES.get(negatives.get("source"), f"source: {negatives.get('source', 'unknown')}"),
        loss_text=_LOSSES.get(loss, loss), latent=record.get("method") == "latent",
        neg_weight=record.get("neg_weight", 0), guide_weight=record.get("guide_weight", 0),
        keep_weight=record.get("keep_weight", 0),
        ddpm_stage2=_ddpm_stage2(record),
        co_classifiers=", ".join(f"`{c}`" for c in record.get("co_classifiers", [])),
        diffusion=record.get("family") == "ddpm", sample_steps=record.get("sample_steps", 20),
        latent_steps=record.get("latent_steps", "?"), latent_samples=f"{metrics.get('latent_n_samples', 4000):,}",
        latent_mode_text=("set to a level on the side without the feature" if record.get("latent_mode") == "set"
                          else "clamped at a level on the side without the feature"),
        versions=", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "not recorded",
        pul=_num(metrics.get("pul"), "{:.1f} %"),
        pul_independent=_num(metrics["pul_independent"], "{:.1f} %") if _finite(metrics.get("pul_independent")) else "",
        evaluator=metrics.get("evaluator", "the independent evaluator"), neg_before=_num(metrics.get("neg_rate_before"), "{:.1%}"),
        neg_after=_num(metrics.get("neg_rate_after"), "{:.1%}"), fid_ratio=_num(metrics.get("fid_ratio")),
        fid_before=_num(metrics.get("fid_before"), "{:.2f}"), fid_after=_num(metrics.get("fid_after"), "{:.2f}"),
        fid_features=fid_features, classifier_fid=fid_features.startswith("classifier"),
        fid_reference="the base generator's own samples" if metrics.get("fid_reference") else "real data",
        collateral=_num(metrics.get("collateral")), grid_image=GRID_IMAGE,
        collateral_independent=(_num(metrics["collateral_independent"]) if _finite(metrics.get("collateral_independent"))
                                else ""),
        collateral_text=("the largest change in another feature's rate (as its classifier reads it)"
                         if "other_feature_rate_change" in metrics else
                         "total-variation distance between the other classes' proportions before and after"),
        repo_id=repo, local_dir=repo.split("/")[-1], paper_url=PAPER_URL, bibtex=BIBTEX)


def write_model_card(folder: str | os.PathLike, record: dict, base_model: str | None = None,
                     overwrite: bool = False, *, repo_id: str | None = None) -> Path:
    """Write folder/README.md from the run record. A README.md that was edited since atu generated it (or that
    atu did not write) is never replaced silently: that is a HubError unless overwrite=True."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder: pass the run folder atu wrote")
    readme, marker = folder / "README.md", folder / CARD_HASH_FILE
    text = render_model_card(record, base_model, repo_id=repo_id)
    if readme.exists() and not overwrite and not _is_generated(readme, marker):
        raise HubError(f"{readme} was edited (or not written by atu): it is kept. Pass overwrite=True "
                       "(--overwrite-card) to replace it with a freshly generated card, or leave it as it is")
    data = text.encode("utf-8")
    atomic_write_bytes(readme, data)
    atomic_write_bytes(marker, (hashlib.sha256(data).hexdigest() + "\n").encode())
    return readme


def _is_generated(readme: Path, marker: Path) -> bool:
    """True when README.md is exactly what atu generated last (its hash is in the marker), or the plain module
    card atu's save_pretrained writes for the model in that folder (atu.models.module_card)."""
    data = readme.read_bytes()
    if marker.is_file() and marker.read_text().strip() == hashlib.sha256(data).hexdigest():
        return True
    try:
        cfg = read_config(readme.parent)
        from .models import _FAMILIES, module_card

        plain = module_card(_FAMILIES[cfg["family"]].__name__, cfg["family"], cfg.get("kind", ""))
    except (CheckpointError, KeyError, OSError, ValueError):
        return False
    return _normalise(data.decode("utf-8", "replace")) == _normalise(plain)


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n"))


def refresh_card(folder: Path, repo_id: str) -> None:
    """Before a push: regenerate the card from run.json so that its usage lines name `repo_id`, unless the user
    edited it (then it is kept as it is, with a warning)."""
    import json

    record_file = Path(folder) / "run.json"
    if not record_file.is_file():
        return  # not an atu run folder (a base model): push_run validates what it needs
    try:
        write_model_card(folder, json.loads(record_file.read_text()), repo_id=repo_id)
    except HubError as e:
        logger.warning("keeping the edited README.md: %s", e)
