"""rnpa.augment: the named augmentations and the exact pad-and-crop."""

from __future__ import annotations

import numpy as np
import pytest

from rnpa import data as rdata


@pytest.fixture(scope="module")
def flowers32():
    return rdata.load_flowers32()


# ----------------------------------------------------------------------------
# augmentation
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(rdata.AUGMENTATIONS))
def test_augmentation_keeps_shape_and_changes_pixels(name, flowers32):
    x = rdata.load("flowers32", augment="none", limit=16).normalize(flowers32.train[0][:16])
    aug = rdata.make_augmentation(name, 32, seed=1)
    a = np.asarray(aug(x, training=True))
    b = np.asarray(aug(x, training=True))
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.isfinite(a).all()
    if name == "none":
        np.testing.assert_array_equal(a, x)
    else:
        assert not np.allclose(a, x)  # changes pixels
        assert not np.allclose(a, b)  # differently each call
    # inference: no augmentation
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)


def _is_shifted_copy(out, img, pad=4):
    """Whether ``out`` is ``img`` (or its mirror) moved by whole pixels, zeros filled in."""
    padded = [np.pad(v, ((pad, pad), (pad, pad), (0, 0))) for v in (img, img[:, ::-1])]
    h, w = img.shape[:2]
    return any(
        np.array_equal(out, p[dy : dy + h, dx : dx + w])
        for p in padded for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
    )  # fmt: skip


def test_default_augmentation_is_flip_and_crop_without_interpolation(flowers32):
    from rnpa.recipes import RECIPES

    # the default moves each image by whole pixels (and mirrors it): no resampling,
    # which blurs 32x32 images (flowers32 did better without the zoom, bench/README.md)
    assert rdata.DEFAULT_AUGMENTATION == "crop"
    assert rdata.load("flowers32", limit=8).augment == "crop"
    assert rdata.load("flowers32", limit=8, augment=True).augment == "crop"
    assert RECIPES["default"].augment == "crop"
    x = rdata.load("flowers32", augment="none", limit=8).normalize(flowers32.train[0][:8])
    crop = np.asarray(rdata.make_augmentation("default", 32, seed=2)(x, training=True))
    assert all(_is_shifted_copy(o, i) for o, i in zip(crop, x, strict=True))
    zoom = np.asarray(rdata.make_augmentation("original", 32, seed=2)(x, training=True))
    assert not all(_is_shifted_copy(o, i) for o, i in zip(zoom, x, strict=True))
    assert "zoom" not in rdata.AUGMENTATIONS  # measured no help (bench/README.md): removed


def test_augmented_pipeline_differs_between_epochs():
    d = rdata.load("flowers32", batch_size=64, augment="crop", shuffle=False, limit=64)
    a = next(iter(d.train))[0].numpy()
    b = next(iter(d.train))[0].numpy()
    assert a.shape == b.shape == (64, 32, 32, 3)
    assert not np.allclose(a, b)


def test_pad_and_crop_is_an_exact_shifted_window():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 255, size=(8, 12, 10, 3)).astype(np.float32)
    out = np.asarray(rdata.pad_and_crop(x, pad=2, seed=3))
    assert out.shape == x.shape
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for i in range(len(x)):
        matches = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if np.array_equal(padded[i, dy : dy + 12, dx : dx + 10], out[i])
        ]
        assert matches, f"image {i} is not a window of the padded image"


def test_pad_and_crop_needs_no_crop_and_resize():
    """The crop gathers whole pixels: no CropAndResize op, whose cost model printed a
    warning into every epoch's progress bar."""
    import tensorflow as tf

    fn = tf.function(lambda x: rdata.pad_and_crop(x, pad=4, seed=1))
    graph = fn.get_concrete_function(tf.TensorSpec((None, 32, 32, 3), tf.float32)).graph
    ops = {op.type for op in graph.get_operations()}
    assert "CropAndResize" not in ops and "GatherV2" in ops


def test_augmentation_names_import_no_tensorflow():
    import subprocess
    import sys

    code = "import sys, rnpa.augment as a; print(len(a.AUGMENTATIONS), 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(rdata.AUGMENTATIONS)), "False"]
