"""Every pushed generator is a diffusers pipeline: its code ships in the repo, generated from atu's own source,
and a venv without atu loads a downloaded repo with DiffusionPipeline.from_pretrained(..., trust_remote_code=True)
and draws the same images as atu."""
import inspect
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import torch

import atu
from atu.hub import push_run

ROOT = Path(__file__).resolve().parents[1]


def test_the_repos_code_is_the_packages_own_source():
    from atu import diffusers_layout as dl
    from atu.models import DCGANGenerator, dcgan_generator_layers

    component, pipeline = dl.component_source(), dl.pipeline_source()
    assert inspect.getsource(dcgan_generator_layers) in component
    assert inspect.getsource(dl.AtuDCGANGenerator) in component
    assert inspect.getsource(dl.GANPipeline) in pipeline
    ns: dict = {}
    exec(compile(component, "atu_dcgan.py", "exec"), ns)   # the generated module builds atu's network
    G = DCGANGenerator(latent_dim=16, width=8).eval()
    D = ns["AtuDCGANGenerator"](latent_dim=16, channels=1, image_size=32, width=8).eval()
    D.load_state_dict(G.state_dict())                     # strict: the same weight names and shapes
    z = torch.randn(3, 16)
    with torch.no_grad():
        assert torch.equal(D(z), G(z))


def test_a_saved_run_is_a_pipeline_and_atu_still_loads_it(tmp_path):
    from diffusers import DiffusionPipeline

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny import make_tiny_base

    from atu.adapt import AdaptConfig
    from atu.pipeline import RunConfig, run_unlearning, save_run
    from atu.unlearn import UnlearnConfig

    gan, clf = make_tiny_base(tmp_path / "base")
    cfg = RunConfig(model=str(gan), classifier=str(clf), evaluator="", target=4, n_negatives=6, eval_latents=400,
                    adapt=AdaptConfig(K=1, steps=3, batch_size=4, fisher_samples=2),
                    unlearn=UnlearnConfig(steps=3, batch_size=4, n_positives=20, eval_every=1, eval_latents=20))
    run = save_run(run_unlearning(cfg), tmp_path / "run")
    for f in ("model_index.json", "atu_gan_pipeline.py", "gan/atu_dcgan.py", "gan/config.json",
              "gan/diffusion_pytorch_model.safetensors", "model.safetensors", "config.json"):
        assert (run / f).is_file(), f
    G, pipe = atu.load_generator(run), DiffusionPipeline.from_pretrained(run, trust_remote_code=True)
    z = torch.randn(4, G.latent_dim)
    with torch.no_grad():
        assert torch.equal(pipe(latents=z, output_type="pt").images, (G.eval()(z) / 2 + 0.5).clamp(0, 1))


def test_a_pushed_run_loads_with_diffusers_in_a_venv_without_atu(hub, tmp_path):
    """A run saved before the layout existed (examples/mnist-no-8 without its layout files): the push adds it (in a
    staging copy: the local folder is not changed), `hf download` fetches the repo, and a venv where atu cannot be
    imported loads it."""
    example = tmp_path / "old-run"
    shutil.copytree(ROOT / "examples" / "mnist-no-8", example,
                    ignore=shutil.ignore_patterns("model_index.json", "atu_gan_pipeline.py", "gan"))
    before = sorted(p.name for p in example.iterdir())
    token = next(t for t, user in hub.tokens.items() if user == "alice")
    push_run(example, "alice/mnist-no-8", token=token)
    assert {"model_index.json", "atu_gan_pipeline.py", "gan/atu_dcgan.py",
            "gan/diffusion_pytorch_model.safetensors"} <= set(hub.files("alice/mnist-no-8"))
    assert sorted(p.name for p in example.iterdir()) == before

    env_dir = tmp_path / "venv"   # sees this machine's torch / diffusers / huggingface_hub (nothing can be
    venv.create(env_dir, system_site_packages=True, with_pip=False)   # downloaded), not this checkout
    subprocess.run([shutil.which("hf"), "download", "alice/mnist-no-8", "--local-dir", "m"], check=True,
                   cwd=tmp_path, capture_output=True, timeout=120)
    code = ("import importlib.util, torch; assert importlib.util.find_spec('atu') is None, 'atu is importable'; "
            "from diffusers import DiffusionPipeline; "
            "pipe = DiffusionPipeline.from_pretrained('m', trust_remote_code=True); "
            "z = torch.randn(4, 64, generator=torch.Generator().manual_seed(0)); "
            "torch.save(pipe(latents=z, output_type='pt').images, 'images.pt'); "
            "pil = pipe(batch_size=2).images; assert len(pil) == 2 and pil[0].size == (32, 32), pil")
    out = subprocess.run([str(env_dir / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]

    G = atu.load_generator(example).eval()
    z = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "images.pt"), (G(z) / 2 + 0.5).clamp(0, 1))


def test_a_pushed_ddpm_is_diffusers_own_ddim_pipeline_in_a_venv_without_atu(hub, tmp_path):
    """The diffusion family pushes as diffusers' own DDIMPipeline (unet/, scheduler/, model_index.json; no code):
    downloaded with `hf download`, it loads without trust_remote_code where atu cannot be imported, and from the
    same initial noise draws atu's images."""
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from tiny import make_tiny_ddpm_base

    folder, _ = make_tiny_ddpm_base(tmp_path / "base")
    token = next(t for t, user in hub.tokens.items() if user == "alice")
    push_run(folder, "alice/tiny-ddpm", token=token)
    assert {"model_index.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json",
            "model.safetensors", "latent_bank.safetensors"} <= set(hub.files("alice/tiny-ddpm"))
    assert not (folder / "model_index.json").exists()   # staged: the local folder is unchanged

    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    subprocess.run([shutil.which("hf"), "download", "alice/tiny-ddpm", "--local-dir", "m"], check=True,
                   cwd=tmp_path, capture_output=True, timeout=120)
    code = ("import importlib.util, torch; assert importlib.util.find_spec('atu') is None, 'atu is importable'; "
            "from diffusers import DiffusionPipeline; pipe = DiffusionPipeline.from_pretrained('m'); "
            "assert type(pipe).__name__ == 'DDIMPipeline', type(pipe); "
            "out = pipe(batch_size=3, num_inference_steps=2, generator=torch.Generator().manual_seed(0), "
            "output_type='np').images; torch.save(torch.from_numpy(out), 'images.pt')")
    out = subprocess.run([str(env_dir / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]

    G = atu.load_generator(folder).eval()
    z = torch.randn((3, 1, 32, 32), generator=torch.Generator().manual_seed(0)).flatten(1)
    with torch.no_grad():
        want = (G(z) / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
    assert (torch.load(tmp_path / "images.pt") - want).abs().max() < 1e-5
