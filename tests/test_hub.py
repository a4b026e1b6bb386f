"""Publishing on the Hub, for real over HTTP: push_run / `hf download` / atu.load_generator against the in-memory
Hub of tests/hub_server.py on 127.0.0.1 (HF_ENDPOINT is set in conftest.py). huggingface_hub is never patched."""
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import atu
from atu.hub import (CARD_HASH_FILE, PUSH_PATTERNS, HubError, push_run, render_model_card, resolve_token,
                     write_model_card)
from atu.models import CheckpointError, DCGANGenerator

ROOT = Path(__file__).resolve().parents[1]
RECORD = {
    "base_model": "checkpoints/mnist-dcgan", "base_model_sha256": "0f" * 32, "target": 8, "feature": "digit 8",
    "negatives": {"count": 64, "source": "classifier"}, "loss": "el2", "gamma": 10.0, "K": 2,
    "adapt_steps": 200, "unlearn_steps": 1000, "seed": 0, "versions": {"atu": "0.1.0", "torch": torch.__version__},
    "metrics": {"pul": 92.5, "fid_ratio": 1.08, "fid_before": 5.1, "fid_after": 5.5,
                "fid_features": "classifier:digit-cnn-penultimate-128", "collateral": 0.031,
                "neg_rate_before": 0.1, "neg_rate_after": 0.0075},
}
RUN_FILES = {"README.md", "config.json", "model.safetensors", "run.json", "before_after.png"}
# the diffusers pipeline a push adds to every DCGAN (atu.diffusers_layout)
DIFFUSERS_FILES = {"model_index.json", "atu_gan_pipeline.py", "gan/config.json", "gan/atu_dcgan.py",
                   "gan/diffusion_pytorch_model.safetensors"}


def token_of(hub, user: str) -> str:
    return next(t for t, u in hub.tokens.items() if u == user)


def hf_cli() -> list[str]:
    exe = Path(sys.executable).with_name("hf")
    return [str(exe)] if exe.is_file() else [shutil.which("hf") or "hf"]


def make_run(folder: Path, repo_id: str | None = None, seed: int = 0) -> DCGANGenerator:
    torch.manual_seed(seed)
    G = DCGANGenerator(latent_dim=16, width=8).eval()
    G.save_pretrained(folder)  # also writes huggingface_hub's stock README.md, which the atu card replaces
    (folder / "run.json").write_text(json.dumps(RECORD, indent=2))
    Image.new("L", (20, 10), 128).save(folder / "before_after.png")
    write_model_card(folder, RECORD, base_model="alice/dcgan-mnist", repo_id=repo_id)
    return G


def file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_token_nowhere(token: str, *texts: str, folders=()) -> None:
    for text in texts:
        assert token not in text
    for folder in folders:
        for p in Path(folder).rglob("*"):
            assert not p.is_file() or token.encode() not in p.read_bytes(), f"token written into {p}"


@pytest.fixture
def latents():
    return torch.randn(8, 16, generator=torch.Generator().manual_seed(1))


# --------------------------------------------------------------------------------------------------------------
# The round trip


def test_push_then_hf_download_then_load_gives_identical_outputs(hub, tmp_path, latents, capfd, caplog):
    caplog.set_level(logging.DEBUG)  # huggingface_hub's debug logs too: the token must not be in them either
    alice = token_of(hub, "alice")
    run = tmp_path / "run"
    G = make_run(run, repo_id="alice/dcgan-no-8")
    before = file_hashes(run)
    with torch.no_grad():
        expected = G(latents)

    url = push_run(run, "alice/dcgan-no-8", token=alice)
    assert url == f"{hub.url}/alice/dcgan-no-8"
    assert file_hashes(run) == before  # pushing only reads the folder
    remote = hub.files("alice/dcgan-no-8")
    assert set(remote) == RUN_FILES | DIFFUSERS_FILES | {".gitattributes"}  # no .atu_card_sha256, nothing hidden
    assert remote["model.safetensors"] == (run / "model.safetensors").read_bytes()

    # the card on the Hub parses as a model card with the right metadata
    from huggingface_hub import ModelCard

    card = ModelCard.load("alice/dcgan-no-8")
    assert card.data.license == "mit" and card.data.library_name == "atu"
    assert card.data.tags == ["gan", "machine-unlearning", "adapt-then-unlearn", "arxiv:2309.14054"]
    assert card.data.base_model == "alice/dcgan-mnist"
    assert card.data.pipeline_tag == "unconditional-image-generation"
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == {
        "pul": 92.5, "fid_ratio": 1.08, "collateral": 0.031}
    assert "before_after.png" in card.text and "hf download alice/dcgan-no-8" in card.text

    # `hf download` as a user runs it: a real subprocess of the CLI
    dl = tmp_path / "downloaded"
    cli = subprocess.run(hf_cli() + ["download", "alice/dcgan-no-8", "--local-dir", str(dl)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert RUN_FILES <= {p.name for p in dl.iterdir()}
    assert (dl / "model.safetensors").read_bytes() == (run / "model.safetensors").read_bytes()

    with torch.no_grad():
        assert torch.equal(atu.load_generator(dl)(latents), expected)
        assert torch.equal(atu.load_generator("alice/dcgan-no-8")(latents), expected)  # HF_ENDPOINT + cache

    # offline, in a fresh process: the repo id still loads, from the cache, without a single request
    from safetensors.torch import load_file, save_file

    save_file({"z": latents}, tmp_path / "z.safetensors")
    n_requests = len(hub.requests)
    code = ("import sys, torch, atu; from safetensors.torch import load_file, save_file\n"
            "G = atu.load_generator('alice/dcgan-no-8')\n"
            "with torch.no_grad(): save_file({'x': G(load_file(sys.argv[1])['z'])}, sys.argv[2])\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    off = subprocess.run([sys.executable, "-c", code, str(tmp_path / "z.safetensors"), str(tmp_path / "x.safetensors")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert off.returncode == 0, off.stderr
    assert torch.equal(load_file(tmp_path / "x.safetensors")["x"], expected)
    assert len(hub.requests) == n_requests

    out, err = capfd.readouterr()
    assert_token_nowhere(alice, out, err, caplog.text, cli.stdout, cli.stderr, off.stdout, off.stderr,
                         folders=[run, dl, os.environ["HF_HOME"]])


def test_push_again_updates_the_repo(hub, tmp_path, latents):
    alice = token_of(hub, "alice")
    make_run(tmp_path / "a", repo_id="alice/g", seed=0)
    G_b = make_run(tmp_path / "b", repo_id="alice/g", seed=1)
    push_run(tmp_path / "a", "alice/g", token=alice)
    push_run(tmp_path / "a", "alice/g", token=alice)  # nothing changed: no new commit, no error
    assert len(hub.repos["alice/g"].commits) == 2
    push_run(tmp_path / "b", "alice/g", token=alice)
    with torch.no_grad():
        assert torch.equal(atu.load_generator("alice/g")(latents), G_b(latents))


def test_only_safetensors_json_md_png_are_pushed(hub, tmp_path):
    run = tmp_path / "run"
    make_run(run)
    torch.save({"w": torch.zeros(2)}, run / "pytorch_model.bin")  # a pickle: never pushed
    (run / "notes.txt").write_text("private notes")
    (run / "my_script.py").write_text("print('mine')")          # code: only atu's generated files are pushed
    (run / ".cache").mkdir()
    (run / ".cache" / "state.json").write_text("{}")
    push_run(run, "alice/safe-only", token=token_of(hub, "alice"))
    assert set(hub.files("alice/safe-only")) == RUN_FILES | DIFFUSERS_FILES | {".gitattributes"}
    from atu import diffusers_layout as dl
    assert {f"{dl.PIPELINE_MODULE}.py", f"{dl.COMPONENT}/{dl.COMPONENT_MODULE}.py"} <= set(PUSH_PATTERNS)


def test_private_repo_is_hidden_from_others(hub, tmp_path, latents):
    G = make_run(tmp_path / "run")
    push_run(tmp_path / "run", "alice/secret", token=token_of(hub, "alice"), private=True)
    assert hub.repos["alice/secret"].private
    with pytest.raises(CheckpointError, match="no Hub repo alice/secret"):
        atu.load_generator("alice/secret", token=token_of(hub, "bob"))
    with pytest.raises(CheckpointError, match="no Hub repo alice/secret .*and no local folder .*alice/secret"):
        atu.load_generator("alice/secret")  # anonymous; the message also says no such folder (a mistyped path)
    with torch.no_grad():
        assert torch.equal(atu.load_generator("alice/secret", token=token_of(hub, "alice"))(latents), G(latents))


# --------------------------------------------------------------------------------------------------------------
# Errors say what to do, and leave the local folder as it was


def test_no_token_is_a_clear_error(hub, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    make_run(tmp_path / "run")
    with pytest.raises(HubError, match=r"no Hugging Face token: pass --token, set HF_TOKEN or run `hf auth login`"):
        push_run(tmp_path / "run", "alice/x")
    assert not hub.repos and ("POST", "/api/repos/create") not in hub.requests


def test_token_comes_from_argument_then_env_then_hf_auth_login(hub, tmp_path, monkeypatch):
    from huggingface_hub import constants

    alice = token_of(hub, "alice")
    monkeypatch.setenv("HF_TOKEN", "from-env")
    assert resolve_token("from-arg") == "from-arg"
    assert resolve_token(None) == "from-env"
    monkeypatch.delenv("HF_TOKEN")
    login = subprocess.run(hf_cli() + ["auth", "login", "--token", alice], capture_output=True, text=True,
                           timeout=120)  # validates the token against the loopback Hub, stores it in HF_HOME
    try:
        assert login.returncode == 0, login.stderr
        assert resolve_token(None) == alice
        make_run(tmp_path / "run")
        assert push_run(tmp_path / "run", "alice/logged-in").endswith("/alice/logged-in")
    finally:
        subprocess.run(hf_cli() + ["auth", "logout"], capture_output=True, timeout=120)
        Path(constants.HF_TOKEN_PATH).unlink(missing_ok=True)
        Path(constants.HF_STORED_TOKENS_PATH).unlink(missing_ok=True)
    with pytest.raises(HubError, match="no Hugging Face token"):
        resolve_token(None)


def test_invalid_token_is_rejected_and_never_echoed(hub, tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    make_run(tmp_path / "run")
    before = file_hashes(tmp_path / "run")
    bad = "tok-not-a-real-token-9d8e"
    with pytest.raises(HubError, match="token rejected") as e:
        push_run(tmp_path / "run", "alice/x", token=bad)
    assert str(tmp_path / "run") in str(e.value)
    assert file_hashes(tmp_path / "run") == before
    assert "alice/x" not in hub.repos
    out, err = capfd.readouterr()
    assert_token_nowhere(bad, str(e.value), out, err, caplog.text, folders=[tmp_path, os.environ["HF_HOME"]])


def test_cannot_push_into_another_users_repo(hub, tmp_path):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    make_run(tmp_path / "bobs")
    push_run(tmp_path / "bobs", "bob/theirs", token=token_of(hub, "bob"))
    bobs_files = hub.files("bob/theirs")
    make_run(tmp_path / "run", seed=3)
    before = file_hashes(tmp_path / "run")
    with pytest.raises(HubError, match=r"belongs to 'bob', not to 'alice'.*alice/theirs") as e:
        push_run(tmp_path / "run", "bob/theirs", token=token_of(hub, "alice"))
    assert str(tmp_path / "run") in str(e.value)
    assert hub.files("bob/theirs") == bobs_files and file_hashes(tmp_path / "run") == before
    # the server enforces it too, whatever the client checks
    with pytest.raises(HfHubHTTPError) as http:
        HfApi().upload_folder(folder_path=tmp_path / "run", repo_id="bob/theirs", token=token_of(hub, "alice"))
    assert http.value.response.status_code == 403
    assert hub.files("bob/theirs") == bobs_files


def test_server_down_leaves_the_folder_intact(tmp_path, capfd):
    # no `hub` fixture: nothing listens on HF_ENDPOINT's port, so connections are refused
    make_run(tmp_path / "run")
    before = file_hashes(tmp_path / "run")
    with pytest.raises(HubError, match="cannot reach the Hub") as e:
        push_run(tmp_path / "run", "alice/x", token="tok-alice-offline-test")
    assert f"the local folder is intact at {tmp_path / 'run'}" in str(e.value)
    assert file_hashes(tmp_path / "run") == before
    out, err = capfd.readouterr()
    assert_token_nowhere("tok-alice-offline-test", str(e.value), out, err)


def test_invalid_card_metadata_is_refused_by_the_hub(hub, tmp_path):
    run = tmp_path / "run"
    make_run(run)
    (run / "README.md").write_text("---\nlicense: [mit\n---\n# broken front matter\n")
    before = file_hashes(run)
    with pytest.raises(HubError, match="README.md") as e:
        push_run(run, "alice/broken", token=token_of(hub, "alice"))
    assert f"the local folder is intact at {run}" in str(e.value) and file_hashes(run) == before
    assert set(hub.files("alice/broken")) == {".gitattributes"}  # nothing was committed


def test_push_refuses_a_folder_without_safetensors(hub, tmp_path):
    run = tmp_path / "run"
    make_run(run)
    (run / "model.safetensors").unlink()
    with pytest.raises(HubError, match="no model.safetensors"):
        push_run(run, "alice/x", token=token_of(hub, "alice"))
    with pytest.raises(HubError, match="not a folder"):
        push_run(tmp_path / "missing", "alice/x", token=token_of(hub, "alice"))
    assert not hub.repos


@pytest.mark.parametrize("bad", ["../x", "a/b/c", "", "alice/x--y", "alice/-x", "alice/" + "n" * 97])
def test_push_refuses_repo_ids_the_hub_would_refuse(hub, tmp_path, bad):
    run = tmp_path / "run"
    make_run(run)
    with pytest.raises(HubError, match="repo id"):
        push_run(run, bad, token=token_of(hub, "alice"))
    assert not hub.repos


def test_repo_with_only_a_pickle_is_refused(hub, tmp_path):
    from huggingface_hub import HfApi

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    G = DCGANGenerator(latent_dim=16, width=8)
    (legacy / "config.json").write_text(json.dumps(dict(G._hub_mixin_config, family="dcgan", kind="generator")))
    torch.save(G.state_dict(), legacy / "pytorch_model.bin")
    api = HfApi(token=token_of(hub, "alice"))
    api.create_repo("alice/legacy")
    api.upload_folder(folder_path=legacy, repo_id="alice/legacy")
    assert "pytorch_model.bin" in hub.files("alice/legacy")
    with pytest.raises(CheckpointError, match="only safetensors"):
        atu.load_generator("alice/legacy")
    assert not any(path.endswith("pytorch_model.bin") for _, path in hub.requests if "/resolve/" in path)


def test_hub_errors_map_to_huggingface_hub_exceptions(hub, tmp_path):
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import (HfHubHTTPError, RemoteEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    make_run(tmp_path / "run")
    push_run(tmp_path / "run", "alice/g", token=token_of(hub, "alice"))
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/nope", "config.json")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("alice/g", "config.json", revision="v9")
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("alice/g", "nope.json")
    with pytest.raises(HfHubHTTPError, match="Invalid user token"):
        HfApi().whoami(token="tok-bad")
    assert HfApi().whoami(token=token_of(hub, "bob"))["name"] == "bob"
    info = HfApi().model_info("alice/g")
    assert info.sha == hub.repos["alice/g"].commits[-1][0] and len(info.sha) == 40
    assert {s.rfilename for s in info.siblings} == RUN_FILES | DIFFUSERS_FILES | {".gitattributes"}
    assert info.card_data.library_name == "atu"
    first = hub.repos["alice/g"].commits[0][0]  # an old commit is still resolvable by its sha
    assert Path(hf_hub_download("alice/g", ".gitattributes", revision=first)).is_file()


# --------------------------------------------------------------------------------------------------------------
# The model card


def test_card_is_regenerated_but_an_edited_card_is_kept(tmp_path):
    run = tmp_path / "run"
    make_run(run)  # replaced the stock card that save_pretrained wrote, without overwrite=True
    readme = run / "README.md"
    assert readme.read_text() == render_model_card(RECORD, "alice/dcgan-mnist")
    assert (run / CARD_HASH_FILE).is_file()

    updated = dict(RECORD, metrics=dict(RECORD["metrics"], pul=97.0))
    write_model_card(run, updated)  # unchanged since atu wrote it: regenerated silently
    assert "97.0 %" in readme.read_text()

    readme.write_text(readme.read_text() + "\nMy own notes.\n")
    edited = readme.read_text()
    with pytest.raises(HubError, match="overwrite=True"):
        write_model_card(run, RECORD)
    assert readme.read_text() == edited
    write_model_card(run, RECORD, overwrite=True)
    assert "My own notes" not in readme.read_text()

    (run / CARD_HASH_FILE).unlink()  # a README.md atu did not write is kept too
    readme.write_text("# hand-written\n")
    with pytest.raises(HubError, match="overwrite=True"):
        write_model_card(run, RECORD)
    assert readme.read_text() == "# hand-written\n"


def test_card_content():
    text = render_model_card(RECORD, None, repo_id="alice/dcgan-no-8")
    meta = text.split("---")[1]
    assert "base_model" not in meta  # only when the base generator is on the Hub
    for needle in ["license: mit", "library_name: atu", "pipeline_tag: unconditional-image-generation",
                   "arxiv:2309.14054", "model-index"]:
        assert needle in meta
    for needle in ["digit 8", "EL2", "gamma = 10.0", "K = 2", "200 steps", "1000 steps", "64 negative samples",
                   "by a classifier", "92.5 %", "1.080", "0.031", "before_after.png",
                   "hf download alice/dcgan-no-8 --local-dir dcgan-no-8", 'atu.load_generator("dcgan-no-8")',
                   'atu.load_generator("alice/dcgan-no-8")', "@article{", "Tiwary", "Guha", "Panda", "Prathosh",
                   "Transactions on Machine Learning Research", "2309.14054",
                   "Adapt then Unlearn: Exploring Parameter Space Semantics"]:
        assert needle in text, needle
    assert "independent evaluator" not in text   # the record has no second PUL
    both = render_model_card(dict(RECORD, metrics=dict(RECORD["metrics"], pul_independent=88.25,
                                                       evaluator="mnist-classifier-b")), None)
    assert "| PUL, independent | 88.2 % |" in both and "`mnist-classifier-b`" in both
    assert "PUL 92.5 % by the\nclassifier that picked the samples, 88.2 % by the independent evaluator" in both
    assert "PUL, independent (%)" in both.split("---")[1]
    assert "collateral (evaluator)" not in both   # only where the evaluator counted the other classes' mix
    mix = render_model_card(dict(RECORD, metrics=dict(RECORD["metrics"], pul_independent=88.25,
                                                      collateral_independent=0.0421, evaluator="mnist-classifier-b")),
                            None)
    assert "| collateral (evaluator) | 0.042 | the same, counted by `mnist-classifier-b` |" in mix
    ddpm_record = dict(RECORD, family="ddpm", pos_target="base", neg_source="adapted", neg_weight=0.5,
                       redirect_weight=1.0, redirect_states="noised", anchor_weight=3.0, anchor_pool=400,
                       anchor_paths="positives", neg_t=[500, 900], redirect_t=[500, 0])
    gan_record = {k: v for k, v in ddpm_record.items() if k != "family"}   # a GAN's card never tells a DDPM's stage 2
    assert "There is no discriminator" not in render_model_card(gan_record, None)
    ddpm = " ".join(render_model_card(ddpm_record, None).split())
    assert ("There is no discriminator: stage 2 trained on the positives towards the base model's own predictions on "
            "them (distillation), raised the denoising loss on noised samples of the adapted models (weight 0.5, "
            "bounded, at timesteps 500 <= t < 900), taught noised samples of the adapted models to denoise into the "
            "positives near them (weight 1.0, at timesteps t >= 500) and held the base model's own predictions on its "
            "sampler's paths to 400 of the positives (weight 3.0)") in ddpm
    other = " ".join(render_model_card(dict(ddpm_record, neg_weight=0, anchor_weight=0, redirect_states="sampler"),
                                       None).split())
    assert ("(distillation) and taught the states the sampler passes through as the adapted models draw the feature "
            "to denoise") in other and "raised" not in other and "anchor" not in other
    assert "from 400 random noises" in render_model_card(dict(ddpm_record, anchor_paths="any"), None)
    co = render_model_card(dict(RECORD, co_classifiers=["mnist-classifier-c"]), None)   # the MNIST GAN's default
    assert "read it\n   together with `mnist-classifier-c`" in co and "together with" not in text
    assert "the other classes' proportions" in text
    faces = render_model_card(dict(RECORD, metrics=dict(RECORD["metrics"], other_feature_rate_change={"x": 0.01})),
                              None)
    assert "another feature's rate" in faces and "other classes' proportions" not in faces
    missing = dict(RECORD, metrics={"pul": float("nan")})
    assert "n/a" in render_model_card(missing, None) and "model-index" not in render_model_card(missing, None)


def test_card_links_only_to_what_exists(monkeypatch):
    """"Made with atu" links to the Space the card was made in (or $ATU_PROJECT_URL), otherwise to nothing."""
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("ATU_PROJECT_URL", raising=False)
    assert "Made with atu." in render_model_card(RECORD, None) and "github.com" not in render_model_card(RECORD, None)
    monkeypatch.setenv("SPACE_ID", "alice/atu")
    assert "Made with [atu](https://huggingface.co/spaces/alice/atu)." in render_model_card(RECORD, None)
    assert 'pip install "atu @ git+https://huggingface.co/spaces/alice/atu"' in render_model_card(RECORD, None)
    monkeypatch.setenv("ATU_PROJECT_URL", "https://example.org/atu")
    assert "Made with [atu](https://example.org/atu)." in render_model_card(RECORD, None)
    with pytest.raises(HubError, match="run record"):
        render_model_card({"metrics": {}}, None)


def test_cli_pushes_a_real_engine_run_and_hf_download_loads_it(hub, tmp_path):
    """`python -m atu push` on a run folder written by the engine (tiny models), then `hf download` + load."""
    from atu.adapt import AdaptConfig
    from atu.pipeline import RunConfig, run_unlearning, save_run
    from atu.unlearn import UnlearnConfig
    from tiny import make_tiny_base

    gan, clf = make_tiny_base(tmp_path / "base")
    cfg = RunConfig(model=str(gan), classifier=str(clf), target=4, n_negatives=6, eval_latents=400,
                    adapt=AdaptConfig(K=1, steps=2, batch_size=8, fisher_samples=2),
                    unlearn=UnlearnConfig(steps=2, batch_size=8, n_positives=20, eval_every=1, eval_latents=20))
    result = save_run(run_unlearning(cfg), tmp_path / "run")
    token = token_of(hub, "alice")
    env = dict(os.environ, HF_TOKEN=token)
    out = subprocess.run([sys.executable, "-m", "atu", "push", str(result), "--repo-id", "alice/tiny-no-4"],
                         capture_output=True, text=True, env=env, timeout=120, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("alice/tiny-no-4") and token not in out.stdout + out.stderr
    card = (result / "README.md").read_text()
    assert "alice/tiny-no-4" in card and "machine-unlearning" in card
    dl = tmp_path / "dl"
    got = subprocess.run([*hf_cli(), "download", "alice/tiny-no-4", "--local-dir", str(dl)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    G = atu.load_generator(result)
    assert torch.equal(atu.load_generator(dl)(z), G(z))
    assert json.loads((dl / "run.json").read_text())["loss"] == "el2"
    bad = subprocess.run([sys.executable, "-m", "atu", "push", str(result), "--repo-id", "alice/x"],
                         capture_output=True, text=True, env=dict(env, HF_TOKEN="wrong-token"), timeout=120,
                         cwd=Path(__file__).parents[1])
    assert bad.returncode == 2 and "token" in bad.stderr.lower() and "wrong-token" not in bad.stderr


def test_base_model_lineage_on_the_loopback_hub(hub, tmp_path):
    """`atu push` publishes a base-model folder (generator, discriminator, latent bank, card) and records where it
    went; a run from that folder, or from its repo id, names it in its card's metadata (base_model, relation
    finetune); a run from a base that never was on the Hub says so and claims no lineage."""
    import dataclasses

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny import make_tiny_base

    from atu.adapt import AdaptConfig
    from atu.cli import main
    from atu.pipeline import RunConfig, run_unlearning, save_run
    from atu.unlearn import UnlearnConfig

    gan, clf = make_tiny_base(tmp_path / "local")
    cfg = RunConfig(model=str(gan), classifier=str(clf), evaluator="", target=4, n_negatives=6, eval_latents=400,
                    adapt=AdaptConfig(K=1, steps=3, batch_size=4, fisher_samples=2),
                    unlearn=UnlearnConfig(steps=3, batch_size=4, n_positives=20, eval_every=1, eval_latents=20))
    save_run(run_unlearning(cfg), tmp_path / "run0")
    card = (tmp_path / "run0" / "README.md").read_text()
    assert "base_model" not in card.split("---")[1] and "not on the Hub" in card

    assert main(["push", str(gan), "--repo-id", "alice/tiny-base", "--token", token_of(hub, "alice")]) == 0
    assert json.loads((gan / "hub.json").read_text()) == {"repo_id": "alice/tiny-base"}
    assert {"model.safetensors", "config.json", "latent_bank.safetensors", "discriminator/model.safetensors",
            "README.md"} <= set(hub.files("alice/tiny-base"))

    for model, name in ((str(gan), "run1"), ("alice/tiny-base", "run2")):   # the pushed folder, the repo id
        save_run(run_unlearning(dataclasses.replace(cfg, model=model)), tmp_path / name)
        card = (tmp_path / name / "README.md").read_text()
        meta = card.split("---")[1]
        assert "base_model: alice/tiny-base" in meta and "base_model_relation: finetune" in meta, meta
        assert f"[`alice/tiny-base`]({hub.url}/alice/tiny-base) (weights sha256" in card and ", on the Hub" in card
        assert json.loads((tmp_path / name / "run.json").read_text())["base_model_repo"] == "alice/tiny-base"
    rc = json.loads((tmp_path / "run2" / "run_config.json").read_text())
    assert rc["base_repo"] == "alice/tiny-base" and not rc["model"].startswith("/")   # never a cache path
