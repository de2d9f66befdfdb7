"""rnpa.data: load(), the pipelines, augmentation, folders, downloads (all offline)."""

from __future__ import annotations

import hashlib
import io
import tarfile

import keras
import numpy as np
import pytest

from rnpa import data as rdata


@pytest.fixture(scope="module")
def flowers32():
    return rdata.load_flowers32()


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    """PNG bytes of an RGB uint8 image, as grayscale (``"L"``) or RGBA when asked."""
    import tensorflow as tf

    if mode == "L":
        array = np.round(array.astype(np.float32) @ [0.299, 0.587, 0.114])[..., None]
    elif mode == "RGBA":
        array = np.concatenate([array, np.full(array.shape[:2] + (1,), 200)], axis=-1)
    return tf.io.encode_png(array.astype(np.uint8)).numpy()


def _jpeg(array: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    """JPEG bytes of an RGB uint8 image, first resized (nearest) to ``size`` = (w, h)."""
    import tensorflow as tf

    if size:
        array = tf.image.resize(array, (size[1], size[0]), method="nearest").numpy()
    return tf.io.encode_jpeg(array.astype(np.uint8), quality=95).numpy()


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
    from rnpa.train import RECIPES

    # the default moves each image by whole pixels (and mirrors it): no resampling,
    # which blurs 32x32 images (flowers32 did better without the zoom, bench/README.md)
    assert rdata.DEFAULT_AUGMENTATION == "crop"
    assert rdata.load("flowers32", limit=8).augment == "crop"
    assert rdata.load("flowers32", limit=8, augment=True).augment == "crop"
    assert RECIPES["default"].augment == "crop"
    x = rdata.load("flowers32", augment="none", limit=8).normalize(flowers32.train[0][:8])
    crop = np.asarray(rdata.make_augmentation("default", 32, seed=2)(x, training=True))
    assert all(_is_shifted_copy(o, i) for o, i in zip(crop, x, strict=True))
    zoom = np.asarray(rdata.make_augmentation("zoom", 32, seed=2)(x, training=True))
    assert not all(_is_shifted_copy(o, i) for o, i in zip(zoom, x, strict=True))


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


# ----------------------------------------------------------------------------
# folder
# ----------------------------------------------------------------------------
def _write_folder(root, flowers32, per_class=6):
    x, y = flowers32.train
    for c, name in enumerate(flowers32.class_names):
        (root / name).mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(y == c)[:per_class]):
            (root / name / f"img{k}.jpg").write_bytes(_jpeg(x[i], size=(48, 40)))
    return root


def test_folder_loads_and_converts_grayscale_and_rgba(tmp_path, flowers32):
    root = _write_folder(tmp_path / "photos", flowers32)
    img = flowers32.train[0][0]
    (root / "daisy" / "gray.png").write_bytes(_png(img, "L"))
    (root / "daisy" / "alpha.png").write_bytes(_png(img, "RGBA"))
    (root / "daisy" / "notes.txt").write_text("not an image, ignored")
    d = rdata.load("folder", directory=root, batch_size=4, val_fraction=0.2, test_fraction=0.2)
    assert d.class_names == rdata.FLOWERS32_CLASSES  # sorted sub-folder names
    assert sum(d.sizes.values()) == 5 * 6 + 2
    assert d.image_shape == (32, 32, 3)
    for split in ("train", "val", "test"):
        assert len(np.unique(d.arrays.__getattribute__(split)[1])) == 5  # stratified
    files = np.concatenate(list(d.arrays.files.values()))
    assert "daisy/gray.png" in files and "daisy/alpha.png" in files
    gray = rdata.decode_image(_png(img, "L"), (32, 32))
    assert gray.shape == (32, 32, 3) and np.array_equal(gray[..., 0], gray[..., 2])
    x, _ = next(iter(d.train))
    assert x.shape[1:] == (32, 32, 3)
    # the same seed gives the same split
    again = rdata.read_folder(root, val_fraction=0.2, test_fraction=0.2)
    np.testing.assert_array_equal(again.files["test"], d.arrays.files["test"])


def test_folder_corrupt_file(tmp_path, flowers32):
    root = _write_folder(tmp_path / "photos", flowers32, per_class=3)
    (root / "roses" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(ValueError, match=r"roses/broken\.jpg.*skip_corrupt"):
        rdata.load("folder", directory=root, val_fraction=0.34, test_fraction=0.34)
    with pytest.warns(UserWarning, match="broken.jpg"):
        d = rdata.load("folder", directory=root, skip_corrupt=True, val_fraction=0, test_fraction=0)
    assert d.sizes["train"] == 15


def test_folder_errors(tmp_path, flowers32):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rdata.load("folder", directory=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        rdata.load("folder", directory=tmp_path / "empty")
    root = _write_folder(tmp_path / "photos", flowers32, per_class=2)
    (root / "tulips_extra").mkdir()
    (root / "tulips_extra" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="tulips_extra.*no image files"):
        rdata.load("folder", directory=root)


def test_folder_from_a_macos_zip_ignores_its_metadata(tmp_path, flowers32):
    """``__MACOSX/`` and ``._*`` AppleDouble files, as a macOS zip leaves them."""
    root = _write_folder(tmp_path / "photos", flowers32, per_class=3)
    for cls in ("__MACOSX", "__MACOSX/daisy"):
        (root / cls).mkdir(parents=True, exist_ok=True)
    (root / "__MACOSX" / "daisy" / "._img0.jpg").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (root / "daisy" / "._img0.jpg").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (root / "roses" / ".hidden").mkdir()
    (root / "roses" / ".hidden" / "img.jpg").write_bytes(b"not read")
    for skip in (False, True):
        d = rdata.read_folder(root, val_fraction=0, test_fraction=0, skip_corrupt=skip)
        assert d.class_names == rdata.FLOWERS32_CLASSES
        assert len(d.train[1]) == 5 * 3
        assert not [f for f in d.files["train"] if "._" in f or ".hidden" in f]


def test_folder_with_one_class_names_the_folder(tmp_path, flowers32):
    root = tmp_path / "one"
    (root / "daisy").mkdir(parents=True)
    (root / "daisy" / "a.jpg").write_bytes(_jpeg(flowers32.train[0][0]))
    with pytest.raises(ValueError, match=r"'.*one' holds 1 class sub-folder \('daisy'\).*least 2"):
        rdata.read_folder(root)


def test_folder_too_small_to_split_fails_before_decoding(tmp_path, flowers32, monkeypatch):
    root = _write_folder(tmp_path / "tiny", flowers32, per_class=2)

    def no_decoding(*args, **kwargs):
        raise AssertionError("images were decoded before the split sizes were checked")

    monkeypatch.setattr(rdata, "decode_image", no_decoding)
    # 2 images a class: 10% of 2 rounds to 0 images in val and test
    with pytest.raises(ValueError, match=r"'.*tiny'.*val split.*empty.*val_fraction=0.1"):
        rdata.read_folder(root)
    with pytest.raises(ValueError, match=r"'.*tiny'.*train split.*empty"):
        rdata.read_folder(root, val_fraction=0.5, test_fraction=0.5)


# ----------------------------------------------------------------------------
# flowers: the download path, served from local files (never the network)
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flowers_archive(tmp_path_factory, flowers32):
    """A small flower_photos.tgz: 4 photos per split from flowers32, upscaled to 64x64."""
    path = tmp_path_factory.mktemp("archive") / "flower_photos.tgz"
    chosen = {}
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "val", "test"):
            x, _ = getattr(flowers32, split)
            for i in range(0, 4 * 50, 50):
                name = f"flower_photos/{flowers32.files[split][i]}"
                data = _jpeg(x[i], size=(64, 64))
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                chosen.setdefault(split, []).append(i)
        extra = tarfile.TarInfo("flower_photos/LICENSE.txt")
        extra.size = 3
        tar.addfile(extra, io.BytesIO(b"abc"))
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), chosen


def test_flowers_download_from_local_url(tmp_path, flowers_archive, flowers32):
    path, sha, chosen = flowers_archive
    d = rdata.load(
        "flowers", url=path.as_uri(), file_hash=sha, cache_dir=tmp_path, batch_size=4, image_size=24
    )
    assert (tmp_path / "datasets" / "flower_photos.tgz").is_file()  # cached
    assert d.sizes == {"train": 4, "val": 4, "test": 4}
    assert d.image_shape == (24, 24, 3)
    for split in ("train", "val", "test"):
        # each photo lands in its flowers32 split with its flowers32 label
        np.testing.assert_array_equal(
            d.arrays.files[split], flowers32.files[split][chosen[split]]
        )
        np.testing.assert_array_equal(
            getattr(d.arrays, split)[1], getattr(flowers32, split)[1][chosen[split]]
        )
    # at 32x32 the decoded photos are close to flowers32's own images
    d32 = rdata.read_flowers(path, 32)
    diff = np.abs(d32.train[0].astype(int) - flowers32.train[0][chosen["train"]].astype(int))
    assert diff.mean() < 8


def test_decode_image_centre_crops_to_the_target_aspect():
    img = np.zeros((20, 60, 3), np.uint8)
    img[:, :20, 0] = 255  # red left third
    img[:, 20:40, 1] = 255  # green middle
    img[:, 40:, 2] = 255  # blue right third
    out = rdata.decode_image(_png(img), (10, 10))
    assert out.shape == (10, 10, 3)
    assert out[..., 1].min() > 200 and out[..., 0].max() < 50 and out[..., 2].max() < 50
    with pytest.raises(ValueError, match="cannot read image x.jpg"):
        rdata.decode_image(b"garbage", (10, 10), source="x.jpg")


def test_flowers_prefilled_cache_needs_no_download(tmp_path, flowers_archive):
    path, sha, _ = flowers_archive
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "flower_photos.tgz").write_bytes(path.read_bytes())
    url = (tmp_path / "nowhere" / "flower_photos.tgz").as_uri()  # would fail if fetched
    d = rdata.load("flowers", url=url, file_hash=sha, cache_dir=tmp_path, batch_size=4)
    assert d.sizes["train"] == 4


def test_flowers_download_failure_names_url_and_flowers32(tmp_path):
    url = (tmp_path / "missing" / "flower_photos.tgz").as_uri()
    with pytest.raises(ConnectionError) as info:
        rdata.load("flowers", url=url, cache_dir=tmp_path)
    assert url in str(info.value) and "flowers32" in str(info.value)
    assert not (tmp_path / "datasets" / "flower_photos.tgz").exists()


def test_flowers_checksum_mismatch(tmp_path, flowers_archive):
    path, _, _ = flowers_archive
    with pytest.raises(ConnectionError, match="flowers32"):
        rdata.load("flowers", url=path.as_uri(), file_hash="0" * 64, cache_dir=tmp_path)


def test_flowers_default_source_is_pinned():
    assert rdata.FLOWERS_URL.endswith("flower_photos.tgz")
    assert len(rdata.FLOWERS_SHA256) == 64


# ----------------------------------------------------------------------------
# cifar (keras.datasets, monkeypatched: no download)
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_through_keras_datasets(monkeypatch, name, classes):
    rng = np.random.default_rng(0)

    def fake_load_data():
        y = np.repeat(np.arange(classes), 4).reshape(-1, 1).astype(np.uint8)
        x = rng.integers(0, 255, (len(y), 32, 32, 3), dtype=np.uint8)
        return (x, y), (x[:classes], y[:classes])

    monkeypatch.setattr(getattr(keras.datasets, name), "load_data", fake_load_data)
    d = rdata.load(name, batch_size=16, val_fraction=0.25, image_size=16)
    assert d.num_classes == classes
    assert d.sizes == {"train": 3 * classes, "val": classes, "test": classes}
    assert d.image_shape == (16, 16, 3)
    if name == "cifar10":
        assert d.class_names[0] == "airplane"


def test_cifar_load_failure_is_a_connection_error(monkeypatch):
    def offline():
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/...")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(ConnectionError, match="flowers32"):
        rdata.load("cifar10")


# ----------------------------------------------------------------------------
# MixUp / CutMix
# ----------------------------------------------------------------------------
def _constant_batch(n=8, size=16, classes=8):
    """Image i is filled with the value i + 1 and has class i: pixels tell the source."""
    x = np.repeat(np.arange(1, n + 1, dtype=np.float32), size * size * 3).reshape(n, size, size, 3)
    y = np.eye(classes, dtype=np.float32)[np.arange(n)]
    return x, y


def test_cutmix_labels_are_the_pixel_shares():
    mix = rdata.make_mixing(cutmix=1.0, seed=0)
    x, y = _constant_batch()
    changed = 0
    for _ in range(5):  # a new draw each call
        xm, ym = (t.numpy() for t in mix(x, y))
        assert xm.shape == x.shape and ym.shape == y.shape
        np.testing.assert_allclose(ym.sum(axis=1), 1.0, atol=1e-6)
        for i in range(len(x)):
            values, counts = np.unique(xm[i, ..., 0], return_counts=True)
            assert len(values) <= 2  # own pixels and one pasted rectangle
            shares = dict(zip((values - 1).astype(int), counts / counts.sum(), strict=True))
            for cls, share in shares.items():
                assert abs(ym[i, cls] - share) < 1e-5, (i, cls, share, ym[i])
            changed += len(values) == 2
    assert changed > 0


def test_mixup_blends_images_and_labels_alike():
    mix = rdata.make_mixing(mixup=0.4, seed=1)
    x, y = _constant_batch()
    xm, ym = (t.numpy() for t in mix(x, y))
    for i in range(len(x)):
        value = xm[i, 0, 0, 0]
        np.testing.assert_allclose(xm[i], value, atol=1e-5)  # a blend of two constants
        # the label weights reproduce the pixel value: sum_k w_k * (k + 1)
        np.testing.assert_allclose(ym[i] @ np.arange(1, 9), value, rtol=1e-5)
    np.testing.assert_allclose(ym.sum(axis=1), 1.0, atol=1e-6)


def test_mixing_is_seeded_and_off_by_default():
    x, y = _constant_batch()
    a = rdata.make_mixing(mixup=0.2, cutmix=1.0, seed=3)
    b = rdata.make_mixing(mixup=0.2, cutmix=1.0, seed=3)
    for _ in range(3):
        np.testing.assert_array_equal(a(x, y)[0].numpy(), b(x, y)[0].numpy())
    assert rdata.make_mixing() is None
    for bad, exc in (({"mixup": -0.1}, ValueError), ({"cutmix": float("nan")}, ValueError),
                     ({"mixup": True}, TypeError)):  # fmt: skip
        with pytest.raises(exc, match=next(iter(bad))):
            rdata.make_mixing(**bad)
