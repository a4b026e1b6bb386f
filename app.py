"""atu's Gradio app: make a pre-trained GAN forget a feature, with evidence.

Layout and wiring only: every step is a function in atu/ (atu.session, atu.pipeline, atu.hub) shared with the
CLI. Each browser session keeps its own negatives, run folder and outputs (gr.State); training runs in the
queue one at a time (two runs on 2 cores would slow each other down several-fold).

    python app.py     # http://127.0.0.1:7860; on a Space, launch() reads GRADIO_SERVER_NAME/PORT (0.0.0.0:7860)
"""
from __future__ import annotations

import atexit
import functools
import itertools
import inspect
import shutil
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

import gradio as gr
import pandas as pd
import spaces

from atu import catalog, session
from atu.hub import check_repo_id, HubError, push_run, refresh_card
from atu.losses import REPULSIONS
from atu.models import CheckpointError, load_generator, load_model
from atu.pipeline import with_co_classifiers
from atu.sampling import load_latent_bank, make_latent_bank
from atu.train import Cancelled

N_SAMPLES = 30          # gallery size (3 rows of 10)
CANCEL: dict[str, threading.Event] = {}   # session hash -> its Stop flag (a Stop click must reach a running job)
RUNS = session.RunQueue()                 # one run at a time, in arrival order, positions shown in the status line
_RUN_IDS = itertools.count(1)
THUMBS = tempfile.mkdtemp(prefix="atu-thumbs-")   # gallery thumbnails, one file per content (session.thumbnail_file)
atexit.register(shutil.rmtree, THUMBS, True)

INTRO = """# atu: make a pre-trained GAN forget
**Adapt-then-Unlearn** without the training data: show the generator a few samples of what it must stop
making (*negatives*), it adapts copies of itself to them (stage 1), then fine-tunes the original on samples
without the feature while pushing its parameters away from the adapted copies (stage 2). **Latent steering**
(the faces' default) needs no negatives: the feature's classifier finds its direction in latent space, and the
generator learns to draw what it drew without it (a custom feature still comes from your clicks).
1 pick a model and the feature, 2 choose negatives (4 or more for adapt-then-unlearn), 3 run, 4 compare, keep."""

# The chosen-negatives strip: fixed 84 px thumbnails in rows that scroll (Gradio's gallery gives each of 1-2 items
# the strip's whole width, cropped, and hides the overflow of many). In the page itself, so that every launch()
# (a Space, python app.py, the tests) gets it.
STYLE = """<style>
#chosen .grid-container { grid-template-columns: repeat(auto-fill, 84px) !important; grid-auto-rows: 84px; }
#chosen .thumbnail-item { width: 84px; height: 84px; }
#chosen .grid-wrap { overflow-y: auto !important; scrollbar-width: thin; scrollbar-color: #888 transparent; }
#chosen .caption-label { font-size: 10px; padding: 0 3px; }
</style>"""


# --- a user's mistake is a message, never a broken page ----------------------------------------------------------

def user_errors(n_outputs: int, status: int | None = None):
    """Handlers raise gr.Error for a user's mistake; this turns it into a toast (gr.Warning) and, where the event
    has a status line (output `status`), the same words there, and leaves every other output as it was
    (gr.skip). A raised gr.Error would instead put every output of the event (gallery, upload box, plots...) in a
    red error state that blocks clicks until closed by hand. Bugs (any other exception) still surface as errors."""
    def message(e: gr.Error):
        gr.Warning(e.message)
        out = [gr.skip()] * n_outputs
        if status is not None:
            out[status] = f"**{e.message}**"
        return tuple(out) if n_outputs > 1 else out[0]

    def wrap(fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def streamed(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except gr.Error as e:
                    yield message(e)
            return streamed

        @functools.wraps(fn)
        def plain(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except gr.Error as e:
                return message(e)
        return plain
    return wrap


# --- cached read-only models (runs load their own copies: training mutates them) --------------------------------

@lru_cache(maxsize=4)
def _generator(name: str):
    return load_generator(catalog.get(name).path())


@lru_cache(maxsize=8)
def _classifier(name: str, feature: str):
    """What a run's training paths read for this feature: its classifier, with its co-classifiers (MNIST), so that
    "let the classifier pick" picks as a run does."""
    cfg = session.run_config(catalog.get(name), feature)
    return with_co_classifiers(cfg, load_model(cfg.classifier, kind="classifier"))


def _model(name: str) -> catalog.BaseModel:
    try:
        return catalog.get(name)
    except ValueError as e:
        raise gr.Error(str(e)) from None


# --- step 1: model, feature, negatives --------------------------------------------------------------------------

def new_state() -> dict:
    return {"model": None, "seed": 0, "negatives": {}, "shown": {}, "dir": None, "run": None, "cfg": None,
            "samples": None}


N_RESULTS = 10   # status, the two plots, before, after, metrics, download, extrapolation image and text, push line


def _no_results():
    """Every output that shows a run's result, emptied: what is on screen always belongs to the current choice."""
    return ("", None, None, gr.Image(value=None, label="before"), gr.Image(value=None, label="after"),
            None, gr.DownloadButton(value=None, visible=False), None, "", "")


@user_errors(6 + N_RESULTS)
def choose_model(name: str, st: dict):
    """A new base model: its features, fresh samples, no negatives (their shape belongs to the old model) and no
    results (they belong to the old model too: download and push act only on what is shown)."""
    m = _model(name)
    st = {**new_state(), "dir": st.get("dir"), "model": name}
    feats = session.features_for(m)
    default = feats[8] if len(feats) > 8 else feats[0]
    st, gallery, count, seed = new_samples(st, 0)
    return gr.Dropdown(choices=feats, value=default), st, gallery, count, [], seed, *_no_results()


def choose_feature(st: dict):
    """Another feature: the previous run's results go (they answered another question)."""
    return {**st, "run": None, "cfg": None}, *_no_results()


@user_errors(4)
def new_samples(st: dict, seed: int):
    """N_SAMPLES of the model's samples on latents fixed by `seed`; already chosen negatives stay chosen."""
    if not st.get("model"):
        raise gr.Error("choose a base model first")
    G = _generator(st["model"])
    seed = int(seed or 0)
    x = session.generate(G, make_latent_bank(N_SAMPLES, G.latent_dim, seed))
    shown = {**st.get("shown", {}), **{session.sample_key(seed, i): xi for i, xi in enumerate(x)}}
    st = {**st, "seed": seed, "samples": x, "shown": shown}   # shown: a custom feature's "has not" examples
    return st, _gallery(st), _count(st), seed


def _gallery(st: dict):
    keys = st["negatives"]
    return [(_thumb(x), "✓ negative" if session.sample_key(st["seed"], i) in keys else f"#{i}")
            for i, x in enumerate(st["samples"])]


def _thumb(x) -> str:
    return session.thumbnail_file(x, THUMBS)


def _count(st: dict) -> str:
    n = len(st["negatives"])
    need = "" if n >= session.MIN_NEGATIVES else f" (at least {session.MIN_NEGATIVES} needed)"
    return f"**{n} negatives chosen**{need}"


def _chosen(st: dict):
    return [(_thumb(x), k) for k, x in st["negatives"].items()]


@user_errors(4)
def click_sample(st: dict, evt: gr.SelectData):
    """A click in the samples gallery toggles that sample in or out of the negatives."""
    if st.get("samples") is None:
        raise gr.Error("no samples yet: press 'new samples'")
    i = evt.index
    st = {**st, "negatives": session.toggle(st["negatives"], session.sample_key(st["seed"], i), st["samples"][i])}
    return st, _gallery(st), _chosen(st), _count(st)


def click_chosen(st: dict, evt: gr.SelectData):
    """A click on a chosen negative removes it."""
    key = list(st["negatives"])[evt.index]
    st = {**st, "negatives": {k: v for k, v in st["negatives"].items() if k != key}}
    return st, _gallery(st) if st.get("samples") is not None else [], _chosen(st), _count(st)


def upload(st: dict, files):
    """Uploaded files join the negatives; the upload box is emptied either way, so a rejected file is never sent
    again with the next upload."""
    return (*_upload(st, files), None)


@user_errors(4)
def _upload(st: dict, files):
    if not st.get("model"):
        raise gr.Error("choose a base model first")
    paths = [f if isinstance(f, str) else f.name for f in (files or [])]
    if not paths:
        raise gr.Error("no files: drop PNG or JPEG images that show the feature")
    G = _generator(st["model"])
    try:
        negatives, notes = session.add_uploads(st["negatives"], paths, G.image_shape)
    except ValueError as e:
        raise gr.Error(str(e)) from None
    for note in notes:
        gr.Info(note) if "not an image" not in note else gr.Warning(note)
    st = {**st, "negatives": negatives}
    return st, _gallery(st) if st.get("samples") is not None else [], _chosen(st), _count(st)


@user_errors(4)
def classifier_pick(st: dict, feature: str, n: int, seed: int):
    """The classifier stands in for a user: n of the model's samples that it labels as the feature."""
    if not st.get("model"):
        raise gr.Error("choose a base model first")
    m = _model(st["model"])
    if feature == session.CUSTOM:
        raise gr.Error("no classifier knows a custom feature: click the samples that show it in the gallery")
    try:
        negatives = session.add_classifier_picks(st["negatives"], _generator(st["model"]),
                                                 _classifier(st["model"], feature),
                                                 m.target(feature), int(n), int(seed or 0))
    except ValueError as e:
        raise gr.Error(str(e)) from None
    st = {**st, "negatives": negatives}
    return st, _gallery(st), _chosen(st), _count(st)


def clear_negatives(st: dict):
    st = {**st, "negatives": {}}
    return st, _gallery(st) if st.get("samples") is not None else [], [], _count(st)


# --- step 2: settings and the run --------------------------------------------------------------------------------

def apply_preset(preset: str, st: dict):
    """The preset's method, K and steps for the chosen base model (the faces keep their own: atu.catalog)."""
    p = session.preset_values(_model(st["model"]) if st.get("model") else None, preset)
    return p["method"], p["K"], p["adapt_steps"], p["unlearn_steps"]


def model_options(st: dict):
    """The chosen base model's measured options (atu.catalog.BaseModel.options), none ticked; hidden if it has none."""
    opts = list(_model(st["model"]).options) if st.get("model") else []
    return gr.CheckboxGroup(choices=opts, value=[], visible=bool(opts))


def _gpu_seconds(cfg, *args, **kwargs) -> int:
    """ZeroGPU time to reserve, sized to the run (a few ms a step on a GPU, plus loading and the metrics)."""
    return int(30 + 0.05 * (cfg.adapt.K * cfg.adapt.steps + cfg.unlearn.steps) + cfg.eval_latents / 500)


@spaces.GPU(duration=_gpu_seconds)
def train(cfg, negatives, source, folder, session_key: str):
    """Both stages and the metrics (on the GPU under ZeroGPU; a no-op decorator elsewhere). Arguments and the
    yielded progress dicts / saved folder path are all picklable (ZeroGPU runs this in another process, where
    the Stop flag is not shared: there run() checks the flag on each event it receives and closes this generator)."""
    yield from session.run_and_save(cfg, negatives, source, folder, CANCEL.get(session_key))


@user_errors(8, status=0)
def run(st: dict, feature: str, preset: str, loss: str, gamma: float, K: int, adapt_steps: int,
        unlearn_steps: int, seed: int, method: str, options: list[str], request: gr.Request,
        progress=gr.Progress()):
    """Stream a run: status line, the two live plots; at the end the results. Generator handler.
    It waits its turn in RUNS (one run at a time, its place in line in the status line), and Stop (the session's
    CANCEL flag) ends it while it waits or at the next logged step, with "Stopped" in the status line."""
    if not st.get("model"):
        raise gr.Error("choose a base model first")
    m = _model(st["model"])
    negatives = session.stack(st["negatives"])
    n = 0 if negatives is None else len(negatives)
    if method == "latent" and feature != session.CUSTOM:
        negatives = None   # latent steering reads the feature off its classifier: chosen negatives are not used
    elif n < session.MIN_NEGATIVES:
        raise gr.Error(f"{n} negatives chosen: choose at least {session.MIN_NEGATIVES} (click samples that show "
                       f"{feature}, upload images, or let the classifier pick)")
    if st.get("dir") is None or not Path(st["dir"]).is_dir():
        st = {**st, "dir": tempfile.mkdtemp(prefix="atu-session-")}
    folder = Path(st["dir"]) / f"run-{int(time.time() * 1000)}"
    settings = dict(preset=preset, loss=loss, gamma=gamma, K=K, adapt_steps=adapt_steps,
                    unlearn_steps=unlearn_steps, seed=seed, method=method or None, options=options or [])
    estimate = ""
    try:
        if feature == session.CUSTOM:
            cfg, n = session.custom_run_config(m, folder, st["negatives"], st["shown"], **settings)
            estimate = (f" (an estimate: measured by a classifier trained on your {n['selected']} selected and "
                        f"{n['not_selected']} shown-but-not-selected samples)")
        else:
            cfg = session.run_config(m, feature, **settings)
        series = session.plot_series(cfg)   # once per run (it reads the base's config.json), not at every redraw
    except ValueError as e:
        raise gr.Error(str(e)) from None
    key = request.session_hash or "local"
    token = f"{key}#{next(_RUN_IDS)}"   # one place in line per run, even for two runs of one session
    cancel = CANCEL.setdefault(key, threading.Event())
    cancel.clear()
    skip = (gr.skip(),) * 7   # every output but the status line; the session state too: a run in progress never
    history, last = [], 0.0   # sends back the state it started from (it would undo edits made while it waits or runs)
    RUNS.join(token)
    try:
        shown = None
        while not RUNS.try_start(token):   # another session's run holds the CPU: say so, with our place in line
            if cancel.is_set():
                yield ("Stopped before it started: your run left the queue; nothing was run.", *skip)
                return
            ahead = RUNS.ahead(token)
            if ahead != shown:
                shown = ahead
                yield (f"Waiting: {ahead} run{'s' if ahead > 1 else ''} from other sessions ahead of yours "
                       f"(one runs at a time); yours starts when {'they end' if ahead > 1 else 'it ends'}. "
                       "Stop leaves the queue.", *skip)
            time.sleep(0.5)
        yield ("Starting...", None, None, *skip[:5])   # plots to None: Gradio's LinePlot picks its colours (the
        # series it will ever draw) only when its value goes from None to data; an emptied plot keeps the last run's
        events = train(cfg, negatives, session.source(st["negatives"]) if negatives is not None else "classifier",
                       str(folder), key)
        try:
            for e in events:
                if cancel.is_set():   # checked here too: under ZeroGPU the worker runs in another process
                    raise Cancelled("stopped by the user")
                if e["stage"] == "saved":
                    break
                history.append(e)
                frac, text = session.describe(e, cfg)
                progress(frac, desc=text)
                if time.time() - last > 1.0:  # the plots redraw at most once a second
                    last = time.time()
                    yield (text, *_plots(history, cfg, series), *skip[:5])
        finally:
            events.close()   # stops and joins the worker (atu.session.run_and_save) before the slot is given back
    except Cancelled:
        shutil.rmtree(folder, ignore_errors=True)
        yield ("Stopped: nothing was saved; the previous result (if any) is kept. You can run again now.",
               *_plots(history, cfg, series), *skip[:5])
        return
    except (ValueError, CheckpointError, FileNotFoundError) as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise gr.Error(str(e)) from None
    finally:
        RUNS.leave(token)
    st = {**st, "run": e["folder"], "cfg": cfg}
    progress(1.0, desc="done")
    before, after = _before_after(st)
    zip_path = session.zip_folder(e["folder"], session.download_name(m.name, feature))
    metrics = e["metrics"]
    text = (f"Done in {metrics['seconds']:.0f} s: {feature} went from "
            f"{metrics['neg_rate_before']:.1%} to {metrics['neg_rate_after']:.1%} of samples (PUL {metrics['pul']:.1f}"
            + (f"; independent evaluator: PUL {metrics['pul_independent']:.1f}" if "pul_independent" in metrics else "")
            + ")"
            f"{estimate}.")
    label_before, label_after = session.grid_labels(metrics, feature)
    yield (text, *_plots(history, cfg, series), gr.Image(value=before, label=label_before),
           gr.Image(value=after, label=label_after), pd.DataFrame(session.metrics_table(metrics), columns=["metric", "value", "meaning"]),
           gr.DownloadButton(value=str(zip_path), visible=True), st)


def _plots(history, cfg, names):
    """The two plots' data, with one empty (NaN) point per series this run can draw (`names`:
    session.plot_series(cfg)), from the first update on: Gradio's LinePlot fixes its colours at its first draw and
    never draws a series that appears later."""
    losses, rates = session.progress_rows(history, cfg)
    cols = ["step", "value", "series"]
    return tuple(pd.DataFrame([{"step": 0, "value": float("nan"), "series": n} for n in series] + rows, columns=cols)
                 for series, rows in zip(names, (losses, rates)))


def _before_after(st: dict):
    latents = load_latent_bank(_model(st["model"]).path())[:session.GRID_LATENTS]
    return session.grid(_generator(st["model"]), latents), session.grid(load_generator(st["run"]), latents)


def stop(request: gr.Request):
    """Raise the session's Stop flag; the run itself writes "Stopped" in the status line once its worker has ended
    (the status line is the run's alone: a line written here could arrive after the run's and hide it)."""
    key = request.session_hash or "local"
    state = RUNS.state(key)
    if state is None:
        gr.Info("nothing to stop: no run of yours is running or waiting")
        return
    CANCEL.setdefault(key, threading.Event()).set()
    gr.Info("leaving the queue..." if state == "waiting" else "stopping at the next logged step (a few seconds)...")


# --- step 3: results ---------------------------------------------------------------------------------------------

@user_errors(2, status=1)
def extrapolation(st: dict, g: float):
    """The parameter-space baseline on the same latents as the before/after grids."""
    if not st.get("run"):
        raise gr.Error("run the unlearning first: extrapolation uses its adapted models")
    m, cfg = _model(st["model"]), st["cfg"]
    if cfg.method == "latent":
        return None, "latent steering has no stage 1, so no adapted models to extrapolate from"
    G = _generator(st["model"])
    latents = load_latent_bank(m.path())[:session.GRID_LATENTS]
    C = load_model(cfg.classifier, kind="classifier")
    img, m = session.extrapolation_preview(G, session.load_theta(st["run"]), g, cfg, C, latents)
    return img, (f"g = {g:.2f}: negative rate {m['neg_rate_after']:.3f}, FID ratio {m['fid_ratio']:.2f} "
                 f"(1 = the base's quality; above ~1.5 the images break) on the bank's first "
                 f"{session.preview_latents(G)} latents (no training)")


def preview_after_run(st: dict, g: float):
    """The extrapolation preview of a run that just ended (nothing when there is no run to preview)."""
    return extrapolation(st, g) if st.get("run") else (gr.skip(), gr.skip())


@user_errors(1, status=0)
def push(st: dict, repo_id: str, token: str, private: bool):
    if not st.get("run"):
        raise gr.Error("nothing to push yet: run the unlearning first")
    try:
        check_repo_id((repo_id or "").strip())
        refresh_card(Path(st["run"]), repo_id.strip())
        url = push_run(st["run"], repo_id.strip(), token=(token or "").strip() or None, private=bool(private))
    except HubError as e:   # the run's folder is a temporary path on the server: never shown to the user
        raise gr.Error(str(e).replace(str(Path(st["run"]).resolve()), "this session's run (the zip above has it)")
                       ) from None
    return f"Pushed: [{url}]({url}) - load it with `atu.load_generator(\"{repo_id.strip()}\")`"


def _cleanup(st: dict):
    """When a session ends, its folder goes (Space disk is ephemeral anyway: push what you want to keep)."""
    if st and st.get("dir"):
        shutil.rmtree(st["dir"], ignore_errors=True)


# --- layout ------------------------------------------------------------------------------------------------------

def build_demo() -> gr.Blocks:
    models = list(catalog.shipped())
    with gr.Blocks(title="atu: Adapt-then-Unlearn", delete_cache=(3600, 7200)) as demo:
        st = gr.State(new_state(), delete_callback=_cleanup)
        gr.HTML(STYLE, padding=False)
        gr.Markdown(INTRO)
        with gr.Row():
            model = gr.Dropdown(models, value=models[0] if models else None, label="1. base model")
            feature = gr.Dropdown([], label="feature to forget", info="what the classifier calls it")
        gr.Markdown("### 2. Negatives: samples that show the feature")
        gallery = gr.Gallery(label="the model's samples: click the ones that show the feature (click again to undo)",
                             columns=10, allow_preview=False, format="png", height=400, object_fit="contain",
                             elem_id="samples")
        with gr.Row(equal_height=True):
            sample_seed = gr.Number(0, precision=0, label="samples seed", minimum=0, scale=1)
            more = gr.Button("new samples", scale=1)
            count = gr.Markdown(_count(new_state()), elem_id="count")
            clear = gr.Button("clear negatives", size="sm", scale=1)
        with gr.Row():
            chosen = gr.Gallery(label="chosen negatives: click one to remove it", columns=10, allow_preview=False,
                                format="png", height=180, object_fit="contain", elem_id="chosen", scale=3)
            files = gr.File(label="or upload images of the feature", file_count="multiple", file_types=["image"],
                            height=220, scale=1, elem_id="upload")
            with gr.Column(scale=1):
                n_pick = gr.Slider(4, 50, value=25, step=1, label="how many")
                pick = gr.Button("let the classifier pick")
        with gr.Accordion("3. Settings", open=False):
            method = gr.Radio([(v, k) for k, v in session.METHODS.items()], value=session.PRESETS["fast"]["method"],
                              label="method", info="adapt-then-unlearn: the paper's two stages (below); latent "
                              "steering: G learns to draw the base with the feature's latent direction taken out "
                              "(the faces' default, README \"Faces\")")
            with gr.Row():
                preset = gr.Radio(list(session.PRESETS), value="fast", label="preset",
                                  info="fast: ~80 s on a 2-core CPU for MNIST, ~70 s for the faces, ~7 min for the DDPM (README: measured); standard: the CLI's defaults, the same training, metrics on 5,000 latents (the DDPM: 2,000, plus an anchor that changes fewer other digits: ~11 min)")
                loss = gr.Radio(list(REPULSIONS), value="el2", label="repulsion loss",
                                info="el2 (best in the paper), nl2, il2; none = plain fine-tuning (a baseline)")
                gamma = gr.Number(1.0, label="gamma", info="strength of the push from the adapted models")
            with gr.Row():
                K = gr.Number(session.PRESETS["fast"]["K"], precision=0, minimum=1, maximum=5, label="K",
                              info="adapted models in stage 1")
                adapt_steps = gr.Number(session.PRESETS["fast"]["adapt_steps"], precision=0, minimum=10,
                                        label="stage 1 steps", info="per adapted model")
                unlearn_steps = gr.Number(session.PRESETS["fast"]["unlearn_steps"], precision=0, minimum=10,
                                          label="stage 2 steps", info="latent steering: its steps")
                seed = gr.Number(0, precision=0, minimum=0, label="seed", info="same seed, same result")
            options = gr.CheckboxGroup([], label="options", visible=False, elem_id="options",
                                       info="class keep (MNIST): about a third less collateral damage, a point less "
                                       "removal, ~15 s more (README, measured)")
        with gr.Row():
            go = gr.Button("Run", variant="primary", elem_id="run")
            halt = gr.Button("Stop", variant="stop", elem_id="stop")
        status = gr.Markdown("", elem_id="status")
        with gr.Row():
            loss_plot = gr.LinePlot(x="step", y="value", color="series", label="losses (stage 1, then stage 2)",
                                    elem_id="losses")
            rate_plot = gr.LinePlot(x="step", y="value", color="series", label="negative rate on a probe bank",
                                    elem_id="rates")
        gr.Markdown("### 4. Results on the same latents")
        with gr.Row(elem_id="grids"):
            before = gr.Image(label="before", format="png", type="pil", elem_id="before")
            after = gr.Image(label="after", format="png", type="pil", elem_id="after")
        table = gr.Dataframe(headers=["metric", "value", "meaning"], label="metrics", interactive=False,
                             elem_id="metrics")
        with gr.Accordion("Baseline: extrapolation in parameter space (no training)", open=False):
            g = gr.Slider(0.5, 4.0, value=1.5, step=0.25, label="g in theta_N + g (theta_G - theta_N)")
            extra_img = gr.Image(label="extrapolated", format="png", type="pil")
            extra_txt = gr.Markdown()
        gr.Markdown("### 5. Keep it")
        with gr.Row():
            download = gr.DownloadButton("download the unlearned generator (.zip)", visible=False, elem_id="download")
            repo = gr.Textbox(label="Hub repo id", placeholder="your-name/mnist-without-8")
            token = gr.Textbox(label="token (or set HF_TOKEN)", type="password")
            private = gr.Checkbox(True, label="private")
            send = gr.Button("push to the Hub")
        url = gr.Markdown()

        pick_out = [st, gallery, chosen, count]
        results = [status, loss_plot, rate_plot, before, after, table, download, extra_img, extra_txt, url]
        chosen_model = [feature, st, gallery, count, chosen, sample_seed, *results]
        model.input(choose_model, [model, st], chosen_model, api_name="choose_model").then(
            apply_preset, [preset, st], [method, K, adapt_steps, unlearn_steps]).then(model_options, st, options)
        feature.input(choose_feature, st, [st, *results], api_name=False)
        more.click(lambda s: new_samples(s, s["seed"] + 1), st, [st, gallery, count, sample_seed])
        sample_seed.submit(new_samples, [st, sample_seed], [st, gallery, count, sample_seed], api_name="samples")
        # every edit of the negatives reads and writes the session's state: one at a time, in click order
        one = {"concurrency_limit": 1, "concurrency_id": "negatives", "trigger_mode": "multiple"}
        gallery.select(click_sample, st, pick_out, **one)
        chosen.select(click_chosen, st, pick_out, **one)
        files.upload(upload, [st, files], [*pick_out, files], api_name="upload", **one)
        pick.click(classifier_pick, [st, feature, n_pick, seed], pick_out, api_name="pick", **one)
        clear.click(clear_negatives, st, pick_out, api_name="clear", **one)
        preset.change(apply_preset, [preset, st], [method, K, adapt_steps, unlearn_steps])
        job = go.click(run, [st, feature, preset, loss, gamma, K, adapt_steps, unlearn_steps, seed, method, options],
                       [status, loss_plot, rate_plot, before, after, table, download, st],
                       api_name="run", concurrency_limit=None, concurrency_id="train")   # RUNS: one at a time
        job.then(preview_after_run, [st, g], [extra_img, extra_txt])
        halt.click(stop, None, None, api_name="stop")
        g.release(extrapolation, [st, g], [extra_img, extra_txt], api_name="extrapolate")
        send.click(push, [st, repo, token, private], url, api_name="push")
        demo.load(choose_model, [model, st], chosen_model).then(
            apply_preset, [preset, st], [method, K, adapt_steps, unlearn_steps]).then(model_options, st, options)
    return demo


if __name__ == "__main__":
    build_demo().queue(default_concurrency_limit=4).launch()
