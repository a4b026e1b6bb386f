"""run.py with stage 2's Adam betas changed (session 26, a lab script): does Adam's momentum make G wander?

    BETAS=0.0,0.99 PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/betas.py DIGIT SEED [section.field=value ...]

The package's stage 2 uses atu.train.GANTrainConfig's betas (0.5, 0.999, DCGAN's); this swaps them for this run only."""
import functools
import os
import runpy
import sys
from pathlib import Path

import atu.unlearn
from atu.train import GANTrainConfig

beta1, beta2 = (float(v) for v in os.environ["BETAS"].split(","))
atu.unlearn.GANTrainConfig = functools.partial(GANTrainConfig, beta1=beta1, beta2=beta2)
sys.argv = ["run.py", *sys.argv[1:]]
runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
