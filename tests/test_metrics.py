import pytest
import torch

from atu.metrics import (class_histogram, classify, collateral_damage, feature_stats, fid, frechet_distance,
                         neg_rate, pul, total_variation)
from atu.models import DigitClassifier


def test_neg_rate_and_pul():
    assert neg_rate(torch.tensor([1, 2, 1, 3]), 1) == 0.5
    assert pul(200, 10) == pytest.approx(95.0)
    assert pul(200, 250) == pytest.approx(-25.0)  # unlearning that made it worse is reported as such
    with pytest.raises(ValueError, match="no negatives"):
        pul(0, 0)


def test_class_histogram_and_collateral():
    h = class_histogram(torch.tensor([0, 0, 1, 2]), 3, exclude=2)
    assert torch.allclose(h, torch.tensor([2 / 3, 1 / 3, 0.0], dtype=torch.float64))
    # before, without class 2: [0.5, 0.5]; after: [0.25, 0.75] -> TV = 0.5 * (0.25 + 0.25)
    before, after = torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 1, 1, 2])
    assert collateral_damage(before, after, target=2, num_classes=3) == pytest.approx(0.25)
    assert collateral_damage(before, before, target=2, num_classes=3) == 0.0
    assert total_variation(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])) == 1.0


def test_others_changed_leaves_out_where_the_removed_samples_went():
    """Eights (target 8) that become 3s: the other digits' mix moves (1: 1/2 -> 1/4, 3: 1/2 -> 3/4, collateral
    0.25) while no other sample changed (0). Then one 1 of three non-eights becomes a 7: 1/3."""
    from atu.metrics import others_changed

    before, after = torch.tensor([8, 8, 1, 3]), torch.tensor([3, 3, 1, 3])
    assert collateral_damage(before, after, target=8, num_classes=10) == pytest.approx(0.25)
    assert others_changed(before, after, 8) == 0.0
    assert others_changed(torch.tensor([8, 1, 1, 3, 8]), torch.tensor([3, 1, 7, 3, 8]), 8) == pytest.approx(1 / 3)
    assert others_changed(torch.tensor([8, 8]), torch.tensor([1, 1]), 8) == 0.0   # nothing but the target


def test_frechet_distance_hand_worked():
    one = lambda v: torch.tensor([[v]], dtype=torch.float64)  # noqa: E731
    # 1-D: (0 - 2)^2 + 1 + 4 - 2 * sqrt(1 * 4) = 5
    assert frechet_distance(torch.tensor([0.0]), one(1.0), torch.tensor([2.0]), one(4.0)) == pytest.approx(5.0)
    # 2-D diagonal: |(1, 1)|^2 + (1 + 4) + (4 + 9) - 2 * (sqrt(4) + sqrt(36)) = 2 + 5 + 13 - 16 = 4
    s1, s2 = torch.diag(torch.tensor([1.0, 4.0])), torch.diag(torch.tensor([4.0, 9.0]))
    assert frechet_distance(torch.zeros(2), s1, torch.ones(2), s2) == pytest.approx(4.0)
    # identical Gaussians: 0
    s = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    assert frechet_distance(torch.ones(2), s, torch.ones(2), s) == pytest.approx(0.0, abs=1e-9)


def test_feature_stats_unbiased():
    mu, cov = feature_stats(torch.tensor([[0.0, 0.0], [2.0, 4.0]]))
    assert torch.allclose(mu, torch.tensor([1.0, 2.0], dtype=torch.float64))
    # unbiased covariance of two points: [[2, 4], [4, 8]]
    assert torch.allclose(cov, torch.tensor([[2.0, 4.0], [4.0, 8.0]], dtype=torch.float64))


def test_classify_refuses_wrong_range():
    C = DigitClassifier()
    with pytest.raises(ValueError, match="rescale"):
        classify(C, torch.rand(2, 1, 32, 32) * 255)
    assert classify(C, torch.rand(2, 1, 32, 32) * 2 - 1).shape == (2,)


def test_fid_names_its_features_and_rejects_unknown():
    C = DigitClassifier()
    x = torch.rand(20, 1, 32, 32) * 2 - 1
    out = fid(x, x, C)
    assert out["fid"] == pytest.approx(0.0, abs=1e-6) and out["fid_features"].startswith("classifier:")
    with pytest.raises(ValueError, match="inception"):
        fid(x, x, C, features="clip")


def test_color_histogram_tv_and_brightness_hand_worked():
    from atu.metrics import brightness_change, color_histogram_tv

    black, white = -torch.ones(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    assert color_histogram_tv(black, black) == 0 and color_histogram_tv(black, white) == 1
    half = torch.cat([black[:1], white[:1]])            # half the pixels moved from black to white: TV 0.5
    assert abs(color_histogram_tv(black, half) - 0.5) < 1e-12
    assert brightness_change(black, white) == 1.0 and brightness_change(black, half) == 0.5


def test_fit_linear_head_and_precision_recall():
    from atu.feedback import fit_linear_head
    from atu.metrics import precision_recall

    f = torch.tensor([[0.0, 5.0], [1.0, 5.0], [4.0, 5.0], [5.0, 5.0]])   # only the first feature separates
    head = fit_linear_head(f, torch.tensor([0, 0, 1, 1]), weight_decay=1e-3)
    assert head(f).argmax(1).tolist() == [0, 0, 1, 1] and head(torch.tensor([[9.0, 0.0]])).argmax(1).item() == 1
    m = precision_recall(torch.tensor([1, 1, 0, 0, 1]), torch.tensor([1, 0, 1, 0, 1]))
    assert (m["tp"], m["fp"], m["fn"]) == (2, 1, 1) and m["precision"] == 2 / 3 and m["recall"] == 2 / 3


def test_feedback_classifier_learns_the_clicks():
    """Selected = bright faces, shown-not-selected = dark ones: the on-the-spot classifier separates new ones."""
    from atu.feedback import feedback_classifier
    from atu.models import FaceAttributeClassifier

    torch.manual_seed(0)
    C = FaceAttributeClassifier(width=4, feature_dim=16, target_dim=8).eval()
    bright, dark = torch.rand(12, 3, 64, 64) * 0.5 + 0.5, torch.rand(20, 3, 64, 64) * 0.5 - 1
    Cf = feedback_classifier(C, bright[:6], dark[:10])
    assert Cf.attribute == "custom" and Cf is not C and torch.equal(C.body[0].weight, Cf.body[0].weight)
    assert classify(Cf, bright[6:]).tolist() == [1] * 6 and classify(Cf, dark[10:]).tolist() == [0] * 10
    with pytest.raises(ValueError, match="at least 4 selected"):
        feedback_classifier(C, bright[:2], dark)


def test_high_frequency_ratio_hand_worked():
    from atu.metrics import high_frequency_ratio

    flat = torch.zeros(1, 1, 4, 4)
    checker = (torch.arange(4)[:, None] + torch.arange(4)[None]) % 2 * 2.0 - 1   # +-1 checkerboard
    # interior Laplacian of a +-1 checkerboard: |4 * (+-1) - 4 * (-+1)| = 8 everywhere; of a smooth ramp: 0
    ramp = torch.arange(4.0).repeat(4, 1)[None, None] / 4
    assert high_frequency_ratio(ramp + 1e-3 * checker, checker[None, None]) == pytest.approx(8 / (8e-3), rel=1e-4)
    assert high_frequency_ratio(checker[None, None], checker[None, None]) == 1.0
    assert high_frequency_ratio(checker[None, None], flat) == 0.0


def test_classifier_error_corrections_hand_worked():
    from atu.metrics import corrected_rate, detector_rates, pul_ceiling, pul_corrected

    # held out: 100 samples, 20 with the feature; the classifier finds 10 of them and flags 8 of the 80 others
    tpr, fpr = detector_rates(tp=10, fp=8, fn=10, n=100)
    assert (tpr, fpr) == (0.5, 0.1)
    # true rate 0.2 -> observed 0.5 * 0.2 + 0.1 * 0.8 = 0.18; the correction inverts it
    assert corrected_rate(0.18, tpr, fpr) == pytest.approx(0.2)
    assert corrected_rate(0.05, tpr, fpr) == 0.0           # below the false-positive floor: clipped
    # a perfect unlearner leaves the false positives: observed 0.1 -> raw PUL 100 * (1 - 0.1 / 0.18)
    assert pul_ceiling(0.18, fpr) == pytest.approx(100 * 8 / 18)
    assert pul_corrected(0.18, 0.1, tpr, fpr) == pytest.approx(100.0)
    # observed 0.14 -> true 0.1: half the feature is gone
    assert pul_corrected(0.18, 0.14, tpr, fpr) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="chance"):
        corrected_rate(0.2, 0.1, 0.1)
    with pytest.raises(ValueError, match="held-out"):
        detector_rates(0, 0, 0, 10)


def test_classifier_error_view_reads_heldout_counts(tmp_path):
    import json

    from atu.pipeline import classifier_error_view

    assert classifier_error_view(str(tmp_path), 0.18, 0.1) == {}      # no metrics.json (e.g. a click classifier)
    (tmp_path / "metrics.json").write_text(json.dumps({"heldout": {"tp": 10, "fp": 8, "fn": 10, "n": 100}}))
    v = classifier_error_view(str(tmp_path), 0.18, 0.14)
    assert (v["classifier_tpr"], v["classifier_fpr"]) == (0.5, 0.1)
    assert v["pul_corrected"] == pytest.approx(50.0) and v["feature_rate_after_corrected"] == pytest.approx(0.1)


def test_app_metrics_table_shows_the_classifier_limit_only_when_known():
    from atu.session import metrics_table

    m = {"pul": 90.0, "neg_rate_before": 0.14, "neg_rate_after": 0.01, "n_latents": 2000, "fid_ratio": 0.5,
         "collateral": 0.01, "seconds": 170.0}
    assert [r[0] for r in metrics_table(m)] == ["PUL", "negative rate", "FID ratio", "collateral damage", "time"]
    rows = metrics_table({**m, "pul_ceiling": 73.09, "classifier_fpr": 0.0373})
    assert rows[-1][:2] == ["classifier's limit", "PUL 73 %"] and "3.7%" in rows[-1][2]


def test_app_shows_pul_by_both_classifiers_when_there_is_an_evaluator():
    from atu.session import grid_labels, metrics_table

    m = {"pul": 90.0, "neg_rate_before": 0.108, "neg_rate_after": 0.0108, "n_latents": 2000, "fid_ratio": 0.5,
         "collateral": 0.01, "seconds": 70.0}
    assert grid_labels(m, "digit 8") == ("before: digit 8 in 10.8% of samples", "after: 1.1%, PUL 90.0")
    m2 = {**m, "pul_independent": 85.25}
    assert grid_labels(m2, "digit 8")[1] == "after: 1.1%, PUL 90.0 (classifier) / 85.2 (independent evaluator)"
    rows = metrics_table(m2)
    assert [r[0] for r in rows][:2] == ["PUL", "PUL, independent"] and rows[1][1] == "85.2 %"


def test_blind_layout_and_score_marks_by_hand():
    """Two samples -> four tiles, each sample once a side; marks are counted per side after unblinding."""
    from atu.by_eye import blind_layout, score_marks

    layout = blind_layout(2, seed=0)
    assert sorted(layout) == [(0, "after"), (0, "before"), (1, "after"), (1, "before")]
    hand = [(0, "before"), (1, "after"), (0, "after"), (1, "before")]
    s = score_marks("CF/rC", hand)           # case, '/' and spaces do not matter
    assert s["counts"]["after"] == {"R": 1, "F": 1, "C": 0} and s["counts"]["before"] == {"R": 0, "F": 0, "C": 2}
    assert s["removed_pct"] == 50.0 and s["not_clear_pct"] == 100.0 and s["before_clear_pct"] == 100.0
    assert s["per_sample"] == {0: {"before": "C", "after": "R"}, 1: {"after": "F", "before": "C"}}
    assert s["clear_before"] == {"n": 2, "R": 1, "F": 1, "C": 0}
    assert score_marks("FFRC", hand)["clear_before"] == {"n": 1, "R": 0, "F": 1, "C": 0}   # sample 1 only
    with pytest.raises(ValueError, match="4 tiles"):
        score_marks("CFR", hand)
    with pytest.raises(ValueError, match="X"):
        score_marks("CFRX", hand)


def test_feature_direction_and_steer_by_hand():
    """Latents with the feature at (2, 0), without at (0, -1) and (0, 1): d = (1, 0) after normalising; the
    no-feature side's mean component is 0, so t = -margin; clamp moves only latents above t, set moves all."""
    from atu.latent import feature_direction, steer

    d, t = feature_direction(torch.tensor([[2.0, 0.0], [2.0, 0.0]]), torch.tensor([[0.0, -1.0], [0.0, 1.0]]), 0.5)
    assert torch.allclose(d, torch.tensor([1.0, 0.0])) and t == -0.5
    z = torch.tensor([[3.0, 1.0], [-1.0, 1.0]])
    assert torch.allclose(steer(z, d, t), torch.tensor([[-0.5, 1.0], [-1.0, 1.0]]))           # clamp
    assert torch.allclose(steer(z, d, t, "set"), torch.tensor([[-0.5, 1.0], [-0.5, 1.0]]))    # set
    with pytest.raises(ValueError, match="too few"):
        feature_direction(torch.zeros(1, 2), torch.zeros(5, 2), 0.5)
