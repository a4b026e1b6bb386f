"""The app: its session functions on tiny inputs, its handlers, and the launched app driven over HTTP with
gradio_client through a complete fast run (classifier picks + an upload, run, metrics, download, push)."""
import dataclasses
import json
import zipfile
from pathlib import Path

import gradio as gr
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image, ImageDraw

import app
from atu import catalog, session
from atu.data import image_to_tensor
from atu.metrics import classify
from atu.models import load_generator


# --- session functions -----------------------------------------------------------------------------------------

def test_toggle_adds_then_removes():
    x = torch.zeros(1, 32, 32)
    one = session.toggle({}, "sample 0/3", x)
    assert list(one) == ["sample 0/3"] and session.toggle(one, "sample 0/3", x) == {}


def test_image_to_tensor_converts_resizes_and_inverts_light_backgrounds():
    white = Image.new("RGB", (100, 80), (255, 255, 255))
    white.paste((0, 0, 0), (40, 30, 60, 50))            # a black blob on white, like a pen drawing
    x, note = image_to_tensor(white, (1, 32, 32))
    assert x.shape == (1, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert "converted RGB to L" in note and "resized 100x80 to 32x32" in note and "inverted" in note
    assert x[0, 0, 0] == -1 and x[0, 16, 16] > 0.9    # background black, blob white: like the generator's digits
    rgb, note = image_to_tensor(Image.new("RGB", (64, 64), (200, 10, 10)), (3, 64, 64))
    assert rgb.shape == (3, 64, 64) and note == "" and abs(float(rgb[0, 0, 0]) - (200 / 255 * 2 - 1)) < 1e-6


def _drawing(path, size=28):
    """A white stroke on black, like a digit."""
    img = Image.new("L", (size, size), 0)
    ImageDraw.Draw(img).ellipse((size // 4, size // 6, 3 * size // 4, 5 * size // 6), outline=255, width=3)
    img.save(path)
    return path


def test_add_uploads_skips_non_images_and_blank_ones_and_refuses_when_none_is_usable(tmp_path):
    png, txt, blank, dot = tmp_path / "eight.png", tmp_path / "notes.txt", tmp_path / "white.png", tmp_path / "dot.png"
    _drawing(png)
    txt.write_text("not an image")
    Image.new("L", (28, 28), 255).save(blank)             # blank white: black after inverting, shows nothing
    Image.new("RGB", (1, 1), (255, 255, 255)).save(dot)   # a 1x1 white PNG: the same after resizing
    negs, notes = session.add_uploads({}, [str(png), str(txt), str(blank), str(dot)], (1, 32, 32))
    assert list(negs) == ["upload 1: eight.png"] and negs["upload 1: eight.png"].shape == (1, 32, 32)
    assert any("notes.txt: not an image" in n for n in notes)
    assert any("white.png: blank" in n for n in notes) and any("dot.png: blank" in n for n in notes)
    with pytest.raises(ValueError, match="none of the uploaded files is a usable image"):
        session.add_uploads(negs, [str(txt), str(dot)], (1, 32, 32))


def test_run_config_from_preset_and_overrides():
    m = catalog.get("mnist-dcgan")
    cfg = session.run_config(m, "digit 4", "fast", "nl2", 2.0, K=None, adapt_steps=40, unlearn_steps=None, seed=3)
    fast = session.PRESETS["fast"]
    assert cfg.target == 4 and cfg.unlearn.loss == "nl2" and cfg.unlearn.gamma == 2.0 and cfg.seed == 3
    assert cfg.adapt.K == fast["K"] and cfg.adapt.steps == 40 and cfg.unlearn.steps == fast["unlearn_steps"]
    # both presets train stage 2 at the CLI's (UnlearnConfig's) default batch, 16; fast measures on fewer latents
    assert cfg.unlearn.batch_size == fast["unlearn_batch"] == 16
    assert session.run_config(m, "digit 4", "standard").unlearn.batch_size == session.UnlearnConfig().batch_size
    # the MNIST GAN's training paths read the co-classifier beside the classifier; the DDPM's and the faces' do not
    from atu.pipeline import co_classifier_paths
    assert [p.name for p in co_classifier_paths(cfg)] == ["mnist-classifier-c"]
    assert co_classifier_paths(session.run_config(catalog.get("mnist-ddpm"), "digit 4")) == []
    assert co_classifier_paths(session.run_config(catalog.get("faces-dcgan64"), "eyeglasses")) == []
    from atu.models import ClassifierEnsemble   # "let the classifier pick" reads what a run reads
    assert isinstance(app._classifier("mnist-dcgan", "digit 4"), ClassifierEnsemble)
    assert not isinstance(app._classifier("mnist-ddpm", "digit 4"), ClassifierEnsemble)
    with pytest.raises(ValueError, match="no feature 'digit 11'"):
        session.run_config(m, "digit 11")
    with pytest.raises(ValueError, match="no base model 'nope'"):
        catalog.get("nope")


def test_model_options_are_offered_per_model_and_reach_the_run():
    """A base model's measured options (the MNIST GAN's class keep): offered only where the model has them, off by
    default, set in the RunConfig when ticked, refused by name elsewhere; the card says the keep was on."""
    m, keep = catalog.get("mnist-dcgan"), catalog.KEEP_OTHER_DIGITS
    box = app.model_options({"model": "mnist-dcgan"})
    assert box.choices == [(keep, keep)] and box.value == [] and box.visible
    assert not app.model_options({"model": "faces-dcgan64"}).visible and not app.model_options({}).visible
    assert session.run_config(m, "digit 8").unlearn.keep_weight == 0.0
    cfg = session.run_config(m, "digit 8", options=[keep])
    assert cfg.unlearn.keep_weight == 0.3 and cfg.unlearn.guide_weight == session.UnlearnConfig().guide_weight
    with pytest.raises(ValueError, match="has no option"):
        session.run_config(catalog.get("faces-dcgan64"), "eyeglasses", options=[keep])
    from atu.hub import render_model_card
    from test_hub import RECORD
    assert "class keep (weight 0.3)" in render_model_card(dict(RECORD, keep_weight=0.3), None)
    assert "class keep" not in render_model_card(RECORD, None)


def test_progress_rows_put_both_stages_on_one_axis():
    cfg = session.run_config(catalog.get("mnist-dcgan"), "digit 8", K=2, adapt_steps=10, unlearn_steps=20)
    history = [
        {"stage": "adapt", "model": 1, "step": 10, "d_loss": 1.0, "ewc": 0.5, "neg_rate": 0.4},
        {"stage": "adapt", "model": 2, "step": 5, "d_loss": 0.9},
        {"stage": "unlearn", "step": 20, "d_loss": 1.2, "repulsion": 3.0, "d_neg": 0.7, "neg_rate": 0.05},
        {"stage": "metrics", "step": 1, "total": 1, "pul": 50.0},
    ]
    losses, rates = session.progress_rows(history, cfg)
    assert [(r["step"], r["series"]) for r in losses] == [
        (10, "1: d_loss"), (10, "1: ewc"), (15, "1: d_loss"),
        (40, "2: d_loss"), (40, "2: repulsion"), (40, "2: d_neg")]
    assert rates == [{"step": 10, "value": 0.4, "series": "adapted model"},
                     {"step": 40, "value": 0.05, "series": "unlearned G (EMA)"}]
    frac, text = session.describe(history[2], cfg)
    assert frac == 40 / 45 and "stage 2" in text and "0.050" in text

    # every series a real run draws is named before it starts (the app's plots hold them all from the first update:
    # Gradio's LinePlot never draws a series that appears after its first draw), and the app's data carry them
    example = json.loads(Path("examples/mnist-no-8/history.json").read_text())
    cfg8 = session.run_config(catalog.get("mnist-dcgan"), "digit 8", "standard")
    names = session.plot_series(cfg8)
    assert {r["series"] for r in session.progress_rows(example, cfg8)[0]} == set(names[0])
    first = app._plots(example[:1], cfg8, names)   # stage 1's first event: stage 2's series are already there, empty
    assert set(first[0]["series"]) == set(names[0]) and first[0]["value"].isna().sum() == len(names[0])
    assert set(first[1]["series"]) == {"adapted model", "unlearned G (EMA)"}
    assert "2: d_neg" not in session.plot_series(session.apply_overrides(cfg8, {"unlearn.neg_weight": 0.0}))[0]
    assert "2: guide" in names[0]
    assert "2: guide" not in session.plot_series(session.apply_overrides(cfg8, {"unlearn.guide_weight": 0.0}))[0]
    # a result cleared (another model or feature) leaves the plots None, not empty: only from None does Gradio's
    # LinePlot pick the next run's series again
    assert app._no_results()[1:3] == (None, None)

    # latent steering has no stage 1: its steps start the axis, its loss is the regression to the steered base
    cfg = session.run_config(catalog.get("mnist-dcgan"), "digit 8", unlearn_steps=20, method="latent")
    assert cfg.method == "latent" and cfg.latent.steps == 20
    losses, rates = session.progress_rows([{"stage": "unlearn", "step": 5, "latent_mse": 0.1, "neg_rate": 0.2}], cfg)
    assert losses == [{"step": 5, "value": 0.1, "series": "steering: latent_mse"}] and rates[0]["step"] == 5
    frac, text = session.describe({"stage": "unlearn", "step": 5}, cfg)
    assert frac == 5 / 25 and text.startswith("latent steering")
    with pytest.raises(ValueError, match="method must be"):
        session.run_config(catalog.get("mnist-dcgan"), "digit 8", method="magic")


# --- handlers --------------------------------------------------------------------------------------------------

def _select(index):
    return gr.SelectData(None, {"index": index, "value": None, "selected": True})


def test_gallery_clicks_toggle_negatives_and_chosen_clicks_remove():
    _, st, gallery, count, chosen, seed, *results = app.choose_model("mnist-dcgan", app.new_state())
    assert len(results) == app.N_RESULTS
    assert len(gallery) == app.N_SAMPLES and "0 negatives" in count and chosen == [] and seed == 0
    for i in (1, 5, 9):
        st, gallery, chosen, count = app.click_sample(st, _select(i))
    assert "3 negatives" in count and "at least 4" in count and gallery[5][1] == "✓ negative"
    st, gallery, chosen, count = app.click_sample(st, _select(5))            # second click: unchosen
    assert list(st["negatives"]) == ["sample 0/1", "sample 0/9"] and gallery[5][1] == "#5"
    st, gallery, count, seed = app.new_samples(st, 1)                        # new samples keep the choice
    assert seed == 1 and len(st["negatives"]) == 2 and all(c.startswith("#") for _, c in gallery)
    st, gallery, chosen, count = app.click_chosen(st, _select(0))
    assert list(st["negatives"]) == ["sample 0/9"] and [c for _, c in chosen] == ["sample 0/9"]


def _skipped(out) -> bool:
    return isinstance(out, dict) and out.get("__type__") == "update" and len(out) == 1


def test_bad_input_is_a_message_that_leaves_every_output_alone(tmp_path):
    """A user's mistake is a toast (gr.Warning: a UserWarning outside a running app) and, where the event has a
    status line, a line there; every other output is left as it was (gr.skip), never put in an error state."""
    st = app.new_state()
    with pytest.warns(UserWarning, match="choose a base model"):
        assert all(_skipped(o) for o in app.new_samples(st, 0))
    _, st, *_ = app.choose_model("mnist-dcgan", st)
    txt = tmp_path / "x.txt"
    txt.write_text("hello")
    with pytest.warns(UserWarning, match="none of the uploaded files is a usable image"):
        out = app.upload(st, [str(txt)])
    assert all(_skipped(o) for o in out[:4]) and out[4] is None      # the rejected file leaves the upload box
    png = _drawing(tmp_path / "ok.png")
    st2, gallery, chosen, count, box = app.upload(st, [str(png)])
    assert "1 negatives chosen" in count and box is None and len(gallery) == app.N_SAMPLES
    with pytest.warns(UserWarning, match="no base model 'gone'"):
        assert all(_skipped(o) for o in app.choose_model("gone", st))
    with pytest.warns(UserWarning, match="run the unlearning first"):
        assert "run the unlearning first" in app.push(st, "alice/x", "tok", True)
    with pytest.warns(UserWarning, match="0 negatives chosen"):
        out = list(app.run(st, "digit 8", "fast", "el2", 1.0, 1, 10, 10, 0, "adapt-then-unlearn", [], gr.Request()))
    assert len(out) == 1 and "0 negatives chosen" in out[0][0] and all(_skipped(o) for o in out[0][1:])


def test_switching_model_or_feature_clears_the_previous_results():
    st = {**app.new_state(), "run": "/somewhere/run-1/model", "cfg": object()}
    out = app.choose_model("faces-dcgan64", st)
    st2, results = out[1], out[6:]
    assert st2["run"] is None and st2["cfg"] is None and st2["model"] == "faces-dcgan64"
    status, losses, rates, before, after, table, download, extra_img, extra_txt, url = results
    assert status == "" and losses is None and rates is None and table is None and extra_img is None and url == ""
    assert before.value is None and after.value is None and download.visible is False
    st3, *results = app.choose_feature({**st2, "run": "/somewhere/run-2/model"})
    assert st3["run"] is None and len(results) == app.N_RESULTS


def test_run_queue_is_first_come_first_served_with_positions():
    q = session.RunQueue()
    q.join("a")
    assert q.try_start("a") and q.state("a") == "running" and q.ahead("a") == 0
    q.join("b"), q.join("c")
    assert (q.ahead("b"), q.ahead("c")) == (1, 2) and not q.try_start("b") and not q.try_start("c")
    q.leave("a")
    assert not q.try_start("c") and q.try_start("b") and q.ahead("c") == 1   # c stays behind b
    q.leave("c")                                                              # c's user pressed Stop while waiting
    assert q.state("c") is None and q.ahead("b") == 0
    q.leave("b")
    assert q.active is None and q.state("b") is None
    q.join("s#1"), q.join("s#2")                          # the app's keys: one per run, "<session>#<n>"
    assert q.state("s") == "running" if q.try_start("s#1") else False
    assert not q.try_start("s#2") and q.ahead("s#2") == 1  # a session's second run waits for its first


def test_download_name_and_thumbnail_files(tmp_path):
    assert session.download_name("mnist-dcgan", "digit 8") == "atu-mnist-dcgan-no-8"
    assert session.download_name("faces-dcgan64", "eyeglasses") == "atu-faces-dcgan64-no-eyeglasses"
    assert session.download_name("faces-dcgan64", session.CUSTOM) == "atu-faces-dcgan64-no-custom-feature"
    x = torch.zeros(1, 32, 32)
    a = session.thumbnail_file(x, tmp_path)
    mtime = (tmp_path / a).stat().st_mtime_ns
    assert session.thumbnail_file(x.clone(), tmp_path) == a and (tmp_path / a).stat().st_mtime_ns == mtime
    assert session.thumbnail_file(x + 1, tmp_path) != a                 # another image, another file
    assert Image.open(a).size == (96, 96) and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_latent_steering_needs_no_negatives_and_is_given_none(monkeypatch):
    """The paper's method refuses fewer than 4 negatives; latent steering on a catalogued feature starts with none
    (the classifier defines the feature) and is handed none, so its card never claims the clicks were used.
    app.train is replaced by a recorder: nothing is trained here."""
    seen = []

    def recorder(cfg, negatives, source, folder, key):
        seen.append((cfg.method, negatives, source))
        raise ValueError("recorded")   # ends the run as an engine error would

    monkeypatch.setattr(app, "train", recorder)
    _, st, *_ = app.choose_model("faces-dcgan64", app.new_state())
    st, *_ = app.click_sample(st, _select(0))
    args = ("fast", "el2", 1.0, 2, 150, 300, 0)
    with pytest.warns(UserWarning, match="1 negatives chosen"):
        list(app.run(st, "eyeglasses", *args, "adapt-then-unlearn", [], gr.Request()))
    with pytest.warns(UserWarning, match="recorded"):
        out = list(app.run(st, "eyeglasses", *args, "latent", [], gr.Request()))
    assert out[-1][0] == "**recorded**" and app.RUNS.active is None   # the slot is given back after an error
    assert seen == [("latent", None, "classifier")]


# --- the launched app over HTTP --------------------------------------------------------------------------------

def _path(out):
    return out if isinstance(out, str) else (out or {}).get("path") or (out or {}).get("value")


def test_full_fast_run_over_http(served, hub, tmp_path):
    """A user's whole path through the API: model, negatives (classifier + upload), run with the fast preset,
    metrics, before/after, extrapolation, download, push; a second session sees none of it."""
    c = Client(served, verbose=False)
    c.predict("mnist-dcgan", api_name="/choose_model")
    c.predict("digit 8", 8, 0, api_name="/pick")
    png = tmp_path / "my-eight.png"
    _drawing(png)                                         # a drawn stroke, uploaded beside the classifier's picks
    c.predict([handle_file(str(png))], api_name="/upload")
    K, a, u = 1, 60, 200   # shorter than the fast preset (150 + 600 steps): the API path, not the method, is tested
    status, loss_df, rate_df, before, after, table, download = c.predict(
        "digit 8", "fast", "el2", 1.0, K, a, u, 0, "adapt-then-unlearn", api_name="/run")
    assert status.startswith("Done in"), status
    rows = {r[0]: r[1] for r in table["data"]}
    assert set(rows) >= {"PUL", "FID ratio", "collateral damage", "negative rate"}
    pul = float(rows["PUL"].split()[0])
    assert pul > 20, rows                                 # even 200 stage-2 steps remove a good share of the 8s
    assert _path(before).endswith(".png") and _path(after).endswith(".png")
    series = {r[2] for r in rate_df["data"]}
    assert series == {"adapted model", "unlearned G (EMA)"}, series

    with zipfile.ZipFile(_path(download)) as z:
        names = set(z.namelist())
        assert {"model.safetensors", "config.json", "README.md", "metrics.json", "before_after.png"} <= names
        z.extractall(tmp_path / "unzipped")
    G = load_generator(tmp_path / "unzipped")
    assert G(torch.randn(2, G.latent_dim)).shape == (2, 1, 32, 32)

    img, text = c.predict(2.0, api_name="/extrapolate")
    assert _path(img).endswith(".png") and text.startswith("g = 2.00: negative rate") and "FID ratio" in text

    assert Path(_path(download)).name == "atu-mnist-dcgan-no-8.zip"
    msg = c.predict("alice/mnist-no-8", "wrong-token", True, api_name="/push")
    assert "token rejected" in msg and "Pushed" not in msg and "wrong-token" not in msg   # the token is never echoed
    assert "/tmp" not in msg and "atu-session" not in msg and "this session's run" in msg   # no server path
    token = next(t for t, user in hub.tokens.items() if user == "alice")
    msg = c.predict("alice/mnist-no-8", token, True, api_name="/push")
    assert f"{hub.url}/alice/mnist-no-8" in msg and token not in msg
    assert "model.safetensors" in hub.files("alice/mnist-no-8")

    other = Client(served, verbose=False)                 # another browser session: its own empty state
    other.predict("mnist-dcgan", api_name="/choose_model")
    status, *_ = other.predict("digit 8", "fast", "el2", 1.0, K, a, u, 0, "adapt-then-unlearn", api_name="/run")
    assert "0 negatives chosen" in status


def test_stop_cancels_a_run_and_saves_nothing(tmp_path):
    """The Stop flag ends the worker at its next logged step; the run folder is not written."""
    import threading

    from atu.train import Cancelled

    cfg = session.run_config(catalog.get("mnist-dcgan"), "digit 8", K=1, adapt_steps=40, unlearn_steps=40)
    negatives = torch.rand(4, 1, 32, 32) * 2 - 1
    cancel, seen = threading.Event(), []
    with pytest.raises(Cancelled, match="stopped by the user"):
        for e in session.run_and_save(cfg, negatives, "upload", tmp_path / "run", cancel):
            seen.append(e)
            cancel.set()
    assert seen[0]["stage"] == "adapt" and len(seen) <= 2   # at most one event already queued
    assert not (tmp_path / "run" / "model").exists() and not (tmp_path / "run" / session.THETA_FILE).exists()


def test_faces_model_offers_its_features_and_a_custom_one(tmp_path):
    """The face generator is in the app with eyeglasses, headwear and a feature taught by clicks; a custom run's
    classifier is trained from the selected vs shown-not-selected samples and saved beside the run."""
    feats, st, gallery, count, chosen, seed, *_ = app.choose_model("faces-dcgan64", app.new_state())
    assert feats.choices and [c[0] for c in feats.choices] == ["eyeglasses", "headwear", session.CUSTOM]
    assert len(gallery) == app.N_SAMPLES and len(st["shown"]) == app.N_SAMPLES
    for i in (0, 3, 7, 11, 20):
        st, *_ = app.click_sample(st, _select(i))
    with pytest.warns(UserWarning, match="no classifier knows a custom feature"):
        app.classifier_pick(st, session.CUSTOM, 8, 0)
    cfg, n = session.custom_run_config(catalog.get("faces-dcgan64"), tmp_path, st["negatives"], st["shown"])
    assert n == {"selected": 5, "not_selected": app.N_SAMPLES - 5} and cfg.target == 1
    assert cfg.classifier == str(tmp_path / "feedback-classifier") and cfg.unlearn.batch_size == 16
    assert cfg.method == "latent"                       # the faces' default, for a custom feature too
    assert app.apply_preset("fast", st)[0] == "latent"
    assert app.apply_preset("fast", {"model": "mnist-dcgan"})[0] == "adapt-then-unlearn"
    from atu.models import load_model
    C = load_model(cfg.classifier, kind="classifier")
    assert C.attribute == "custom"
    assert classify(C, session.stack(st["negatives"])).float().mean() >= 0.8   # it learned the clicks


def test_cli_base_feature_preset_is_the_apps_run(capsys):
    """`python -m atu unlearn --base B --feature F --preset P` resolves to exactly the config the app runs for
    B, F, P (atu.session.run_config); options given beside them still win; a missing feature is an error."""
    import json

    from atu.cli import main

    def resolved(args):
        assert main(["unlearn", *args, "--dry-run"]) == 0
        return json.JSONDecoder().raw_decode(capsys.readouterr().out)[0]

    for base, feature, preset in (("faces-dcgan64", "headwear", "fast"), ("mnist-dcgan", "digit 3", "standard"),
                                  ("mnist-ddpm", "digit 8", "fast")):
        app_cfg = dataclasses.asdict(session.run_config(catalog.get(base), feature, preset))
        assert resolved(["--base", base, "--feature", feature, "--preset", preset]) == app_cfg
    cfg = resolved(["--base", "faces-dcgan64", "--feature", "eyeglasses", "--latent.steps", "12", "--seed", "4"])
    assert cfg["latent"]["steps"] == 12 and cfg["seed"] == 4 and cfg["method"] == "latent"
    assert cfg["unlearn"]["g_frozen"] == "net.9,net.10,net.12"          # the catalog's settings come along
    assert main(["unlearn", "--base", "faces-dcgan64", "--dry-run"]) == 2
    assert "needs --feature" in capsys.readouterr().err


def test_the_diffusion_model_is_offered_with_its_own_settings():
    """checkpoints/mnist-ddpm (issue #17) is a model like the others: its gallery is its own samples, its preset
    its catalog entry's (batch 16, a pool of 128 adapted samples, 500 positives, metrics on 1,000 latents). The
    standard preset (the CLI's and the bench's) holds the anchor on the base's paths to 400 of stage 2's positives;
    the fast one leaves it out, to stay within 10 minutes (a preset's "stage.field" beats the model's run_overrides)."""
    _, st, gallery, count, chosen, seed, *results = app.choose_model("mnist-ddpm", app.new_state())
    assert st["model"] == "mnist-ddpm" and len(gallery) == app.N_SAMPLES and "0 negatives" in count
    cfg = session.run_config(catalog.get("mnist-ddpm"), "digit 8", "fast")
    assert (cfg.unlearn.batch_size, cfg.unlearn.neg_pool, cfg.unlearn.n_positives, cfg.eval_latents) == (16, 128, 500,
                                                                                                         1000)
    assert cfg.unlearn.anchor_weight == 0.0 and cfg.unlearn.redirect_weight == 1.0   # the rest of the recipe stays
    std = session.run_config(catalog.get("mnist-ddpm"), "digit 8", "standard")
    assert (std.unlearn.anchor_weight, std.unlearn.anchor_pool, std.unlearn.anchor_paths) == (1.0, 400, "positives")
    assert dataclasses.replace(std, eval_latents=cfg.eval_latents,
                               unlearn=dataclasses.replace(std.unlearn, anchor_weight=0.0)) == cfg
    # its measured option (session 39) is the bench's "-hold": the anchor at 3, the negative terms below t = 900
    hold = catalog.HOLD_OTHER_DIGITS
    box = app.model_options({"model": "mnist-ddpm"})
    assert box.choices == [(hold, hold)] and box.value == [] and box.visible
    held = session.run_config(catalog.get("mnist-ddpm"), "digit 8", "standard", options=[hold])
    assert (held.unlearn.anchor_weight, held.unlearn.neg_t_max, held.unlearn.redirect_t_max) == (3.0, 900, 900)
    from atu.bench import method_config
    assert method_config(std, "el2-hold") == held
    assert cfg.model.endswith("checkpoints/mnist-ddpm") and cfg.method == "adapt-then-unlearn"
