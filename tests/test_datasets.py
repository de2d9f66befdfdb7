"""rnpa.datasets: the readers (folders, the flowers download, CIFAR) and the registry."""

from __future__ import annotations

import hashlib
import io
import tarfile

import keras
import numpy as np
import pytest

from rnpa import data as rdata
from rnpa import datasets as rdatasets


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
        np.testing.assert_array_equal(d.arrays.files[split], flowers32.files[split][chosen[split]])
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
# the registry
# ----------------------------------------------------------------------------
def test_registry_names_every_dataset_load_takes():
    assert rdatasets.DATASETS == ("flowers32", "flowers", "cifar10", "cifar100", "folder")
    assert rdata.DATASETS == rdatasets.DATASETS
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; known datasets: flowers32"):
        rdata.load("mnist")


def test_a_registered_dataset_loads_through_load(monkeypatch, flowers32):
    monkeypatch.setattr(rdatasets, "REGISTRY", dict(rdatasets.REGISTRY))
    seen = {}

    @rdatasets.register_dataset("tiny", options=("val_fraction",), default_size=None)
    def read_tiny(size, *, seed, val_fraction):
        seen.update(size=size, seed=seed, val_fraction=val_fraction)
        x, y = flowers32.train
        return rdatasets.ArraySplits(
            (x[:20], y[:20]), (x[20:30], y[20:30]), (x[30:40], y[30:40]), flowers32.class_names
        )

    data = rdata.load("tiny", batch_size=4, val_fraction=0.2, seed=3)
    assert seen == {"size": None, "seed": 3, "val_fraction": 0.2}
    assert data.sizes == {"train": 20, "val": 10, "test": 10} and data.name == "tiny"
    with pytest.raises(ValueError, match="directory is only used with name='folder'"):
        rdata.load("tiny", directory="/tmp")


def test_dataset_names_import_no_tensorflow():
    import subprocess
    import sys

    code = "import sys, rnpa.datasets as d; print(len(d.DATASETS), 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["5", "False"]
