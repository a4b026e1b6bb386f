"""Both stages run as 2 real processes on the CPU (accelerate's debug_launcher: gloo, DDP), the run folder is
written once (by the main process), and the result loads. (`accelerate launch --cpu --num_processes 2` would
start only one process.)"""
import subprocess
import sys
from pathlib import Path

import torch

import atu


def test_two_process_run_finishes_and_loads(tmp_path):
    job = Path(__file__).with_name("dist_job.py")
    out = subprocess.run([sys.executable, str(job), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "world0.txt").read_text() == "2" and (tmp_path / "world1.txt").read_text() == "2"
    assert sorted(p.name for p in tmp_path.glob("wrote-run-*")) == ["wrote-run-rank0"]   # written exactly once
    # a decaying stage-2 rate ends at the last step on every process (a prepared scheduler stepped once per process
    # per step: with 2 processes the linear decay 2e-4 -> 0 over 3 steps had ended after the second)
    for rank in (0, 1):
        assert (tmp_path / f"lr{rank}.txt").read_text() == "0.000133333 6.66667e-05 0"
    assert not list(tmp_path.glob(".run.*"))                                              # no half-written folder
    G = atu.load_generator(tmp_path / "run")
    assert torch.isfinite(G(torch.randn(2, G.latent_dim))).all()
