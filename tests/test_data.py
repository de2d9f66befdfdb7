"""rnpa.data: load() and the pipelines it builds (all offline)."""

from __future__ import annotations

import numpy as np
import pytest

from rnpa import data as rdata


@pytest.fixture(scope="module")
def flowers32():
    return rdata.load_flowers32()


# ----------------------------------------------------------------------------
# load("flowers32") and the pipelines
# ----------------------------------------------------------------------------
def test_load_flowers32_pipelines(flowers32):
    d = rdata.load("flowers32", batch_size=64, augment="none", shuffle=False)
    assert d.class_names == rdata.FLOWERS32_CLASSES
    assert d.sizes == {"train": 2931, "val": 367, "test": 367}
    assert d.image_shape == (32, 32, 3) and d.num_classes == 5
    assert d.steps_per_epoch == 46
    x, y = next(iter(d.train))
    assert x.shape == (64, 32, 32, 3) and x.dtype == "float32" and y.dtype == "int32"
    # normalised with the training split's statistics
    raw = flowers32.train[0][:64]
    np.testing.assert_allclose(x.numpy(), d.normalize(raw), atol=1e-5)
    full = d.normalize(flowers32.train[0]).astype(np.float64)
    np.testing.assert_allclose(full.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(full.std(axis=(0, 1, 2)), 1, atol=1e-3)
    np.testing.assert_array_equal(y.numpy(), flowers32.train[1][:64])
    # val and test: whole splits, in order, not augmented
    ys = np.concatenate([b[1].numpy() for b in d.test])
    np.testing.assert_array_equal(ys, flowers32.test[1])


def test_pipelines_run_without_autotune():
    # the autotuner's teardown stalled every new epoch's iterator (see pipeline_options)
    d = rdata.load("flowers32", batch_size=32, limit=64)
    for split in (d.train, d.val, d.test):
        assert split.options().autotune.enabled is False


def test_limit_keeps_classes_mixed():
    d = rdata.load("flowers32", batch_size=32, limit=100)
    assert d.sizes == {"train": 100, "val": 100, "test": 100}
    assert len(np.unique(d.arrays.train[1])) == 5


def test_load_image_size_resizes():
    d = rdata.load("flowers32", batch_size=8, image_size=16, limit=16)
    assert d.image_shape == (16, 16, 3)
    assert next(iter(d.train))[0].shape == (8, 16, 16, 3)


def test_shuffle_changes_order_each_epoch():
    d = rdata.load("flowers32", batch_size=256, augment="none", limit=256)
    first = next(iter(d.train))[1].numpy()
    second = next(iter(d.train))[1].numpy()
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"name": "imagenet"}, ValueError, ["imagenet", "flowers32", "cifar10", "folder"]),
        ({"name": 3}, TypeError, ["name", "flowers32"]),
        ({"batch_size": 0}, ValueError, ["batch_size", ">= 1"]),
        ({"batch_size": 2.5}, TypeError, ["batch_size"]),
        ({"augment": "mixup"}, ValueError, ["augment", "'crop'"]),
        ({"image_size": (32,)}, TypeError, ["image_size"]),
        ({"image_size": 4}, ValueError, ["image_size", "8"]),
        ({"name": "folder"}, ValueError, ["directory"]),
        ({"directory": "/tmp"}, ValueError, ["directory", "folder"]),
        ({"val_fraction": 0.9}, ValueError, ["val_fraction"]),
    ],
)
def test_load_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc) as info:
        rdata.load(**kwargs)
    for w in words:
        assert w in str(info.value)
