"""Lab (session 25): the class keep held on the latents the base drew as a confident other digit only, the
positives' own filter (p(target) < 0.01 and top probability > 0.9): weight 1 there, 0 elsewhere, instead of
keep_loss's w = 1 - p(target), which also holds the ambiguous samples beside the target. Otherwise run.py:

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/mnist-v3/stage2-options/keepconf.py 8 0 unlearn.keep_weight=0.3 eval_latents=5056

(the s25keepconf* lines of results.jsonl; docs/benchmark-mnist.md "The class keep")."""
import runpy
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import atu.unlearn
from atu.feedback import confident_mask
from atu.unlearn import UnlearnConfig

POS = UnlearnConfig()   # the positives' thresholds at their defaults: pos_max_target_prob 0.01, pos_min_top_prob 0.9


def keep_confident(logits: torch.Tensor, base_probs: torch.Tensor, target: int) -> torch.Tensor:
    keep = torch.arange(base_probs.shape[1], device=base_probs.device) != target
    q = base_probs * keep
    q = q / q.sum(1).clamp_min(1e-12).unsqueeze(1)
    w = confident_mask(base_probs, target, POS.pos_max_target_prob, POS.pos_min_top_prob).float()
    kl = F.kl_div(logits.log_softmax(1), q, reduction="none").sum(1)
    return (w * kl).sum() / w.sum().clamp_min(1.0)


atu.unlearn.keep_loss = keep_confident   # stage 2 looks the keep up in atu.unlearn's namespace at each step
sys.argv = ["run.py"] + sys.argv[1:]
runpy.run_path(str(Path(__file__).with_name("run.py")), run_name="__main__")
