"""Datasets: the readers that turn a source into arrays, and the registry that names them.

Each reader returns an :class:`ArraySplits` (uint8 images and int labels of the
train, val and test splits, with class names); :func:`rnpa.data.load` turns that
into ``tf.data`` pipelines. The registry maps a dataset's name to its reader, the
:func:`rnpa.data.load` options the reader takes, and its default image size:

* ``flowers32``: the embedded flower photos at 32x32 (offline);
* ``flowers``: the full-size photos, downloaded once;
* ``cifar10``, ``cifar100``: through ``keras.datasets``;
* ``folder``: any folder with one sub-folder of images per class.

To add a dataset, write ``read_<name>(size, *, seed, **options) -> ArraySplits``
and decorate it with :func:`register_dataset`. Keras and TensorFlow are imported
only when a reader runs, so the names load at once (the command line lists them).
"""

from __future__ import annotations

import numbers
import os
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnpa._checks import check_choice, check_positive_int
from rnpa._files import asset_path

#: the five classes of flowers32, label i is CLASS_NAMES[i]
FLOWERS32_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")

#: the full-size flower photos (the archive flowers32 was made from)
FLOWERS_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
)
#: SHA-256 of FLOWERS_URL (as recorded by TensorFlow Datasets for tf_flowers)
FLOWERS_SHA256 = "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"

#: file name endings :func:`load` reads as images in a folder
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


@dataclass(frozen=True)
class ArraySplits:
    """Train, validation and test arrays of an image dataset, with class names.

    ``train``, ``val`` and ``test`` are ``(images, labels)`` pairs: images uint8
    ``(N, height, width, 3)``, labels integer ``(N,)``; label ``i`` is
    ``class_names[i]``. ``files`` maps each split to the source of each image.
    """

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: tuple[str, ...]
    files: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image, ``(height, width, channels)``."""
        return tuple(self.train[0].shape[1:])


def load_flowers32() -> ArraySplits:
    """Load the embedded flowers32 dataset.

    Returns
    -------
    ArraySplits
        train 2931, val 367, test 367 images, uint8 32x32x3, labels 0..4 for
        daisy, dandelion, roses, sunflowers, tulips.

    Notes
    -----
    The photos are CC BY 2.0 by their photographers, centre-cropped and resized
    to 32x32; ``rnpa/assets/LICENSE.txt`` credits each one.
    """
    with np.load(asset_path("flowers32.npz"), allow_pickle=False) as d:
        return ArraySplits(
            train=(d["x_train"], d["y_train"].astype(np.int32)),
            val=(d["x_val"], d["y_val"].astype(np.int32)),
            test=(d["x_test"], d["y_test"].astype(np.int32)),
            class_names=tuple(str(c) for c in d["class_names"]),
            files={s: d[f"files_{s}"] for s in ("train", "val", "test")},
        )


def _check_fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 0.5], got {value!r}")
    if not 0 <= value <= 0.5:
        raise ValueError(f"{name} must be a number in [0, 0.5], got {value!r}")
    return float(value)


def _image_size(image_size: Any) -> tuple[int, int] | None:
    """``None``, an int or ``(height, width)`` as ``(height, width)``."""
    if image_size is None:
        return None
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        isinstance(image_size, (str, bytes))
        or not isinstance(image_size, Sequence)
        or len(image_size) != 2
        or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in image_size)
    ):
        raise TypeError(
            f"image_size must be None, an int or (height, width) ints, got {image_size!r}"
        )
    if min(image_size) < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {tuple(image_size)!r}")
    return int(image_size[0]), int(image_size[1])


def decode_image(data: bytes, image_size: tuple[int, int] | None, source: str = "") -> np.ndarray:
    """Decode JPEG/PNG/BMP/GIF bytes to uint8 RGB, centre-cropped and resized.

    Grayscale images are repeated to 3 channels and RGBA drops its alpha.

    Parameters
    ----------
    data : bytes
        The encoded file.
    image_size : (int, int) or None
        ``(height, width)``: the largest centred crop of that aspect ratio is
        resized to it (area-preserving, antialiased); ``None`` keeps the size.
    source : str
        Name of the file, for the error message.

    Returns
    -------
    numpy.ndarray
        uint8 ``(height, width, 3)``.

    Raises
    ------
    ValueError
        If the bytes are not a readable image.
    """
    import tensorflow as tf

    try:
        img = tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"cannot read image {source or '(bytes)'}: {msg}") from None
    if image_size is None:
        return img.numpy()
    h, w = int(img.shape[0]), int(img.shape[1])
    th, tw = image_size
    # largest centred crop with the target aspect ratio, then resize
    scale = min(h / th, w / tw)
    ch, cw = max(1, round(th * scale)), max(1, round(tw * scale))
    top, left = (h - ch) // 2, (w - cw) // 2
    img = img[top : top + ch, left : left + cw]
    img = tf.image.resize(img, (th, tw), method="area" if ch >= th else "bilinear", antialias=True)
    return np.clip(np.round(img.numpy()), 0, 255).astype(np.uint8)


def _stratified_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of a stratified train/val/test split, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_val = round(len(idx) * val_fraction)
        n_test = round(len(idx) * test_fraction)
        parts[1] += idx[:n_val].tolist()
        parts[2] += idx[n_val : n_val + n_test].tolist()
        parts[0] += idx[n_val + n_test :].tolist()
    return tuple(np.sort(np.array(p, dtype=np.int64)) for p in parts)  # type: ignore[return-value]


def _stack(images: list[np.ndarray], size: tuple[int, int] | None) -> np.ndarray:
    if not images:
        h, w = size or (32, 32)
        return np.zeros((0, h, w, 3), np.uint8)
    return np.stack(images).astype(np.uint8)


def _ignored(name: str) -> bool:
    """Hidden entries, and what a macOS zip adds: ``__MACOSX/`` and ``._*`` files."""
    return name.startswith(".") or name == "__MACOSX"


def _check_split_sizes(
    root: Path, labels: np.ndarray, val_fraction: float, test_fraction: float
) -> None:
    """Raise, naming the folder, if a split of the stratified split would be empty."""
    sizes = dict.fromkeys(("train", "val", "test"), 0)
    for c in np.unique(labels):
        n = int(np.sum(labels == c))
        n_val = min(round(n * val_fraction), n)  # as _stratified_split takes them
        n_test = min(round(n * test_fraction), n - n_val)
        sizes["val"] += n_val
        sizes["test"] += n_test
        sizes["train"] += n - n_val - n_test
    wanted = {"train": 1.0, "val": val_fraction, "test": test_fraction}
    for split, n in sizes.items():
        if n == 0 and wanted[split] > 0:
            raise ValueError(
                f"folder {str(root)!r} is too small to split: its {split} split would be "
                f"empty ({len(labels)} images, val_fraction={val_fraction}, "
                f"test_fraction={test_fraction}); add images or change the fractions"
            )


def read_folder(
    directory: str | os.PathLike[str],
    image_size: int | Sequence[int] | None = 32,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    skip_corrupt: bool = False,
) -> ArraySplits:
    """Read a folder of class sub-folders of images into stratified splits.

    ``directory/daisy/*.jpg``, ``directory/roses/*.png``, ...: one sub-folder per
    class (class names are the sorted sub-folder names, as in Keras'
    ``image_dataset_from_directory`` and the 2017 ``flow_from_directory``).

    Parameters
    ----------
    directory : path
        The folder.
    image_size : int, (int, int) or None
        Images are centre-cropped and resized to this size; ``None`` requires
        every image to have the same size already.
    val_fraction, test_fraction : float
        Share of each class in the validation and test splits (0 to 0.5).
    seed : int
        Seed of the split (the same seed always gives the same split).
    skip_corrupt : bool
        Leave out files that cannot be decoded (with a warning) instead of
        raising.

    Returns
    -------
    ArraySplits
        With ``files`` holding each image's ``class/file`` path.

    Raises
    ------
    FileNotFoundError
        If ``directory`` does not exist.
    ValueError
        If it holds no class sub-folder, a class sub-folder holds no image, or an
        image cannot be decoded (unless ``skip_corrupt``).
    """
    size = _image_size(image_size)
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    seed = check_positive_int(seed, "seed", minimum=0)
    root = Path(directory)
    if not root.exists():
        raise FileNotFoundError(f"directory {str(root)!r} does not exist")
    if not root.is_dir():
        raise ValueError(f"directory must be a folder of class sub-folders, got the file {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not _ignored(p.name))
    if not classes:
        raise ValueError(
            f"directory {str(root)!r} holds no class sub-folders; expected "
            f"{root}/<class name>/<image files>"
        )
    if len(classes) < 2:
        raise ValueError(
            f"directory {str(root)!r} holds {len(classes)} class sub-folder ({classes[0]!r}); "
            "a classifier needs at least 2, one sub-folder of images per class"
        )
    files: list[tuple[str, int, Path]] = []
    for label, cls in enumerate(classes):
        found = sorted(
            p for p in (root / cls).rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            and not any(_ignored(part) for part in p.relative_to(root / cls).parts)
        )  # fmt: skip
        if not found:
            raise ValueError(
                f"class folder {str(root / cls)!r} holds no image files "
                f"({', '.join(IMAGE_EXTENSIONS)}); remove it or add images"
            )
        files += [(f"{cls}/{p.relative_to(root / cls).as_posix()}", label, p) for p in found]
    # the split sizes follow from the file counts: check them before the slow decoding
    _check_split_sizes(root, np.array([f[1] for f in files]), val_fraction, test_fraction)
    images, labels, names, bad = [], [], [], []
    for rel, label, path in files:
        try:
            images.append(decode_image(path.read_bytes(), size, source=str(path)))
        except ValueError as err:
            bad.append((rel, str(err)))
            continue
        labels.append(label)
        names.append(rel)
    if bad and not skip_corrupt:
        listed = "; ".join(f"{r}" for r, _ in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise ValueError(
            f"{len(bad)} file(s) in {str(root)!r} cannot be read as images: {listed} "
            f"({bad[0][1]}); remove them or pass skip_corrupt=True"
        )
    if bad:
        import warnings

        warnings.warn(
            f"skipped {len(bad)} unreadable image(s): {', '.join(r for r, _ in bad[:5])}",
            stacklevel=2,
        )
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(
            f"images in {str(root)!r} have different sizes {sorted(shapes)[:3]}...; "
            "pass image_size to resize them"
        )
    y = np.array(labels, dtype=np.int32)
    _check_split_sizes(root, y, val_fraction, test_fraction)  # skipped files count too
    tr, va, te = _stratified_split(y, val_fraction, test_fraction, seed)
    x = _stack(images, size)
    f = np.array(names)
    return ArraySplits(
        train=(x[tr], y[tr]), val=(x[va], y[va]), test=(x[te], y[te]),
        class_names=tuple(classes), files={"train": f[tr], "val": f[va], "test": f[te]},
    )  # fmt: skip


def download(
    url: str, file_hash: str | None, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Download ``url`` once into the Keras cache (``~/.keras/datasets``) and verify it.

    Raises
    ------
    ConnectionError
        If the download fails or the file does not match ``file_hash``; the
        message names the URL and the offline alternative, flowers32.
    """
    fname = url.rstrip("/").rsplit("/", 1)[-1]
    try:
        import keras

        path = keras.utils.get_file(
            fname=fname, origin=url, file_hash=file_hash, hash_algorithm="sha256",
            cache_dir=None if cache_dir is None else str(cache_dir), cache_subdir="datasets",
        )  # fmt: skip
    except Exception as err:  # noqa: BLE001 (get_file raises bare Exception)
        raise ConnectionError(
            f"could not download {url} ({err}); check the connection, or use "
            "rnpa.data.load('flowers32'), the same photos at 32x32 shipped with rnpa"
        ) from err
    return Path(path)


def read_flowers(
    archive: str | os.PathLike[str], image_size: int | Sequence[int] = 32
) -> ArraySplits:
    """Read the flower photos archive (``flower_photos.tgz``) with flowers32's split.

    Each photo goes to the split it has in flowers32 (the five photos flowers32
    leaves out are left out); it is centre-cropped to a square and resized to
    ``image_size``. The archive is read in place, not extracted.

    Raises
    ------
    ValueError
        If the archive is not a readable tar file or holds none of flowers32's photos.
    """
    size = _image_size(image_size)
    ref = load_flowers32()
    where = {str(f): (split, i) for split in ("train", "val", "test")
             for i, f in enumerate(ref.files[split])}  # fmt: skip
    images: dict[str, list[np.ndarray | None]] = {
        s: [None] * len(ref.files[s]) for s in ("train", "val", "test")
    }
    try:
        tar = tarfile.open(archive)
    except (tarfile.TarError, OSError) as err:
        raise ValueError(f"cannot read the flowers archive {str(archive)!r}: {err}") from None
    found = 0
    with tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            key = "/".join(parts[-2:])
            if key not in where:
                continue
            split, i = where[key]
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            images[split][i] = decode_image(data, size, source=f"{archive}:{member.name}")
            found += 1
    if found == 0:
        raise ValueError(
            f"the archive {str(archive)!r} holds none of the flower photos "
            "(expected flower_photos/<class>/<file>.jpg)"
        )
    out = {}
    for split in ("train", "val", "test"):
        keep = [i for i, im in enumerate(images[split]) if im is not None]
        x = _stack([images[split][i] for i in keep], size)  # type: ignore[misc]
        y = ref.__getattribute__(split)[1][keep]
        out[split] = (x, y, ref.files[split][keep])
    return ArraySplits(
        train=out["train"][:2], val=out["val"][:2], test=out["test"][:2],
        class_names=ref.class_names, files={s: out[s][2] for s in out},
    )  # fmt: skip


def read_cifar(
    name: str = "cifar10",
    image_size: int | Sequence[int] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> ArraySplits:
    """CIFAR-10 or CIFAR-100 through ``keras.datasets`` (downloaded once by Keras).

    The validation split is a stratified ``val_fraction`` of the 50,000 training
    images (fixed by ``seed``); the test split is the official 10,000.
    """
    check_choice(name, "name", ("cifar10", "cifar100"))
    size = _image_size(image_size)
    import keras

    module = getattr(keras.datasets, name)
    try:
        (x, y), (x_test, y_test) = module.load_data()
    except Exception as err:  # noqa: BLE001
        raise ConnectionError(
            f"could not load {name} through keras.datasets ({err}); it is downloaded on "
            "first use: check the connection, or use rnpa.data.load('flowers32') offline"
        ) from err
    y = np.asarray(y).reshape(-1).astype(np.int32)
    y_test = np.asarray(y_test).reshape(-1).astype(np.int32)
    if size is not None and tuple(x.shape[1:3]) != size:
        import tensorflow as tf

        def resize(a: np.ndarray) -> np.ndarray:
            out = tf.image.resize(a, size, method="bilinear", antialias=True).numpy()
            return np.clip(np.round(out), 0, 255).astype(np.uint8)

        x, x_test = resize(x), resize(x_test)
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    tr, va, _ = _stratified_split(y, val_fraction, 0.0, seed)
    classes = CIFAR10_CLASSES if name == "cifar10" else tuple(f"class_{i}" for i in range(100))
    return ArraySplits(
        train=(x[tr], y[tr]), val=(x[va], y[va]), test=(x_test, y_test), class_names=classes
    )


def _resize_splits(arrays: ArraySplits, size: tuple[int, int]) -> ArraySplits:
    import tensorflow as tf

    def resize(a: np.ndarray) -> np.ndarray:
        out = tf.image.resize(a, size, method="bilinear", antialias=True).numpy()
        return np.clip(np.round(out), 0, 255).astype(np.uint8)

    return ArraySplits(
        train=(resize(arrays.train[0]), arrays.train[1]),
        val=(resize(arrays.val[0]), arrays.val[1]),
        test=(resize(arrays.test[0]), arrays.test[1]),
        class_names=arrays.class_names,
        files=arrays.files,
    )


def _limit(arrays: ArraySplits, limit: int | None) -> ArraySplits:
    """At most ``limit`` images per split, a fixed random subset (classes stay mixed)."""
    if limit is None:
        return arrays
    keep = {}
    for split in ("train", "val", "test"):
        n = len(getattr(arrays, split)[1])
        rng = np.random.default_rng(1234)
        keep[split] = np.sort(rng.permutation(n)[:limit]) if n > limit else np.arange(n)
    return ArraySplits(
        **{s: tuple(a[keep[s]] for a in getattr(arrays, s)) for s in keep},  # type: ignore[arg-type]
        class_names=arrays.class_names,
        files={k: v[keep[k]] for k, v in arrays.files.items()},
    )


# ----------------------------------------------------------------------------
# the registry
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: its reader, the ``load`` options it takes, its default size."""

    name: str
    read: Callable[..., ArraySplits]
    options: tuple[str, ...] = ()
    default_size: tuple[int, int] | None = None
    description: str = ""


#: dataset name -> :class:`DatasetInfo`, in the order they are registered
REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(
    name: str,
    *,
    options: Sequence[str] = (),
    default_size: tuple[int, int] | None = None,
    description: str = "",
) -> Callable[[Callable], Callable]:
    """Register ``read(size, *, seed, **options) -> ArraySplits`` under ``name``.

    ``options`` are the keyword arguments of :func:`rnpa.data.load` the reader
    takes; ``default_size`` is the image size when ``load`` gets none (``None``:
    the stored size).
    """

    def register(read: Callable) -> Callable:
        REGISTRY[name] = DatasetInfo(name, read, tuple(options), default_size, description)
        return read

    return register


def get_dataset(name: Any) -> DatasetInfo:
    """The registered dataset ``name``, or one line that lists the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name, one of {', '.join(REGISTRY)}; got {name!r}")
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(REGISTRY)}")
    return REGISTRY[name]


@register_dataset("flowers32", description="the embedded flower photos, 32x32 (offline)")
def _read_flowers32(size: tuple[int, int] | None, *, seed: int) -> ArraySplits:
    arrays = load_flowers32()
    if size is not None and size != arrays.image_shape[:2]:
        arrays = _resize_splits(arrays, size)
    return arrays


@register_dataset(
    "flowers",
    options=("url", "file_hash", "cache_dir"),
    default_size=(32, 32),
    description="the full-size flower photos, downloaded once (~220 MB)",
)
def _read_flowers_download(
    size: tuple[int, int], *, seed: int, url: str, file_hash: str | None, cache_dir: Any
) -> ArraySplits:
    return read_flowers(download(url, file_hash, cache_dir), size)


def _cifar(name: str) -> Callable[..., ArraySplits]:
    def read(size: tuple[int, int] | None, *, seed: int, val_fraction: float) -> ArraySplits:
        return read_cifar(name, size, val_fraction=val_fraction, seed=seed)

    return read


register_dataset("cifar10", options=("val_fraction",), description="CIFAR-10 (keras.datasets)")(
    _cifar("cifar10")
)
register_dataset("cifar100", options=("val_fraction",), description="CIFAR-100 (keras.datasets)")(
    _cifar("cifar100")
)


@register_dataset(
    "folder",
    options=("directory", "val_fraction", "test_fraction", "skip_corrupt"),
    default_size=(32, 32),
    description="a folder of class sub-folders",
)
def _read_folder(
    size: tuple[int, int],
    *,
    seed: int,
    directory: Any,
    val_fraction: float,
    test_fraction: float,
    skip_corrupt: bool,
) -> ArraySplits:
    return read_folder(
        directory,
        size,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        skip_corrupt=skip_corrupt,
    )


#: the names of the registered datasets
DATASETS = tuple(REGISTRY)


__all__ = [
    "ArraySplits",
    "CIFAR10_CLASSES",
    "DATASETS",
    "DatasetInfo",
    "FLOWERS32_CLASSES",
    "FLOWERS_SHA256",
    "FLOWERS_URL",
    "IMAGE_EXTENSIONS",
    "REGISTRY",
    "decode_image",
    "download",
    "get_dataset",
    "load_flowers32",
    "read_cifar",
    "read_flowers",
    "read_folder",
    "register_dataset",
]
