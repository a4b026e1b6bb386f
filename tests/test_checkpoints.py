"""The shipped checkpoints meet their bars, re-measured here (not read back from their cards), and FID behaves
sanely on real data."""
import json
import re
from pathlib import Path

import pytest
import torch

import atu
from atu.data import mnist_split
from atu.metrics import classify, fid
from atu.models import load_model
from atu.sampling import generate, load_latent_bank

CK = Path(__file__).resolve().parents[1] / "checkpoints"


@pytest.fixture(scope="module")
def C():
    return load_model(CK / "mnist-classifier", kind="classifier")


def test_classifier_heldout_accuracy(C):
    x, y = mnist_split("heldout")
    acc = float((classify(C, x) == y).float().mean())
    assert acc >= 0.985
    card = json.loads((CK / "mnist-classifier/metrics.json").read_text())
    assert acc == pytest.approx(card["heldout_accuracy"], abs=1e-6)


def _measured_as_its_card_says(name: str, at_least: float):
    """The shipped digit classifier `name`, after checking its held-out accuracy re-measured equals its card."""
    model = load_model(CK / name, kind="classifier")
    x, y = mnist_split("heldout")
    acc = float((classify(model, x) == y).float().mean())
    assert acc >= at_least
    card = json.loads((CK / name / "metrics.json").read_text())
    assert acc == pytest.approx(card["heldout_accuracy"], abs=1e-6)
    assert f"{acc * 100:.2f}%" in (CK / name / "README.md").read_text()
    return model


def test_independent_evaluator_heldout_accuracy_as_its_card_says(C):
    """classifier B (the independent evaluator): its held-out accuracy re-measured equals its card, and it is a
    different network from the training classifier (another family), so their agreement is a real check."""
    B = _measured_as_its_card_says("mnist-classifier-b", 0.98)
    assert B.family != C.family


def test_co_classifier_heldout_accuracy_as_its_card_says(C):
    """classifier C (the MNIST features' co-classifier, read beside the training classifier on training paths
    only): its held-out accuracy re-measured equals its card; it is another network than the training classifier
    (width, feature size) and never the independent evaluator."""
    from atu import catalog

    C3 = _measured_as_its_card_says("mnist-classifier-c", 0.985)
    assert (C3.body[0].out_channels, C3.head[-1].in_features) != (C.body[0].out_channels, C.head[-1].in_features)
    for base in catalog.BASE_MODELS.values():
        for f in base.features.values():
            assert base.evaluator_for(f.classifier, f.label) not in f.co_classifiers


def test_gan_class_balance_and_card(C):
    G = atu.load_generator(CK / "mnist-dcgan")
    bank = load_latent_bank(CK / "mnist-dcgan")
    assert bank.shape == (10_000, G.latent_dim)
    frac = torch.bincount(classify(C, generate(G, bank)), minlength=10).double() / len(bank)
    assert frac.min() >= 0.07 and frac.max() <= 0.13, frac
    card = json.loads((CK / "mnist-dcgan/metrics.json").read_text())
    assert torch.allclose(frac, torch.tensor(card["class_fractions"], dtype=torch.float64), atol=2e-4)
    D = load_model(CK / "mnist-dcgan/discriminator", kind="discriminator")
    assert D(generate(G, bank[:4])).shape == (4,)


def test_ddpm_draws_its_card_samples_and_resolves_to_its_command(C):
    """checkpoints/mnist-ddpm (issue #17): a DDPMGenerator whose bank is 2,000 initial noises; the first 64 give the
    card's samples.png again (20 DDIM steps; the whole bank is re-measured by the slow test below), and the card's
    last command (a model trained in several runs lists the earlier ones first), dry-run, resolves to its
    train_config.json."""
    import dataclasses
    import subprocess
    import sys

    from PIL import Image

    from atu.sampling import to_pil

    folder = CK / "mnist-ddpm"
    G = atu.load_generator(folder)
    bank = load_latent_bank(folder)
    assert type(G).__name__ == "DDPMGenerator" and bank.shape == (2_000, 1024) and G.sample_steps == 20
    grid = to_pil(generate(G, bank[:64]), nrow=8).resize((8 * 34 * 3, 8 * 34 * 3), 0)
    shipped = torch.tensor(list(Image.open(folder / "samples.png").convert("L").getdata()), dtype=torch.float32)
    drawn = torch.tensor(list(grid.convert("L").getdata()), dtype=torch.float32)
    assert (shipped - drawn).abs().mean() < 1.0, "the samples drawn here differ from the card's"
    card = (folder / "README.md").read_text()
    from atu.io import dataclass_from_dict
    from atu.mnist import DDPMRunConfig

    lines = [x for x in card.splitlines() if x.startswith("python -m atu train-ddpm")]
    earlier = json.loads((folder / "metrics.json").read_text()).get("earlier_runs", [])
    assert len(lines) == len(earlier) + 1 and [e["command"] for e in earlier] == lines[:-1]
    out = subprocess.run([sys.executable, *lines[-1].split()[1:], "--dry-run"], cwd=CK.parent, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    shipped = dataclass_from_dict(DDPMRunConfig, json.loads((folder / "train_config.json").read_text()))
    assert json.loads(out.stdout) == dataclasses.asdict(shipped)


@pytest.mark.slow
def test_ddpm_class_balance_and_agreement_as_its_card_says(C):
    m = json.loads((CK / "mnist-ddpm/metrics.json").read_text())
    G = atu.load_generator(CK / "mnist-ddpm")
    x = generate(G, load_latent_bank(CK / "mnist-ddpm"))
    frac = torch.bincount(classify(C, x), minlength=10).double() / len(x)
    assert torch.allclose(frac, torch.tensor(m["class_fractions"], dtype=torch.float64), atol=2e-3)


def test_gan_card_reproduce_command_resolves_to_its_train_config():
    """The last command in the shipped GAN's card (after the runs it went on from), dry-run, resolves to exactly the
    train_config.json shipped beside it, and the card's figures are the metrics.json ones (FID, the two classifiers'
    agreement)."""
    import subprocess
    import sys

    folder = CK / "mnist-dcgan"
    card = (folder / "README.md").read_text()
    lines = re.findall(r"^(python -m atu train-gan.*)$", card, re.M)   # earlier runs (--init chain) first
    earlier = json.loads((folder / "metrics.json").read_text()).get("earlier_runs", [])
    assert len(lines) == len(earlier) + 1 and [e["command"] for e in earlier] == lines[:-1]
    cmd = lines[-1]
    out = subprocess.run([sys.executable, *cmd.split()[1:], "--dry-run"], cwd=CK.parent, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # a field added after the model was trained (R1, init) is recorded by its default, which is what it trained with
    import dataclasses

    from atu.io import dataclass_from_dict
    from atu.mnist import GANRunConfig

    shipped = dataclasses.asdict(dataclass_from_dict(GANRunConfig, json.loads((folder / "train_config.json").read_text())))
    assert json.loads(out.stdout) == shipped
    m = json.loads((folder / "metrics.json").read_text())
    assert f"**{m['fid']:.2f}**" in card and f"{m['classifier_agreement']:.1%}" in card


def test_fid_sanity_on_real_digits(C):
    x, _ = mnist_split("heldout")
    assert fid(x, x, C)["fid"] == pytest.approx(0.0, abs=1e-6)
    halves = fid(x[::2], x[1::2], C)["fid"]
    noise = fid(x, torch.rand(1000, 1, 32, 32) * 2 - 1, C)["fid"]
    G = atu.load_generator(CK / "mnist-dcgan")
    gan = fid(x, generate(G, load_latent_bank(CK / "mnist-dcgan")[:2000]), C)["fid"]
    assert halves < gan < noise and noise > 20 * halves, (halves, gan, noise)


def test_faces_model_labels_and_classifiers_as_their_cards_say():
    """The converted face generator loads strictly; its hand labels are what the cards say (>= 800 samples,
    >= 60 positives per feature); each attribute classifier's held-out precision/recall is re-measured on the
    held-out labels listed in its card and equals the card."""
    from atu.faces import ATTRIBUTES, load_labels
    from atu.metrics import precision_recall

    G = atu.load_generator(CK / "faces-dcgan64")
    z, labels, rec = load_labels(CK / "faces-dcgan64")
    assert rec["n"] >= 800 and z.shape == (rec["n"], G.latent_dim)
    assert all(int(labels[a].sum()) >= 60 and int(labels[a].sum()) == rec["counts"][a] for a in ATTRIBUTES)
    x = generate(G, z)
    assert x.shape[1:] == (3, 64, 64) and x.min() >= -1 and x.max() <= 1
    for a in ATTRIBUTES:
        card = json.loads((CK / f"faces-{a}-classifier/metrics.json").read_text())
        held, y = torch.tensor(card["heldout_indices"]), labels[a]
        C = load_model(CK / f"faces-{a}-classifier", kind="classifier")
        m = precision_recall(classify(C, x[held]), y[held])
        assert (m["tp"], m["fp"], m["fn"]) == tuple(card["heldout"][k] for k in ("tp", "fp", "fn")), (a, m)
        assert m["precision"] >= 0.7 and m["recall"] >= 0.5, (a, m)


def test_faces_split_is_the_classifiers_held_out_part_and_evaluators_are_measured_on_it():
    """split.json is the test part no training touched: the classifiers' held-out samples; each feature's
    independent evaluator (a ResNet, not the face encoder the classifiers and every D start from) re-measures
    to its card's counts there, and is catalogued as that feature's evaluator."""
    from atu import catalog
    from atu.faces import ATTRIBUTES, labelled_split, load_labels
    from atu.metrics import precision_recall
    from atu.metrics import classify
    from atu.models import ResNetClassifier, load_model
    from atu.sampling import generate

    G = atu.load_generator(CK / "faces-dcgan64")
    z, labels, _ = load_labels(CK / "faces-dcgan64")
    faces = catalog.BASE_MODELS["faces-dcgan64"]
    for a in ATTRIBUTES:
        train, test = labelled_split(CK / "faces-dcgan64", a)
        assert len(test) == 200 and len(train) == 760 and not set(train.tolist()) & set(test.tolist())
        assert test.tolist() == sorted(json.loads((CK / f"faces-{a}-classifier/metrics.json").read_text())["heldout_indices"])
        card = json.loads((CK / f"faces-{a}-evaluator/metrics.json").read_text())
        assert card["heldout_indices"] == test.tolist()
        E = load_model(CK / f"faces-{a}-evaluator", kind="classifier")
        assert isinstance(E, ResNetClassifier) and E.attribute == a
        m = precision_recall(classify(E, generate(G, z[test])), labels[a][test])
        assert abs(m["tp"] - card["heldout"]["tp"]) <= 1 and abs(m["fp"] - card["heldout"]["fp"]) <= 1, (a, m)
        assert faces.evaluator_for(f"faces-{a}-classifier", 1) == f"faces-{a}-evaluator"
    assert faces.evaluator_for("my-clicks-classifier", 1) == ""   # a feature from clicks has no evaluator


def test_blind_count_draws_shuffled_tiles_then_unblinds_the_marks(tmp_path):
    """`python -m atu blind-count`: first a grid of the test part's labelled positives, before and after shuffled
    together (and a key), then --marks unblinds into labelled_count.json; wrong marks are refused."""
    import shutil

    from atu.cli import main
    from atu.by_eye import blind_layout

    run = tmp_path / "run"
    run.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(CK / "faces-dcgan64" / f, run / f)
    args = ["blind-count", "--run", str(run), "--feature", "headwear", "--model", str(CK / "faces-dcgan64")]
    assert main(args) == 0
    key = json.loads((run / "blind_headwear_key.json").read_text())
    n = len(key["label_indices"])
    assert (run / "blind_headwear.png").is_file() and len(key["layout"]) == 2 * n
    assert main(args) == 2                                     # the grid is never redrawn silently
    assert main(args + ["--marks", "C" * (2 * n - 1)]) == 2    # one mark short
    # mark every "after" tile R and every "before" tile C, as a rater would who saw the feature gone
    layout = blind_layout(n, 0)
    assert main(args + ["--marks", "".join("R" if side == "after" else "C" for _, side in layout)]) == 0
    rec = json.loads((run / "labelled_count.json").read_text())
    assert rec["counts"]["after"] == {"R": n, "F": 0, "C": 0} and rec["removed_pct"] == 100.0
    assert rec["before_clear_pct"] == 100.0 and len(rec["marks"]) == n


def test_blind_count_of_a_digit_run_draws_both_strata_then_pools_the_draws(tmp_path):
    """`python -m atu blind-count` on a digit run: pages of shuffled tiles (eights before, relabelled others, each
    before and after) and a key; --marks unblinds into PUL by eye, estimated stratum by stratum and pooled with the
    other draws of the same run. The estimate is checked against hand-worked counts."""
    from atu.by_eye import pool_digit_counts, pul_by_eye, read_marks
    from atu.cli import main

    run = CK.parent / "examples" / "mnist-no-8"
    args = ["blind-count", "--run", str(run), "--n", "4"]
    assert main(args + ["--out", str(tmp_path / "d0")]) == 0
    key = json.loads((tmp_path / "d0" / "blind_key.json").read_text())
    assert len(key["tiles"]) == 16 and sorted({(k, side) for k, _, side in key["tiles"]}) == [
        ("A", "after"), ("A", "before"), ("B", "after"), ("B", "before")]
    assert (tmp_path / "d0" / "blind-1.png").is_file() and not (tmp_path / "d0" / "blind-2.png").exists()
    assert main(args + ["--out", str(tmp_path / "d0")]) == 2            # a draw is never redrawn silently
    assert main(args + ["--out", str(tmp_path / "d0"), "--marks", "D" * 15]) == 2   # one mark short
    # a rater who sees every A-before tile as an 8, one A-after tile, and nothing in B
    a_after = [j for j, (k, _, side) in enumerate(key["tiles"]) if (k, side) == ("A", "after")]
    marks = "".join("D" if (k, side) == ("A", "before") or j == a_after[0] else "."
                    for j, (k, _, side) in enumerate(key["tiles"]))
    assert main(args + ["--out", str(tmp_path / "d0"), "--marks", marks]) == 0
    rec = json.loads((tmp_path / "d0" / "blind_count.json").read_text())
    assert rec["marked"] == {"A before": 4, "A after": 1, "B before": 0, "B after": 0}
    assert rec["pul_by_eye"] == pytest.approx(75.0)   # 1 of 4 eights left, whatever the strata's sizes
    assert main(args + ["--out", str(tmp_path / "d1"), "--seed", "1"]) == 0
    assert main(args + ["--out", str(tmp_path / "d1"), "--seed", "1", "--marks", "." * 16]) == 0
    assert json.loads((tmp_path / "d1" / "blind_count.json").read_text())["pul_by_eye"] is None   # nothing seen before
    pooled = pool_digit_counts([json.loads((tmp_path / d / "blind_count.json").read_text()) for d in ("d0", "d1")])
    assert pooled["marked"]["A before"] == 4 and pooled["n_per_stratum"] == 8 and pooled["pul_by_eye"] == 75.0
    # hand-worked: |A| 100, |B| 300, 4 tiles a stratum: before 100*4/4 + 300*1/4 = 175, after 100*1/4 + 300*2/4 = 175
    assert pul_by_eye({"A before": 4, "A after": 1, "B before": 1, "B after": 2}, 4, {"A": 100, "B": 300}) == {
        "marked": {"A before": 4, "A after": 1, "B before": 1, "B after": 2}, "n_per_stratum": 4,
        "sizes": {"A": 100, "B": 300}, "estimated_before": 175.0, "estimated_after": 175.0, "pul_by_eye": 0.0}
    assert read_marks("d./ D.", "D.", 4) == ["D", ".", "D", "."]
    with pytest.raises(ValueError, match="with X"):
        read_marks("DX..", "D.", 4)


def test_labelled_grid_draws_the_labelled_positives_before_and_after(tmp_path):
    """`python -m atu labelled-grid`: the first n samples hand-labelled with the feature, base row over unlearned
    row on the same latents (here the base model twice, so the rows are equal); it never overwrites silently."""
    import numpy as np
    from PIL import Image

    from atu.cli import main
    from atu.faces import load_labels

    out = tmp_path / "grid.png"
    args = ["labelled-grid", "--run", str(CK / "faces-dcgan64"), "--model", str(CK / "faces-dcgan64"),
            "--feature", "headwear", "--n", "8", "--out", str(out)]
    assert main(args) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (2 * (2 * 67 + 3), 2 * (8 * 67 + 3), 3)   # 2 rows of 8 faces (64 + 3 padding), 2x
    assert np.array_equal(img[2 * 3:2 * 67], img[2 * 70:2 * 134])   # faces of row 1 == row 2, pixel for pixel
    assert not np.array_equal(img[2 * 3:2 * 35], img[2 * 35:2 * 67])
    _, labels, _ = load_labels(CK / "faces-dcgan64")
    assert int(labels["headwear"].sum()) >= 8
    assert main(args) == 2 and main(args + ["--overwrite"]) == 0


@pytest.mark.parametrize("name", sorted(p.parent.name for p in CK.glob("*/README.md")))
def test_shipped_card_is_its_records_rendered(name):
    """Every shipped card is exactly what its folder's records render through atu/templates (one way to write a
    card; `python -m atu card --folder F` rewrites it): a card can never drift from the measured numbers."""
    from atu.cards import checkpoint_card

    card = (CK / name / "README.md").read_text()
    assert card == checkpoint_card(CK / name)
    assert card.startswith("---\n") and "library_name: atu" in card and "license: mit" in card
    assert "github.com/atu-project" not in card


def test_every_catalogued_base_model_card_says_how_to_reproduce_it():
    """The card is the one home of how a shipped base model was made (the catalog no longer repeats it)."""
    from atu import catalog

    for name in catalog.BASE_MODELS:
        card = (CK / name / "README.md").read_text()
        assert re.search(r"python -m atu (train-gan|train-ddpm|convert-faces) ", card), name
    assert catalog.BASE_MODELS["faces-dcgan64"].fid_reference == "samples"
    assert catalog.BASE_MODELS["mnist-dcgan"].fid_reference == "real"
