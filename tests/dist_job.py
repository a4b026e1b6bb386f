"""Both stages on tiny models in 2 processes: `python tests/dist_job.py DIR` (run by tests/test_distributed.py).

debug_launcher forks; a process that already ran torch ops (OpenMP threads) deadlocks its forked children, so
this runs in a fresh interpreter that does no torch work before the fork."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def job():
    from accelerate import PartialState

    from atu.adapt import AdaptConfig
    from atu.pipeline import RunConfig, run_unlearning, save_run
    from atu.unlearn import UnlearnConfig

    from tiny import make_tiny_base

    root = Path(os.environ["ATU_DIST_DIR"])
    state = PartialState(cpu=True)  # PartialState does not read ACCELERATE_USE_CPU (AcceleratorState does)
    if state.is_main_process:
        make_tiny_base(root)
    state.wait_for_everyone()
    cfg = RunConfig(model=str(root / "gan"), classifier=str(root / "clf"), target=4, n_negatives=6,
                    eval_latents=400, adapt=AdaptConfig(K=1, steps=3, batch_size=4, fisher_samples=2),
                    unlearn=UnlearnConfig(steps=3, batch_size=4, n_positives=20, eval_every=1, eval_latents=20,
                                          lr_schedule="linear"))
    result = run_unlearning(cfg)
    (root / f"world{state.process_index}.txt").write_text(str(state.num_processes))
    lrs = [e["lr"] for e in result.history if e["stage"] == "unlearn" and "lr" in e]   # stage 2's rate, each step
    (root / f"lr{state.process_index}.txt").write_text(" ".join(f"{v:.6g}" for v in lrs))

    import atu.io   # record which process renames a folder into place (the write that makes `run` exist)
    replace = atu.io.os.replace

    def recorded(src, dst):
        if Path(dst) == root / "run":
            (root / f"wrote-run-rank{state.process_index}").touch()
        return replace(src, dst)

    atu.io.os.replace = recorded
    save_run(result, root / "run")   # every process calls it, as `python -m atu unlearn` does: only rank 0 writes
    assert (root / "run" / "model.safetensors").is_file()   # and every process finds the folder complete after it


if __name__ == "__main__":
    from accelerate import debug_launcher

    os.environ["ATU_DIST_DIR"] = sys.argv[1]
    debug_launcher(job, num_processes=2)
