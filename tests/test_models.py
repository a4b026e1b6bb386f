import json

import pytest
import torch

import atu
from atu.models import (CheckpointError, DCGANDiscriminator, DCGANGenerator, DigitClassifier, DigitResNet,
                        load_model)


@pytest.mark.parametrize("make, inp", [
    (lambda: DCGANGenerator(latent_dim=16, width=8), lambda: torch.randn(4, 16)),
    (lambda: DCGANGenerator(latent_dim=16, channels=3, image_size=64, width=8), lambda: torch.randn(4, 16)),
    (lambda: DCGANDiscriminator(width=8), lambda: torch.rand(4, 1, 32, 32) * 2 - 1),
    (lambda: DCGANDiscriminator(width=8, spectral_norm=True), lambda: torch.rand(4, 1, 32, 32) * 2 - 1),
    (lambda: DigitClassifier(width=8, feature_dim=16), lambda: torch.rand(4, 1, 32, 32) * 2 - 1),
    (lambda: DigitResNet(width=8), lambda: torch.rand(4, 1, 32, 32) * 2 - 1),
])
def test_save_load_round_trip_identical(tmp_path, make, inp):
    torch.manual_seed(0)
    m = make().eval()
    x = inp()
    m.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not (tmp_path / "pytorch_model.bin").exists()
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["family"] == m.family and cfg["kind"] == m.kind
    m2 = load_model(tmp_path)
    assert type(m2) is type(m) and not m2.training
    assert torch.equal(m(x), m2(x))


def test_generator_interface_and_range():
    G = DCGANGenerator(latent_dim=16, width=8)
    out = G(torch.randn(3, G.latent_dim))
    assert out.shape == (3, *G.image_shape) and out.abs().max() <= 1


def test_mismatched_checkpoint_is_a_clear_error(tmp_path):
    DCGANGenerator(latent_dim=16, width=8).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(cfg, width=16)))
    with pytest.raises(CheckpointError, match="do not match"):
        atu.load_generator(tmp_path)


def test_bad_paths_and_kinds(tmp_path):
    with pytest.raises(CheckpointError, match="neither a model folder"):
        atu.load_generator(tmp_path / "nope")
    # a relative path that does not exist reads as a repo id; offline and not cached, the message names both
    with pytest.raises(CheckpointError, match="not a local folder .* nor reachable"):
        atu.load_generator("checkpoints/no-such-model", local_files_only=True)
    with pytest.raises(CheckpointError, match="no config.json"):
        atu.load_generator(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        atu.load_generator(tmp_path)
    DigitClassifier(width=8, feature_dim=16).save_pretrained(tmp_path / "c")
    with pytest.raises(CheckpointError, match="not a generator"):
        atu.load_generator(tmp_path / "c")
    # a folder with a pickle but no safetensors is refused
    DCGANGenerator(latent_dim=16, width=8).save_pretrained(tmp_path / "g")
    (tmp_path / "g" / "model.safetensors").rename(tmp_path / "g" / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="only safetensors"):
        atu.load_generator(tmp_path / "g")


def test_corrupt_weights_file(tmp_path):
    DCGANGenerator(latent_dim=16, width=8).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        atu.load_generator(tmp_path)


def test_channels_last_gives_the_same_images_and_restores_the_layout(tmp_path):
    """The faster layout changes only float rounding, and the module comes back contiguous: it still saves to
    safetensors and flattens with parameters_to_vector. A module already channels-last stays so (nested use)."""
    from torch.nn.utils import parameters_to_vector

    from atu.runtime import channels_last

    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=8, width=4).eval()
    z = torch.randn(5, 8)
    with torch.no_grad():
        ref = G(z)
        with channels_last(G):
            assert G.net[0].weight.is_contiguous(memory_format=torch.channels_last)
            with channels_last(G):
                pass
            assert G.net[0].weight.is_contiguous(memory_format=torch.channels_last)  # the inner exit kept it
            out = G(z)
    assert torch.allclose(out, ref, atol=1e-5)
    assert all(p.is_contiguous() for p in G.parameters())
    parameters_to_vector(G.parameters())   # view(-1) inside: raises on a channels-last tensor


def test_inference_leaves_a_shared_module_alone():
    """generate/classify work on a private copy: the caller's module keeps its layout and its train mode (the app
    shares one base model between sessions' threads), and a channels-last module still flattens."""
    from atu.adapt import flatten
    from atu.metrics import classify
    from atu.runtime import inference_copy
    from atu.sampling import generate

    torch.manual_seed(0)
    G, C = DCGANGenerator(latent_dim=8, width=4).train(), DigitClassifier(width=4, feature_dim=8).train()
    z = torch.randn(6, 8)
    x = generate(G, z)
    classify(C, x)
    assert G.training and C.training and all(p.is_contiguous() for p in [*G.parameters(), *C.parameters()])
    copy_ = inference_copy(G)
    assert not copy_.training and copy_.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.allclose(copy_(z), G.eval()(z), atol=1e-5)
    assert torch.equal(flatten(copy_), flatten(G))


def test_inference_batch_is_the_modules_own_on_the_cpu_and_does_not_change_results():
    """generate and the classifiers run in CPU_BATCH (or a family's cpu_batch, the DDPM's 32) unless told; the
    images and labels are the same whatever the batch, up to float rounding (the speed-up changes nothing a metric
    reads; on the shipped models they are equal bit for bit)."""
    from atu.diffusion import DDPMGenerator
    from atu.metrics import labels_and_features
    from atu.runtime import CPU_BATCH, inference_batch
    from atu.sampling import generate

    torch.manual_seed(0)
    G, C = DCGANGenerator(latent_dim=8, width=4), DigitClassifier(width=4, feature_dim=8)
    assert inference_batch(G) == inference_batch(C) == CPU_BATCH and inference_batch(G, 7) == 7
    assert inference_batch(DDPMGenerator(block_out_channels=(8, 8), norm_num_groups=4)) == DDPMGenerator.cpu_batch == 32
    z = torch.randn(300, 8)
    x = generate(G, z)
    assert torch.allclose(x, generate(G, z, batch_size=7), atol=1e-6)
    y, f = labels_and_features(C, x)
    y7, f7 = labels_and_features(C, x, batch_size=7)
    assert torch.equal(y, y7) and torch.allclose(f, f7, atol=1e-6)
    seen = []   # and they do split by it: a module's own cpu_batch is the batch its copy runs in
    G.cpu_batch = 64
    G.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    generate(G, z)
    assert seen == [64] * 4 + [300 - 4 * 64]


def test_spectral_norm_discriminator_has_no_batchnorm_and_unit_norm_weights():
    D = DCGANDiscriminator(width=8, spectral_norm=True).train()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    for _ in range(30):   # power iterations converge in train mode
        D(torch.rand(2, 1, 32, 32))
    w = D.net[0].weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(w, ord=2) == pytest.approx(1.0, abs=0.05)


class _Fixed(torch.nn.Module):
    """A 'classifier' that returns the same logits for every image."""

    def __init__(self, logits, input_range=(-1.0, 1.0)):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits), requires_grad=False)   # a parameter: readers look up its device
        self.input_range, self.num_classes = input_range, len(logits)

    def forward(self, x):
        return self.logits.expand(len(x), -1)


def test_classifier_ensemble_is_the_mean_of_its_members_probabilities():
    """Hand-worked: softmax(0, 0) = (1/2, 1/2) and softmax(log 3, 0) = (3/4, 1/4) average to (5/8, 3/8); the
    ensemble's logits are that mean's log, so every classifier reader (classify, class_probabilities) takes it.
    Its primary is the first member; members that disagree on classes or range are refused."""
    import math

    from atu.metrics import class_probabilities, classify
    from atu.models import ClassifierEnsemble

    a, b = _Fixed([0.0, 0.0]), _Fixed([math.log(3.0), 0.0])
    E = ClassifierEnsemble([a, b])
    x = torch.zeros(2, 1, 4, 4)
    assert torch.allclose(E(x), torch.tensor([[math.log(5 / 8), math.log(3 / 8)]] * 2))
    assert torch.allclose(class_probabilities(E, x), torch.tensor([[5 / 8, 3 / 8]] * 2))
    assert classify(E, x).tolist() == [0, 0] and E.primary is a
    with pytest.raises(CheckpointError, match="share"):
        ClassifierEnsemble([a, _Fixed([0.0, 0.0, 0.0])])
    with pytest.raises(CheckpointError, match="share"):
        ClassifierEnsemble([a, _Fixed([0.0, 0.0], input_range=(0.0, 1.0))])
