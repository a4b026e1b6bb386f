"""A Hub user loads a downloaded model without cloning this repo: the wheel (atu/ and its card templates, no
checkpoints) installs into a fresh venv, `hf download` fetches a pushed run from the loopback Hub, and the venv's
atu loads it and draws the same images as this checkout."""
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import torch

import atu
from atu.hub import push_run

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_in_a_fresh_venv_loads_a_model_downloaded_with_hf(hub, tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels)], check=True, cwd=tmp_path, timeout=300)
    shutil.rmtree(ROOT / "build", ignore_errors=True)          # setuptools' scratch folder in the checkout
    (wheel,) = wheels.glob("atu-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "atu/templates/unlearned.md" in names and "atu/models.py" in names
    assert not any(n.startswith(("checkpoints/", "tests/", "examples/")) or n == "app.py" for n in names), names

    # a venv that sees this machine's packages (torch is 1 GB; nothing can be downloaded) but not this checkout:
    # pip installs the wheel and checks its declared dependencies against what is installed
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-index", "-q", str(wheel)],
                   check=True, cwd=tmp_path, timeout=300)

    token = next(t for t, user in hub.tokens.items() if user == "alice")
    push_run(ROOT / "examples/mnist-no-8", "alice/mnist-no-8", token=token)
    subprocess.run([shutil.which("hf"), "download", "alice/mnist-no-8", "--local-dir", "mnist-no-8"], check=True,
                   cwd=tmp_path, capture_output=True, timeout=120)
    code = ("import atu, torch; assert 'venv' in atu.__file__, atu.__file__; G = atu.load_generator('mnist-no-8'); "
            "z = torch.randn(4, G.latent_dim, generator=torch.Generator().manual_seed(0)); "
            "torch.save(atu.generate(G, z), 'images.pt')")
    out = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]

    G = atu.load_generator(ROOT / "examples/mnist-no-8")
    z = torch.randn(4, G.latent_dim, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.load(tmp_path / "images.pt"), atu.generate(G, z))
