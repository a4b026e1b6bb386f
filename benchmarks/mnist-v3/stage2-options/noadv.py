"""run.py with G's adversarial loss off in stage 2 (session 26, a lab script): G then learns only from the other
terms (the guide, the repulsion, the anchor, the keep), as a DDPM's stage 2 distils its base instead of playing a GAN.
D still trains, and nothing reads it.

    PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/noadv.py DIGIT SEED [section.field=value ...]
"""
import runpy
import sys
from pathlib import Path

import atu.unlearn
from atu.losses import LogisticGANLoss
from atu.train import train_gan


class NoAdversarial(LogisticGANLoss):
    def g_loss(self, D, fake):
        return fake.sum() * 0.0, {}


def stage2_train_gan(*args, **kwargs):   # stage 1 (atu.adapt) keeps its own train_gan and the adversarial loss
    return train_gan(*args, **kwargs, loss=NoAdversarial(args[3].neg_weight, args[3].r1_gamma, args[3].r1_every))


atu.unlearn.train_gan = stage2_train_gan
sys.argv = ["run.py", *sys.argv[1:]]
runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
