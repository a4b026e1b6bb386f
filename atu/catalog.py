"""The base models atu ships and the features each can forget.

A base model is a generator folder (with its discriminator and latent bank) plus the classifier that labels its
samples. A feature maps a human name ("digit 8") to the classifier's label (8). The app's model and feature
choices and the CLI's defaults come from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


@dataclass(frozen=True)
class BaseModel:
    name: str                                   # folder name in checkpoints/
    title: str                                  # what the app shows
    classifier: str                             # folder name in checkpoints/ of the classifier that labels samples
    features: dict[str, int] = field(default_factory=dict)   # feature name -> the classifier's label

    def path(self, root: Path = CHECKPOINTS) -> Path:
        return root / self.name

    def classifier_path(self, root: Path = CHECKPOINTS) -> Path:
        return root / self.classifier

    def target(self, feature: str) -> int:
        if feature not in self.features:
            raise ValueError(f"{self.title} has no feature {feature!r}: choose one of {', '.join(self.features)}")
        return self.features[feature]


BASE_MODELS = {
    "mnist-dcgan": BaseModel("mnist-dcgan", "MNIST digits (DCGAN 32x32)", "mnist-classifier",
                             {f"digit {d}": d for d in range(10)}),
}


def shipped(root: Path = CHECKPOINTS) -> dict[str, BaseModel]:
    """The catalogued base models whose generator and classifier folders exist under `root`."""
    return {k: m for k, m in BASE_MODELS.items()
            if (m.path(root) / "config.json").is_file() and (m.classifier_path(root) / "config.json").is_file()}


def get(name: str, root: Path = CHECKPOINTS) -> BaseModel:
    models = shipped(root)
    if name not in models:
        raise ValueError(f"no base model {name!r} in {root}: choose one of {', '.join(models) or '(none)'}")
    return models[name]
