"""run.py with the classifier guide reading two training classifiers (session 26, a lab script): the shipped one and
a second of the same recipe and another seed (GUIDE2=DIR, trained by `python -m atu train-classifier --out DIR
--train.seed 3`). The guide's logits are the log of the two classifiers' mean probabilities, so a sample must leave
the target for both. Only the guide changes: positives, negatives, the probe and every metric keep the shipped
classifier, and the independent evaluator (another architecture) still never sees training.

    GUIDE2=DIR PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/guide2.py DIGIT SEED [section.field=value ...]
"""
import os
import runpy
import sys
from pathlib import Path

import torch

import atu.pipeline
from atu.models import load_model


class MeanProbabilities(torch.nn.Module):
    """Log of the mean of several classifiers' softmax outputs (a drop-in for one classifier's logits)."""

    def __init__(self, *classifiers):
        super().__init__()
        self.members = torch.nn.ModuleList(classifiers)
        if hasattr(classifiers[0], "input_range"):
            self.input_range = classifiers[0].input_range

    def forward(self, x):
        return torch.stack([m(x).softmax(1) for m in self.members]).mean(0).log()


second = load_model(os.environ["GUIDE2"]).eval()
unlearn = atu.pipeline.unlearn


def unlearn_two_guides(*args, guide=None, **kwargs):
    if guide is not None:
        guide = (MeanProbabilities(guide[0], second), guide[1])
    return unlearn(*args, guide=guide, **kwargs)


atu.pipeline.unlearn = unlearn_two_guides
sys.argv = ["run.py", *sys.argv[1:]]
runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
