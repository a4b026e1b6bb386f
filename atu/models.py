"""Generators, discriminators and classifiers, each an `nn.Module` with `PyTorchModelHubMixin`.

The engine only relies on the generator interface below (`latent_dim`, `G(z) -> images in [-1, 1]`), so other
families can be added by subclassing `Generator` and registering a `family` name. Every model saves as a
Hub-ready folder (`model.safetensors` + `config.json` with the constructor arguments plus `family`/`kind`), and
loads back only from safetensors, strictly: a checkpoint that does not match its config is an error, never a
silently half-loaded model.
"""
from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import torch
import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin, constants, hf_hub_download

MODEL_CARD_TAGS = ["gan", "machine-unlearning", "adapt-then-unlearn", "arxiv:2309.14054"]

_FAMILIES: dict[str, type["HubModule"]] = {}
# families whose module imports a heavy dependency (diffusers), imported when a checkpoint names them
_LAZY_FAMILIES = {"ddpm": "atu.diffusion"}


class CheckpointError(ValueError):
    """A model folder or repo that cannot be loaded; the message says what to do."""


def module_card(cls: str, family: str, kind: str) -> str:
    from huggingface_hub import ModelCardData

    from .cards import render

    return render("module", ModelCardData(license="mit", library_name="atu", tags=list(MODEL_CARD_TAGS)),
                  class_name=cls, family=family, kind=kind)


class HubModule(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="atu",
    license="mit",
    tags=list(MODEL_CARD_TAGS),  # a copy: the mixin appends its own tags to the list it is given
):
    family: str = ""  # registry name written to config.json; set by each concrete class
    kind: str = ""    # "generator" | "discriminator" | "classifier"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.family:
            _FAMILIES[cls.family] = cls

    def generate_model_card(self, *args, **kwargs):
        """The card a bare save_pretrained writes: atu's module template (atu/templates/module.md), not the mixin's
        stock card. Run folders and shipped models replace it with their full card (atu.hub, atu.cards)."""
        from huggingface_hub import ModelCard

        return ModelCard(module_card(type(self).__name__, self.family, self.kind))

    def _save_pretrained(self, save_directory: Path) -> None:
        super()._save_pretrained(save_directory)
        # config.json = constructor arguments (rebuilds the module) + what it is (picks the class to rebuild)
        config = dict(self._hub_mixin_config or {}, family=self.family, kind=self.kind)
        (Path(save_directory) / constants.CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True))

    @classmethod
    def _from_pretrained(cls, *, model_id, revision, cache_dir, force_download, local_files_only, token,
                         map_location="cpu", strict=True, **model_kwargs):
        # Safetensors only (never a pickle from a repo) and strict by default: a mismatch is an error.
        if os.path.isdir(model_id):
            model_file = os.path.join(model_id, constants.SAFETENSORS_SINGLE_FILE)
            if not os.path.isfile(model_file):
                raise CheckpointError(f"{model_id} has no {constants.SAFETENSORS_SINGLE_FILE}; "
                                      "atu loads only safetensors checkpoints")
        else:
            from huggingface_hub.errors import EntryNotFoundError

            try:
                model_file = hf_hub_download(model_id, constants.SAFETENSORS_SINGLE_FILE, revision=revision,
                                             cache_dir=cache_dir, force_download=force_download,
                                             local_files_only=local_files_only, token=token)
            except EntryNotFoundError as e:
                raise CheckpointError(f"{model_id} has no {constants.SAFETENSORS_SINGLE_FILE}; "
                                      "atu loads only safetensors checkpoints") from e
        model = cls(**model_kwargs)
        try:
            cls._load_as_safetensor(model, model_file, map_location, strict)
        except Exception as e:  # safetensors raises RuntimeError/SafetensorError with a long key list
            raise CheckpointError(f"the weights in {model_id} do not match its config.json "
                                  f"({cls.__name__}): {str(e)[:300]}") from e
        return model.eval()


# --------------------------------------------------------------------------------------------------------------
# Generators


class Generator(HubModule):
    """The interface the engine relies on: `latent_dim`, `image_shape`, and `G(z)` -> images in [-1, 1]."""

    kind = "generator"
    latent_dim: int
    image_shape: tuple[int, int, int]


def dcgan_generator_layers(latent_dim: int, channels: int, image_size: int, width: int) -> list:
    """The DCGAN generator's layers, applied to z viewed as (B, latent_dim, 1, 1): transposed convs doubling the
    size from 4x4, BatchNorm, ReLU, tanh. Also the source of the generator component that a pushed repo carries for
    diffusers (atu.diffusers_layout copies this function's text)."""
    n_up = int(math.log2(image_size)) - 2  # 4x4 -> image_size in n_up doublings
    if 2 ** (n_up + 2) != image_size or n_up < 2:
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    ch = width * 2 ** (n_up - 1)
    layers = [nn.ConvTranspose2d(latent_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
    for _ in range(n_up - 1):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch //= 2
    return layers + [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]


class DCGANGenerator(Generator):
    """DCGAN generator (Radford et al. 2016): transposed convs doubling the size from 4x4, BN, ReLU, tanh."""

    family = "dcgan"

    def __init__(self, latent_dim: int = 64, channels: int = 1, image_size: int = 32, width: int = 32):
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, (channels, image_size, image_size)
        self.net = nn.Sequential(*dcgan_generator_layers(latent_dim, channels, image_size, width))
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


# --------------------------------------------------------------------------------------------------------------
# Discriminators


class DCGANDiscriminator(HubModule):
    """DCGAN discriminator: strided convs halving the size down to 4x4, LeakyReLU; returns one raw logit per image
    (shape (B,)). By default BN after every conv but the first (DCGAN); `spectral_norm=True` replaces BN by
    spectral normalisation of every conv (Miyato et al. 2018), which keeps D Lipschitz and, with augmentation,
    stops it from memorising a small training set (the MNIST base model: README "Shipped models")."""

    family = "dcgan-d"
    kind = "discriminator"

    def __init__(self, channels: int = 1, image_size: int = 32, width: int = 32, spectral_norm: bool = False):
        super().__init__()
        n_down = int(math.log2(image_size)) - 2
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        layers, ch = [sn(nn.Conv2d(channels, width, 4, 2, 1)), nn.LeakyReLU(0.2, True)], width
        for _ in range(n_down - 1):
            if spectral_norm:
                layers += [sn(nn.Conv2d(ch, ch * 2, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            else:
                layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [sn(nn.Conv2d(ch, 1, 4, 1, 0))]
        self.net = nn.Sequential(*layers)
        if not spectral_norm:
            self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


class FeatureDiscriminator(nn.Module):
    """The discriminator for a base model that ships none (the faces): a copy of the feature classifier's network
    (`body`: image -> features) with a fresh one-logit head, all of it trained as D. A DCGAN D started from random
    weights stayed at chance (d_loss ~1.4-1.5) through a whole faces stage 2, so G only drifted; this one starts
    out seeing the feature, the one thing that tells the positives from the base's samples (README "Faces").
    Never saved: it lives for one run."""

    def __init__(self, body: nn.Module, image_shape: tuple[int, int, int]):
        super().__init__()
        self.body = body
        with torch.no_grad():
            was = body.training
            dim = body.eval()(torch.zeros(2, *image_shape)).shape[1]
            body.train(was)
        self.logit = nn.Linear(dim, 1)

    @classmethod
    def from_classifier(cls, C: nn.Module, image_shape: tuple[int, int, int]) -> "FeatureDiscriminator":
        if not isinstance(getattr(C, "body", None), nn.Module):
            raise TypeError(f"{type(C).__name__} has no `body` network to start a discriminator from")
        return cls(copy.deepcopy(C.body).requires_grad_(True), image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.body(x)).view(-1)


# --------------------------------------------------------------------------------------------------------------
# Classifiers


class DigitClassifier(HubModule):
    """Small CNN for 1x32x32 digits. Trained on images in [-1, 1] (the generator's range): `input_range` is
    saved in config.json and `atu.metrics.classify` checks it, so images never enter in the wrong range.
    `features(x)` returns the penultimate activations (the FID feature space) and `head(features)` the logits:
    the interface atu.metrics relies on for any classifier."""

    family = "digit-cnn"
    kind = "classifier"

    def __init__(self, num_classes: int = 10, width: int = 32, feature_dim: int = 128,
                 input_range: tuple[float, float] = (-1.0, 1.0)):
        super().__init__()
        self.input_range = tuple(input_range)
        self.num_classes = num_classes
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(True),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(True), nn.MaxPool2d(2),        # 16
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(True),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(True), nn.MaxPool2d(2),  # 8
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(True), nn.MaxPool2d(2),  # 4
            nn.Flatten(), nn.Linear(4 * w * 16, feature_dim), nn.ReLU(True),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = nn.GroupNorm(8, cout)
        self.skip = nn.Identity() if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        h = nn.functional.gelu(self.norm1(self.conv1(x)))
        return nn.functional.gelu(self.norm2(self.conv2(h)) + self.skip(x))


class ResNetClassifier(HubModule):
    """The independent evaluators: a small ResNet (strided residual blocks, GroupNorm, GELU, global average
    pooling) for images in [-1, 1], from random weights. Unlike the training classifiers (`DigitClassifier`:
    plain convs, BatchNorm, max pooling; `FaceAttributeClassifier`: started from the face encoder) it is trained
    by a different recipe and seed, and no training path ever touches it: it never picks negatives or positives
    and never starts a D. It only re-counts the target in every measurement (`pul_independent`), so that a G
    that fools the training classifier is caught. 64x64 faces enter through a stride-2 stem (then as 32x32)."""

    family = "resnet-classifier"
    kind = "classifier"

    def __init__(self, num_classes: int = 10, width: int = 24, channels: int = 1, image_size: int = 32,
                 attribute: str = "", input_range: tuple[float, float] = (-1.0, 1.0)):
        super().__init__()
        self.input_range, self.num_classes, self.attribute = tuple(input_range), num_classes, attribute
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(channels, w, 3, max(image_size // 32, 1), 1, bias=False), nn.GroupNorm(8, w), nn.GELU(),  # 32
            _ResBlock(w, w, 1), _ResBlock(w, 2 * w, 2), _ResBlock(2 * w, 4 * w, 2), _ResBlock(4 * w, 4 * w, 2),  # 4
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(4 * w, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class DigitResNet(ResNetClassifier):
    """`ResNetClassifier` for 1x32x32 digits (`checkpoints/mnist-classifier-b`), under its first family name."""

    family = "digit-resnet"

    def __init__(self, num_classes: int = 10, width: int = 24, input_range: tuple[float, float] = (-1.0, 1.0)):
        super().__init__(num_classes, width, 1, 32, "", input_range)


class ClassifierEnsemble(nn.Module):
    """Several classifiers read as one: the mean of their class probabilities, returned as logits (its log), so
    `atu.metrics.classify` and `class_probabilities` take it like any classifier. Training paths only
    (RunConfig.co_classifiers): a sample counts as the feature only as far as every member agrees, so G cannot
    settle on what one network alone misreads. `primary` (the first member) is what the metrics read
    (PUL, FID features): the ensemble never grades, and the independent evaluator is never a member."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        ranges = {tuple(getattr(m, "input_range", (-1.0, 1.0))) for m in members}
        classes = {getattr(m, "num_classes", None) for m in members}
        if len(ranges) > 1 or len(classes) > 1:
            raise CheckpointError(f"classifiers of an ensemble must share input range and classes, got {ranges}, "
                                  f"{classes}")
        self.members = nn.ModuleList(members)
        self.input_range, self.num_classes = ranges.pop(), classes.pop()

    @property
    def primary(self) -> nn.Module:
        return self.members[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logp = torch.stack([m(x).log_softmax(1) for m in self.members])
        return torch.logsumexp(logp, 0) - math.log(len(self.members))


class FaceAttributeClassifier(HubModule):
    """Binary classifier of one face attribute (label 1 = the face has it) for 3x64x64 images in [-1, 1].

    `body` starts as an encoder trained without labels to predict the face generator's own intermediate
    activations from its images (`regress`, atu.face_classifiers.train_face_encoder: unlimited training data, a feature space
    that knows faces); each attribute classifier then fine-tunes body and `head` on teacher-labelled samples
    (atu.face_classifiers.run_train_face_classifiers), so `features(x)`, the FID feature space of that feature's runs,
    differs per attribute. A feedback classifier (atu.feedback) keeps a body frozen and fits only the head."""

    family = "face-attributes"
    kind = "classifier"

    def __init__(self, attribute: str = "eyeglasses", width: int = 32, feature_dim: int = 512,
                 target_dim: int = 6144, input_range: tuple[float, float] = (-1.0, 1.0)):
        super().__init__()
        self.attribute, self.input_range, self.num_classes = attribute, tuple(input_range), 2
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2, True),                                       # 32
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),            # 16
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),        # 8
            nn.Conv2d(4 * w, 8 * w, 4, 2, 1), nn.BatchNorm2d(8 * w), nn.LeakyReLU(0.2, True),        # 4
            nn.Flatten(), nn.Linear(8 * w * 16, feature_dim), nn.ReLU(True),
        )
        self.regress = nn.Linear(feature_dim, target_dim)   # encoder training target: G's pooled activations
        self.head = nn.Linear(feature_dim, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor, regress: bool = False) -> torch.Tensor:
        """Attribute logits (B, 2); regress=True gives the encoder's training output instead."""
        return (self.regress if regress else self.head)(self.body(x))


def _dcgan_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------------------------------
# Loading any atu model from a folder or a Hub repo


def read_config(path_or_repo: str | os.PathLike, **hub_kwargs) -> dict:
    """config.json of a local model folder or a Hub repo, with clear errors."""
    path = Path(path_or_repo)
    if path.is_dir():
        cfg_file = path / constants.CONFIG_NAME
        if not cfg_file.is_file():
            raise CheckpointError(f"{path} has no config.json: is it a model folder written by atu "
                                  "(save_pretrained)?")
    elif path.exists() or str(path_or_repo).startswith((".", "/")) or str(path_or_repo).count("/") != 1:
        raise CheckpointError(f"{path_or_repo} is neither a model folder nor a Hub repo id (user/name)")
    else:
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

        try:
            cfg_file = Path(hf_hub_download(str(path_or_repo), constants.CONFIG_NAME, **hub_kwargs))
        except LocalEntryNotFoundError as e:   # offline and not cached (a subclass of EntryNotFoundError)
            raise CheckpointError(f"{path_or_repo} is not a local folder ({path.absolute()} does not exist), and as "
                                  "a Hub repo id it is neither in the local cache nor reachable (offline?): "
                                  "check the path, or connect and retry") from e
        except RepositoryNotFoundError as e:
            raise CheckpointError(f"no Hub repo {path_or_repo} (or it is private: pass a token), and no local folder "
                                  f"{path.absolute()}: check the name or the path") from e
        except EntryNotFoundError as e:
            raise CheckpointError(f"Hub repo {path_or_repo} has no config.json: not an atu model") from e
    try:
        config = json.loads(Path(cfg_file).read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{cfg_file} is not valid JSON ({e}): the checkpoint is corrupt") from e
    if config.get("family") in _LAZY_FAMILIES and config["family"] not in _FAMILIES:
        import importlib

        importlib.import_module(_LAZY_FAMILIES[config["family"]])
    if config.get("family") not in _FAMILIES:
        raise CheckpointError(f"{path_or_repo}: unknown model family {config.get('family')!r} in config.json; "
                              f"known: {sorted(set(_FAMILIES) | set(_LAZY_FAMILIES))}")
    return config


def load_model(path_or_repo: str | os.PathLike, kind: str | None = None, **hub_kwargs) -> HubModule:
    """Any atu model (generator, discriminator, classifier) from a local folder or a Hub repo id, in eval mode."""
    config = read_config(path_or_repo, **hub_kwargs)
    cls = _FAMILIES[config["family"]]
    if kind is not None and cls.kind != kind:
        raise CheckpointError(f"{path_or_repo} holds a {cls.kind}, not a {kind}")
    return cls.from_pretrained(str(path_or_repo), **hub_kwargs)


def load_generator(path_or_repo: str | os.PathLike, **hub_kwargs) -> Generator:
    """A ready generator from a local folder or a Hub repo id ("user/name"): `G(z)` gives images in [-1, 1]."""
    return load_model(path_or_repo, kind="generator", **hub_kwargs)
