"""The unlearning engine end to end on tiny models (seconds), plus its pieces."""
import dataclasses
import json

import pytest
import torch

from atu.adapt import AdaptConfig, flatten, unflatten
from atu.baselines import extrapolate
from atu.feedback import MIN_NEGATIVES, check_negatives
from atu.models import DCGANDiscriminator, DCGANGenerator, FeatureDiscriminator, load_generator
from atu.pipeline import RunConfig, run_unlearning, save_run
from atu.sampling import generate, load_latent_bank
from atu.unlearn import UnlearnConfig

from tiny import MeanBucketClassifier, make_tiny_base


def _cfg(gan, clf, **kw):
    return RunConfig(model=str(gan), classifier=str(clf), target=4, n_negatives=6, eval_latents=400,
                     adapt=AdaptConfig(K=2, steps=4, batch_size=8, fisher_samples=4),
                     unlearn=UnlearnConfig(steps=6, batch_size=8, n_positives=40, eval_every=3, eval_latents=50,
                                           **kw))


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return make_tiny_base(tmp_path_factory.mktemp("base"))


def test_end_to_end_tiny_and_run_folder(tiny_base, tmp_path):
    events = []
    res = run_unlearning(_cfg(*tiny_base), on_progress=events.append)
    stages = [e["stage"] for e in events]
    assert stages.count("adapt") >= 2 * 2 and "unlearn" in stages and stages[-1] == "metrics"
    starts = [e for e in events if e["stage"] == "adapt" and e["step"] == 0]   # each adapted model starts as the base
    base_rate = next(e["neg_rate"] for e in events if e["stage"] == "unlearn")   # stage 2's step 0 probes the base
    assert len(starts) == 2 and starts[0]["neg_rate"] == starts[1]["neg_rate"] == base_rate
    unl = [e for e in events if e["stage"] == "unlearn" and "d_loss" in e]
    assert unl and all({"distance", "repulsion", "extra_grad_norm", "neg_rate"} <= set(e) for e in unl)
    assert res.theta_N.shape == (2, sum(p.numel() for p in res.G_before.parameters()))
    m = res.metrics
    assert {"pul", "fid_ratio", "collateral", "neg_rate_before", "neg_rate_after", "fid_features"} <= set(m)
    out = save_run(res, tmp_path / "run")
    for f in ("model.safetensors", "config.json", "README.md", "run.json", "run_config.json", "metrics.json",
              "history.json", "before_after.png", "negatives.png"):
        assert (out / f).is_file(), f
    record = json.loads((out / "run.json").read_text())
    assert record["loss"] == "el2" and record["K"] == 2 and record["negatives"]["count"] == 6
    assert len(record["base_model_sha256"]) == 64
    G = load_generator(out)
    z = torch.randn(3, 8)
    assert torch.equal(G(z), res.G_after.eval()(z))


def test_co_classifiers_train_on_the_ensemble_and_grade_with_the_classifier(tiny_base, tmp_path):
    """RunConfig.co_classifiers: load_base hands the training paths an ensemble whose primary is the classifier,
    measure() grades with that primary alone (the same metrics as the classifier's), and the independent evaluator
    can never be a member."""
    from atu.models import ClassifierEnsemble, load_model
    from atu.pipeline import load_base, measure

    gan, clf = tiny_base
    other = tmp_path / "clf-c"   # a co-classifier that labels otherwise: its classes in reverse order
    C = load_model(clf, kind="classifier")
    MeanBucketClassifier(10, float(C.centres[-1]), float(C.centres[0])).save_pretrained(other)
    cfg = dataclasses.replace(_cfg(gan, clf), co_classifiers=f"{other}, ")
    G, D, E = load_base(cfg)
    assert isinstance(E, ClassifierEnsemble) and len(E.members) == 2
    _, _, C = load_base(_cfg(gan, clf))
    assert torch.equal(flatten(E.primary), flatten(C))
    assert measure(cfg, G, G, E) == measure(cfg, G, G, C) != measure(cfg, G, G, load_model(other, kind="classifier"))
    with pytest.raises(ValueError, match="independent evaluator"):
        load_base(dataclasses.replace(cfg, evaluator=str(other)))


def test_score_measures_a_saved_run_again_exactly(tiny_base, tmp_path):
    """`python -m atu score` re-measures a saved run folder on its own config: the registered metrics equal the
    ones the run recorded; --metrics selects them, an unregistered name is refused with the registered ones."""
    from atu.cli import main
    from atu.metrics import registered_metrics

    gan, clf = tiny_base
    out = save_run(run_unlearning(_cfg(gan, clf)), tmp_path / "run")
    assert main(["score", "--run", str(out), "--model", str(gan), "--classifier", str(clf)]) == 0
    recorded, scored = (json.loads((out / f).read_text()) for f in ("metrics.json", "score.json"))
    keys = [m.key for m in registered_metrics() if m.key in recorded and m.key != "seconds"]
    assert {"pul", "fid_ratio", "collateral"} <= set(keys) and all(scored[k] == recorded[k] for k in keys)
    assert main(["score", "--run", str(out), "--model", str(gan), "--classifier", str(clf), "--metrics", "pul"]) == 0
    assert set(json.loads((out / "score.json").read_text())) == {"run", "n_latents", "pul"}
    assert main(["score", "--run", str(out), "--model", str(gan), "--classifier", str(clf), "--metrics", "fun"]) == 2
    other, _ = make_tiny_base(tmp_path / "other", seed=1)   # not the base this run was made from: refused
    assert main(["score", "--run", str(out), "--model", str(other), "--classifier", str(clf)]) == 2


def test_a_missing_base_folder_is_not_taken_for_a_hub_repo(tmp_path, monkeypatch):
    """checkpoints/NAME that does not exist (a typo, another working folder) is a missing folder, not a repo id."""
    from atu.pipeline import resolve_base

    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(FileNotFoundError, match="no such folder"):
        resolve_base(RunConfig(model="checkpoints/mnist-dcgan-typo"))


def test_same_seed_same_unlearned_weights(tiny_base):
    a = run_unlearning(_cfg(*tiny_base, loss="nl2"))
    b = run_unlearning(_cfg(*tiny_base, loss="nl2"))
    assert torch.equal(flatten(a.G_after), flatten(b.G_after))
    assert torch.equal(a.theta_N, b.theta_N)


@pytest.mark.parametrize("loss", ["el2", "nl2", "il2", "none"])
def test_every_loss_runs(tiny_base, loss):
    res = run_unlearning(_cfg(*tiny_base, loss=loss))
    reps = [e["repulsion"] for e in res.history if e["stage"] == "unlearn" and "repulsion" in e]
    assert reps and (all(r == 0 for r in reps) if loss == "none" else any(r != 0 for r in reps))


def test_too_few_negatives_is_refused(tiny_base):
    gan, clf = tiny_base
    with pytest.raises(ValueError, match=f"at least {MIN_NEGATIVES} negatives, got 1"):
        run_unlearning(_cfg(gan, clf), negatives=torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="resize"):
        check_negatives(torch.zeros(5, 3, 32, 32), load_generator(gan))
    with pytest.raises(ValueError, match="at least"):
        check_negatives(torch.zeros(0, 1, 32, 32), load_generator(gan))


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="el2"):
        UnlearnConfig(loss="l2")


def test_extrapolation_g1_is_exact_and_g_moves_away():
    G = DCGANGenerator(latent_dim=8, width=4)
    theta_N = torch.stack([flatten(G) + 0.1, flatten(G) - 0.3])
    assert torch.equal(flatten(extrapolate(G, theta_N, 1.0)), flatten(G))
    g2 = flatten(extrapolate(G, theta_N, 2.0))
    # theta_N mean = theta_G - 0.1, so g = 2 gives theta_G + 0.1
    assert torch.allclose(g2, flatten(G) + 0.1, atol=1e-6)


def test_flatten_unflatten_round_trip():
    G = DCGANGenerator(latent_dim=8, width=4)
    views = unflatten(flatten(G), G)
    assert all(torch.equal(v, p) for v, p in zip(views, G.parameters()))


def test_bench_rows_and_table_on_tiny_model(tiny_base, tmp_path):
    from atu.bench import bench_class, markdown, summarise
    from atu.latent import LatentConfig
    from atu.pipeline import load_base

    cfg = dataclasses.replace(_cfg(*tiny_base), method="latent",   # a preset's method does not leak into el2
                              latent=LatentConfig(n_samples=400, confident=0.5, steps=4, batch_size=8))
    rows = bench_class(cfg, load_base(cfg), ["el2", "latent"], save_dir=tmp_path)
    assert [r["method"] for r in rows] == ["el2", "latent", "extrapolation"]
    assert "d_end" in rows[0] and "latent_n_feature" in rows[1] and "d_end" not in rows[1]
    assert load_generator(tmp_path / "latent")(torch.randn(2, 8)).shape == (2, 1, 32, 32)
    assert (tmp_path / "el2" / "model.safetensors").is_file()
    rows = bench_class(_cfg(*tiny_base), load_base(cfg), ["el2", "none"])
    assert [r["method"] for r in rows] == ["el2", "none", "extrapolation"]
    assert all({"pul", "fid_ratio", "collateral", "stage1_purity"} <= set(r) for r in rows)
    assert rows[-1]["g"] in (1.25, 1.5, 2.0, 2.5, 3.0)
    table = markdown(summarise(rows + [dict(rows[0], seed=1)]))
    assert "| 4 | el2 | 2 |" in table and "| 4 | extrapolation | 1 |" in table
    assert [r["method"] for r in bench_class(_cfg(*tiny_base), load_base(cfg), ["none"], grid=())] == ["none"]

    # a retrained model (here the base G stands in) gives every row a Ret-FID, and its own row only once per class
    base = load_base(cfg)
    later_seed = bench_class(cfg, base, [], retrained=base[0])
    assert [r["method"] for r in later_seed] == ["extrapolation"] and later_seed[0]["ret_fid"] > 0   # extrapolated vs base
    first_seed = bench_class(cfg, base, [], retrained=base[0], retrain_seconds=7.0)
    assert [r["method"] for r in first_seed] == ["extrapolation", "retrain"] and first_seed[1]["seconds"] == 7.0
    assert all(r["co_classifiers"] == "" for r in rows + first_seed)


def test_bench_rows_name_the_co_classifiers_that_picked_their_samples(tiny_base, tmp_path):
    """A row says which co-classifiers picked its negatives and positives beside the classifier (the MNIST GAN's
    default since session 28): rows before and after that change are told apart. Retraining reads none."""
    import shutil

    from atu.bench import bench_class
    from atu.pipeline import load_base

    gan, clf = tiny_base
    shutil.copytree(clf, tmp_path / "clf-c")
    cfg = dataclasses.replace(_cfg(gan, clf), co_classifiers=str(tmp_path / "clf-c"))
    base = load_base(cfg)
    rows = bench_class(cfg, base, ["none"], retrained=base[0], retrain_seconds=1.0, grid=())
    assert [(r["method"], r["co_classifiers"]) for r in rows] == [("none", "clf-c"), ("retrain", "")]


def test_across_targets_counts_each_digit_once_whatever_its_seeds():
    """Digit 1 has 3 seeds (PUL 10, 20, 30: mean 20), digit 2 one (PUL 60): the per-method line is mean(20, 60) =
    40 with std sqrt(((20-40)^2 + (60-40)^2) / 1) = 28.28..., not the mean of the 4 runs (30)."""
    from atu.bench import across_targets, markdown, summarise

    rows = [{"method": "el2", "target": 1, "seed": s, "pul": p, "fid_ratio": 1.0, "collateral": 0.0, "seconds": 1}
            for s, p in enumerate((10.0, 20.0, 30.0))]
    rows.append({"method": "el2", "target": 2, "seed": 0, "pul": 60.0, "fid_ratio": 2.0, "collateral": 0.5,
                 "seconds": 3})
    (line,) = across_targets(summarise(rows))
    assert line["target"] == "mean of 2" and line["n_seeds"] == 4
    assert line["pul"] == (40.0, pytest.approx(800 ** 0.5)) and line["fid_ratio"] == (1.5, pytest.approx(0.5 ** 0.5))
    assert line["ret_fid"] == (None, None)
    rows[3]["ret_fid"] = 5.0   # only digit 2 has a Ret-FID: no mean over a subset labelled "mean of 2"
    assert across_targets(summarise(rows))[0]["ret_fid"] == (None, None)
    assert summarise(rows + [rows[0]])[0]["n_seeds"] == 3   # a run merged twice counts once
    assert "| mean of 2 | el2 | 4 | 40.00 ± 28.28 |" in markdown([line])
    # the evaluator's collateral is a column only where some row measured it (rows before session 22 lack it)
    assert "collateral (evaluator)" not in markdown([line])
    rows[0]["collateral_independent"] = 0.25
    assert "| collateral (evaluator) |" in markdown(summarise(rows)) and "| 0.250 |" in markdown(summarise(rows))


def test_fresh_discriminator_path_warms_up_d_first(tiny_base, tmp_path, monkeypatch):
    """A base model with no discriminator/ (like the converted faces model) gets a fresh D, marked, and each stage
    first trains D alone for fresh_d_warmup steps; the run still completes and measures."""
    import shutil

    from atu.pipeline import load_base
    from atu.train import GANTrainConfig, train_gan

    gan, clf = tiny_base
    no_d = tmp_path / "gan-no-d"
    shutil.copytree(gan, no_d, ignore=shutil.ignore_patterns("discriminator"))
    cfg = _cfg(no_d, clf)
    cfg.fresh_d_warmup = 3
    G, D, C = load_base(cfg)
    assert getattr(D, "atu_fresh", False) and not getattr(load_base(_cfg(*tiny_base))[1], "atu_fresh", False)
    # the default fresh D starts from the classifier's network (a copy: training D leaves C alone)
    assert isinstance(D, FeatureDiscriminator) and D.body is not C.body
    assert all(torch.equal(a, b) for a, b in zip(D.body.state_dict().values(), C.body.state_dict().values()))
    assert D(torch.rand(5, 1, 32, 32) * 2 - 1).shape == (5,)
    assert isinstance(load_base(dataclasses.replace(cfg, fresh_d="dcgan"))[1], DCGANDiscriminator)
    with pytest.raises(ValueError, match="fresh_d"):
        load_base(dataclasses.replace(cfg, fresh_d="stylegan"))
    import atu.adapt
    import atu.unlearn

    seen = []   # the d_warmup each stage's train_gan is handed (spies around the real function)

    def spy(real_train_gan):
        def wrapped(*args, **kwargs):
            seen.append(args[3].d_warmup)
            return real_train_gan(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(atu.adapt, "train_gan", spy(atu.adapt.train_gan))
    monkeypatch.setattr(atu.unlearn, "train_gan", spy(atu.unlearn.train_gan))
    c_before = flatten(C)
    res = run_unlearning(cfg, base=(G, D, C))
    assert torch.equal(flatten(C), c_before)
    assert {"pul", "fid_ratio"} <= set(res.metrics)
    assert len(seen) == cfg.adapt.K + 1 and set(seen) == {3}   # K adapted copies and stage 2, each warmed up
    seen.clear()
    run_unlearning(dataclasses.replace(cfg, model=str(gan)))   # the base's own D: no warm-up
    assert seen and set(seen) == {0}

    # warm-up trains D only: G is untouched by d_warmup steps alone
    G0 = DCGANGenerator(latent_dim=8, width=4)
    g0, d0 = flatten(G0), flatten(D)
    out = train_gan(G0, D, torch.rand(8, 1, 32, 32) * 2 - 1, GANTrainConfig(steps=0, batch_size=4, d_warmup=5))
    assert torch.equal(flatten(out.G), g0) and not torch.equal(flatten(out.D), d0)


def test_g_bn_frozen_keeps_batchnorm_running_statistics():
    """g_bn_frozen: G's BatchNorm layers use and keep their running statistics (G still learns its weights);
    without it the same run moves them."""
    from atu.train import GANTrainConfig, train_gan

    def bn_stats(G):
        return {k: v.clone() for k, v in G.state_dict().items() if "running" in k}

    real = torch.rand(16, 1, 32, 32) * 2 - 1
    for frozen in (True, False):
        torch.manual_seed(0)
        G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
        stats, weights = bn_stats(G), flatten(G)
        out = train_gan(G, D, real, GANTrainConfig(steps=3, batch_size=8, g_bn_frozen=frozen))
        after = bn_stats(out.G)
        assert stats and not torch.equal(flatten(out.G), weights)
        assert all(torch.equal(stats[k], after[k]) for k in stats) == frozen


def test_g_frozen_keeps_the_named_generator_layers():
    """g_frozen: the G parameters under the given name prefixes come out unchanged (and trainable again), the
    others train."""
    from atu.train import GANTrainConfig, frozen_names, train_gan

    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    before = {k: v.clone() for k, v in G.named_parameters()}
    last = [k for k in before if k.startswith("net.")][-1].rsplit(".", 1)[0]   # the to-image layer
    out = train_gan(G, D, torch.rand(16, 1, 32, 32) * 2 - 1,
                    GANTrainConfig(steps=3, batch_size=8, g_frozen=f" {last} ,"),
                    g_extra_loss=lambda g: (sum(p.sum() for p in g.parameters()) * 0, {}))
    after = dict(out.G.named_parameters())
    for k in before:
        assert torch.equal(before[k], after[k]) == k.startswith(last), k
    assert all(p.requires_grad for p in out.G.parameters())
    # a prefix names whole modules: "1" is layer 1, not layer 10
    assert frozen_names(torch.nn.Sequential(*[torch.nn.Linear(1, 1) for _ in range(11)]), "1") == ["1.weight", "1.bias"]


def test_bench_merge_summarises_rows_run_separately(tmp_path, capsys):
    """Seeds run in separate invocations are summarised together: mean +- std per (feature, method)."""
    from atu.bench import main

    def row(seed, pul):
        return {"feature": "eyeglasses", "target": 1, "method": "il2", "seed": seed, "pul": pul, "fid_ratio": 1.0,
                "neg_rate_after": pul / 1000, "collateral": 0.01, "color_hist_tv": 0.02, "high_frequency_ratio": 1.5,
                "seconds": 200.0}
    (tmp_path / "a.json").write_text(json.dumps([row(0, 40.0)]))
    (tmp_path / "b.json").write_text(json.dumps([row(1, 50.0), row(2, 60.0)]))
    assert main(["faces", "--merge", f"{tmp_path / 'a.json'},{tmp_path / 'b.json'}", "--out", str(tmp_path / "m")]) == 0
    table = (tmp_path / "m" / "table.md").read_text()
    assert "| eyeglasses | il2 | 3 | 50.0 ± 10.0 | - | 0.050 ± 0.010 | 1.00 | - | 0.010 | 0.020 | 1.50 | 200 |" in table and "93.63" not in table.split("il2")[1]


def test_bench_seeds_given_are_the_seeds_run(capsys):
    """`--seeds 0` runs seed 0 on every suite; only an absent --seeds takes the suite's default (mnist-ddpm:
    0, 1, 2). It once rewrote an explicit `--seeds 0` to 0,1,2 on the DDPM."""
    from atu.bench import main

    def planned(*argv):
        assert main([*argv, "--dry-run"]) == 0
        return capsys.readouterr().out.split(" (class, seed) runs")[0].split()[-1]

    assert planned("mnist-ddpm", "--classes", "8", "--seeds", "0") == "1"
    assert planned("mnist-ddpm", "--classes", "8") == "3"
    assert planned("mnist", "--classes", "8", "--extra-seeds", "") == "1"
    assert planned("mnist-ddpm", "--classes", "1,8", "--seeds", "0,2") == "4"


def test_bench_method_variants_compose():
    """A method is a repulsion loss and any variants after it: "el2-noneg-keep" is EL2 without the negative-aware D
    and with the class keep at 0.3, the rest of the run as it is; an unknown variant is refused with the list."""
    from atu.bench import method_config, mnist_config

    cfg = mnist_config()
    assert cfg.unlearn.keep_weight == 0.0 and method_config(cfg, "el2").unlearn == cfg.unlearn
    u = method_config(cfg, "el2-noneg-keep").unlearn
    assert (u.loss, u.neg_weight, u.keep_weight, u.guide_weight) == ("el2", 0.0, 0.3, cfg.unlearn.guide_weight)
    assert method_config(cfg, "none-keep").unlearn.loss == "none"
    assert method_config(cfg, "el2-pure").unlearn.neg_pool_min_p == 0.5   # the DDPM's pool of the feature only
    with pytest.raises(ValueError, match="-noguide, -keep, -hold or -pure"):
        method_config(cfg, "el2-kep")


def test_bench_refuses_the_ddpms_hold_on_a_gan_before_anything_runs():
    from atu.bench import bench_class, mnist_config

    with pytest.raises(ValueError, match="-hold is the DDPM's option"):
        bench_class(mnist_config(), (torch.nn.Linear(1, 1), None, None), ["el2", "el2-hold"])


def test_bench_co_classifiers_default_to_the_catalogs_and_can_be_named(capsys):
    """`--co-classifiers`: the MNIST GAN reads the catalog's co-classifier by default and none with '' (the default
    before session 28); the DDPM none by default, one when named: the plan says which."""
    from atu.bench import main

    def co(*argv):
        assert main([*argv, "--classes", "8", "--dry-run"]) == 0
        return capsys.readouterr().out.strip().split("co-classifiers ")[-1]

    assert co("mnist") == "mnist-classifier-c" and co("mnist", "--co-classifiers", "") == "none"
    assert co("mnist-ddpm") == "none"
    assert co("mnist-ddpm", "--co-classifiers", "checkpoints/mnist-classifier-c") == "mnist-classifier-c"


def test_bench_speed_table_says_met_or_missed_by_how_much(capsys):
    """`python -m atu.bench speed`: each total against its model's target, the machine named under the table;
    the plan lists the runs, and a run that is not base:feature:preset is refused before anything runs."""
    from atu import catalog, session
    from atu.bench import SPEED_TARGETS, machine, main, parse_speed_runs, speed_configs, speed_markdown
    from atu.catalog import KEEP_OTHER_DIGITS, KEEP_WEIGHT

    def row(base, total, pul_b):
        return {"base": base, "feature": "digit 8", "preset": "fast", "method": "adapt-then-unlearn",
                "eval_latents": 2000, "seconds": {"adapt": 10.0, "unlearn": 50.0, "metrics": 5.0, "total": total},
                "target_s": SPEED_TARGETS[base], "pul": 94.26, "pul_independent": pul_b, "machine": machine()}

    table = speed_markdown([row("mnist-dcgan", 72.5, 90.7), row("mnist-ddpm", 640.0, None)])
    assert "| mnist-dcgan | digit 8 | fast | adapt-then-unlearn | 10 | 50 | 5 | 72 (met) | 90 | 94.3 / 90.7 | 2000 |" in table
    assert "| 640 (**missed by 40**) | 600 | 94.3 / - |" in table
    assert f"{machine()['cores']} cores" in table
    assert main(["speed", "--runs", "mnist-dcgan:digit 8:fast,mnist-ddpm:digit 1:fast", "--dry-run"]) == 0
    assert "2 runs end to end" in capsys.readouterr().out
    for runs, why in (("mnist-dcgan:digit 8", "base:feature:preset"), ("mnist-dcgan:digit 11:fast", "digit 11"),
                      ("mnist-dcgan:digit 8:slow", "preset"), ("mnist-dcgan:digit 8:fast:no such option", "no option"),
                      ("faces-dcgan64:eyeglasses:fast:" + KEEP_OTHER_DIGITS, "no option")):
        with pytest.raises(SystemExit):   # malformed, an unknown feature, preset or option: refused up front
            main(["speed", "--runs", runs, "--dry-run"])
        assert why in capsys.readouterr().err, runs
    # a model's option, as ticked in the app: the same run config as the app's, and named beside the preset
    runs = parse_speed_runs(f"mnist-dcgan:digit 8:fast:{KEEP_OTHER_DIGITS},mnist-dcgan:digit 8:fast")
    assert runs[0][3] == (KEEP_OTHER_DIGITS,) and runs[1][3] == ()
    kept, plain = speed_configs(runs)
    assert kept.unlearn.keep_weight == KEEP_WEIGHT and plain.unlearn.keep_weight == 0
    assert kept == session.run_config(catalog.get("mnist-dcgan"), "digit 8", "fast", options=[KEEP_OTHER_DIGITS])
    with_option = speed_markdown([{**row("mnist-dcgan", 80.0, 90.0), "options": [KEEP_OTHER_DIGITS]}])
    assert f"| mnist-dcgan | digit 8 | fast + {KEEP_OTHER_DIGITS} |" in with_option


def test_records_never_name_a_model_by_an_absolute_path(tmp_path):
    from atu.catalog import CHECKPOINTS
    from atu.pipeline import public_path

    assert public_path(CHECKPOINTS / "mnist-dcgan") == "checkpoints/mnist-dcgan"
    assert public_path("checkpoints/mnist-dcgan") == "checkpoints/mnist-dcgan"
    assert public_path(tmp_path / "somewhere" / "my-gan") == "my-gan"


def test_latent_method_end_to_end_tiny(tiny_base, tmp_path):
    """method="latent": no stage 1 (theta_N is empty), stage-2-like progress events with the regression loss,
    the direction's counts in the metrics, and a run folder whose card says which method made it."""
    from atu.latent import LatentConfig

    cfg = dataclasses.replace(_cfg(*tiny_base), method="latent",
                              latent=LatentConfig(n_samples=400, confident=0.5, steps=6, batch_size=8, eval_every=3))
    events = []
    res = run_unlearning(cfg, on_progress=events.append)
    assert not [e for e in events if e["stage"] == "adapt"] and res.theta_N.shape[0] == 0
    assert [e["step"] for e in events if e["stage"] == "unlearn" and "latent_mse" in e] == list(range(1, 7))
    assert res.metrics["latent_n_feature"] >= 2 and "pul" in res.metrics
    out = save_run(res, tmp_path / "run")
    record = json.loads((out / "run.json").read_text())
    assert record["method"] == "latent" and record["latent_steps"] == 6
    card = " ".join((out / "README.md").read_text().split())
    assert "unlearned by latent steering" in card and "**Steer**" in card and "**Adapt**" not in card
    with pytest.raises(ValueError, match="method must be"):
        RunConfig(method="magic")


def test_first_layer_edit_is_the_latent_projection():
    """edit_first_layer(G, d, 0) draws exactly G(z with its component along d removed); the edited first layer
    no longer reads d at all."""
    from atu.latent import edit_first_layer, steer

    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=8, channels=1, image_size=16, width=4).eval()
    d = torch.randn(8)
    d = d / d.norm()
    G2 = edit_first_layer(G, d, 0.0).eval()
    z = torch.randn(5, 8)
    with torch.no_grad():
        assert torch.allclose(G2(z), G(steer(z, d, 0.0, "set")), atol=1e-6)
        assert torch.allclose(G2(z + 3 * d), G2(z), atol=1e-6)
        assert torch.allclose(torch.einsum("i,icxy->cxy", d, G2.net[0].weight), torch.zeros(1), atol=1e-6)


def test_a_new_metric_is_one_registration(tiny_base):
    """A metric registered with its own compute(view) is measured by every run and shows in the app's table and
    the benchmark's columns, with nothing else changed."""
    from atu import metrics, session
    from atu.bench import markdown, summarise

    m = metrics.register_metric(metrics.Metric(
        "mean_abs_change", "mean |change|", "mean absolute pixel change on the same latents", "",
        compute=lambda v: (v["x_after"] - v["x_before"]).abs().mean()))
    try:
        res = run_unlearning(_cfg(*tiny_base))
        bank = load_latent_bank(tiny_base[0])[:400]
        expected = (generate(res.G_after, bank) - generate(res.G_before, bank)).abs().mean()
        assert res.metrics["mean_abs_change"] == pytest.approx(float(expected), rel=1e-5)
        assert [m.label, m.format(res.metrics["mean_abs_change"]), m.meaning] in session.metrics_table(
            {**res.metrics, "n_latents": 400})
        row = {"target": 4, "method": "el2", "seed": 0, **res.metrics}
        assert "mean |change|" in markdown(summarise([row]))
    finally:
        metrics._METRICS.pop("mean_abs_change")


@pytest.mark.parametrize("argv, heavy", [
    (["train-classifier"], "atu.mnist.mnist_split"),
    (["train-gan"], "atu.mnist.mnist_split"),
    (["train-ddpm"], "atu.mnist.mnist_split"),
    (["convert-faces"], "atu.faces.load_package_generator"),
    (["train-face-encoder"], "atu.face_classifiers.train_face_encoder"),
    (["train-face-classifiers"], "atu.face_classifiers._distillation_data"),
    (["train-face-evaluators"], "atu.face_classifiers._distillation_data"),
])
def test_a_taken_output_folder_is_refused_before_any_training(argv, heavy, tmp_path, monkeypatch, capsys):
    """A training command whose output folder exists fails at once with what to do, not after hours of training
    (atomic_output_dir used to be the first check), and the folder is left as it was."""
    from atu.cli import main

    def reached(*a, **k):
        raise AssertionError(f"{heavy} ran: the taken folder was noticed only after the work")

    monkeypatch.setattr(heavy, reached)
    taken = tmp_path / "taken"
    per_attribute = argv[0] in ("train-face-classifiers", "train-face-evaluators")   # one folder per attribute
    folder = taken / f"faces-eyeglasses-{argv[0].split('-')[-1][:-1]}" if per_attribute else taken
    folder.mkdir(parents=True)
    (folder / "keep.txt").write_text("saved")
    args = [*argv, "--out_dir" if per_attribute else "--out", str(taken)]
    assert main(args) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [p.read_text() for p in taken.rglob("keep.txt")] == ["saved"]


def test_bench_on_a_new_ddpm_folder_uses_the_ddpm_recipe(tmp_path, monkeypatch):
    """`python -m atu.bench mnist-ddpm --model runs/<new run>`: a folder the catalog does not know gets the DDPM
    family's catalogued recipe and the shipped classifiers. It once got RunConfig's (the GAN's) defaults: another
    method, three times slower, with nothing in the table to say so."""
    from atu import bench

    seen = {}

    def stop(cfg):
        seen["cfg"] = cfg
        raise KeyboardInterrupt   # the config is all this test needs

    monkeypatch.setattr(bench, "load_base", stop)
    with pytest.raises(KeyboardInterrupt):
        bench.main(["mnist-ddpm", "--model", "runs/ddpm-new", "--classes", "8", "--seeds", "0", "--grid", "",
                    "--out", str(tmp_path)])
    shipped = bench.mnist_config("checkpoints/mnist-ddpm")   # the base is loaded with the first class's run config
    shipped = dataclasses.replace(shipped, target=8, feature="digit 8").with_seed(0)
    assert seen["cfg"].model == "runs/ddpm-new"
    assert dataclasses.replace(seen["cfg"], model=shipped.model) == shipped
    assert seen["cfg"].unlearn.redirect_weight == 1.0 and seen["cfg"].unlearn.neg_pool == 128


def test_seed_seeds_every_stage_in_the_cli_and_the_bench(tmp_path, monkeypatch, capsys):
    """`--seed 2` is the whole run's seed: the CLI, the app (session.run_config) and the benchmark's seed-2 row
    all run stage 2 with seed 2. The bench and the CLI once left unlearn.seed at 0 for seeds 1 and 2."""
    from atu import bench, catalog, cli, session

    def dry(*argv):
        assert cli.main(["unlearn", *argv, "--dry-run"]) == 0
        return json.loads(capsys.readouterr().out.split("\nbase ")[0])

    cfg = dry("--base", "mnist-dcgan", "--feature", "digit 8", "--seed", "2")
    assert [cfg["seed"], cfg["adapt"]["seed"], cfg["unlearn"]["seed"], cfg["latent"]["seed"]] == [2, 2, 2, 2]
    app = session.run_config(catalog.get("mnist-dcgan"), "digit 8", "standard", seed=2)
    assert cfg == json.loads(json.dumps(dataclasses.asdict(app)))
    cfg = dry("--seed", "2", "--unlearn.seed", "0")   # a stage's own seed, given, still wins
    assert [cfg["seed"], cfg["adapt"]["seed"], cfg["unlearn"]["seed"]] == [2, 2, 0]

    seen = []

    def stop(cfg, *a, **k):
        seen.append(cfg)
        raise KeyboardInterrupt   # the config is all this test needs

    monkeypatch.setattr(bench, "load_base", lambda cfg: None)
    monkeypatch.setattr(bench, "bench_class", stop)
    with pytest.raises(KeyboardInterrupt):
        bench.main(["mnist", "--classes", "8", "--seeds", "2", "--extra-seeds", "", "--retrain", "", "--grid", "",
                    "--out", str(tmp_path)])
    assert dataclasses.replace(seen[0], model=app.model, classifier=app.classifier) == \
        dataclasses.replace(app, eval_latents=5056)   # the same folders, named relative to the checkout
