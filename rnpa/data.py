"""Datasets for the course, as arrays and as ``tf.data`` pipelines.

``flowers32`` is embedded in the package (``rnpa/assets/flowers32.npz``): the five
classes of flower photos of the 2017 notebook at 32x32, with a fixed stratified
train/val/test split, so every lesson runs offline.

:func:`load` is the one entry point for training: it returns a :class:`Data`
with batched, normalised, augmented ``tf.data`` pipelines for

* ``flowers32``: the embedded default (offline);
* ``flowers``: the full-size flower photos, downloaded once with
  ``keras.utils.get_file`` (cached, SHA-256 verified), centre-cropped and
  resized to ``image_size``, split exactly like flowers32;
* ``cifar10`` and ``cifar100``: through ``keras.datasets``;
* ``folder``: any directory with one sub-folder of images per class (like the
  2017 notebook's ``flow_from_directory``).
"""

from __future__ import annotations

import math
import numbers
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from rnpa._checks import check_choice, check_nonnegative, check_positive_int
from rnpa._files import asset_path

#: the five classes of flowers32, label i is CLASS_NAMES[i]
FLOWERS32_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")

#: the datasets :func:`load` knows
DATASETS = ("flowers32", "flowers", "cifar10", "cifar100", "folder")

#: augmentations :func:`load` and :func:`make_augmentation` know, with what each does
AUGMENTATIONS = {
    "none": "no augmentation",
    "flip": "random horizontal flip",
    "crop": "random horizontal flip and pad-4-and-random-crop (He et al. 2015, Sec. 4.2)",
    "original": "random horizontal flip, zoom +-20% and shear 0.2 (the 2017 notebook's "
    "ImageDataGenerator)",
    "zoom": "random horizontal flip, zoom +-10% and pad-4-and-random-crop (rnpa's default "
    "until 2026-11-29; the zoom's interpolation blurs 32x32 images, and flowers32 did "
    "0.6-2 points better without it, bench/README.md)",
    "default": "the default augmentation: 'crop'",
    "strong": "random horizontal flip, rotation +-15 degrees, zoom in up to 30% (out up "
    "to 10%) and pad-4-and-random-crop",
}

#: the full-size flower photos (the archive flowers32 was made from)
FLOWERS_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
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


# ----------------------------------------------------------------------------
# the pipelines
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """Batched ``tf.data`` pipelines of one dataset, ready for ``model.fit``.

    ``train`` is shuffled every epoch and augmented; ``val`` and ``test`` are
    neither. Every pipeline yields ``(images, labels)``: images float32
    ``(batch, height, width, 3)``, normalised per channel with the training
    split's ``mean`` and ``std`` (pixel values in [0, 1]); labels int32.
    """

    name: str
    train: Any
    val: Any
    test: Any
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    mean: np.ndarray
    std: np.ndarray
    batch_size: int
    sizes: dict[str, int]
    augment: str
    arrays: ArraySplits | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one pass over the training split."""
        return math.ceil(self.sizes["train"] / self.batch_size)

    def normalize(self, images: Any) -> np.ndarray:
        """Normalise uint8 images (``(N, h, w, 3)``, 0..255) as the pipelines do."""
        x = np.asarray(images, dtype=np.float32) / 255.0
        return (x - self.mean) / self.std

    def split(self, name: str) -> Any:
        """The pipeline of split ``name`` (``"train"``, ``"val"`` or ``"test"``)."""
        check_choice(name, "split", ("train", "val", "test"))
        return getattr(self, name)


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


#: what ``augment="default"`` (and ``True``) means
DEFAULT_AUGMENTATION = "crop"


def _augment_name(augment: Any) -> str:
    if augment is True or augment == "default":
        return DEFAULT_AUGMENTATION
    if augment is False or augment is None:
        return "none"
    if not isinstance(augment, str):
        raise TypeError(
            f"augment must be True, False or one of {', '.join(map(repr, AUGMENTATIONS))}; "
            f"got {augment!r}"
        )
    return check_choice(augment, "augment", tuple(AUGMENTATIONS))


def pad_and_crop(images: Any, pad: int = 4, seed: int | None = None) -> Any:
    """Pad a batch with ``pad`` zeros on each side and crop each image back at random.

    The augmentation of He et al. (2016) on CIFAR: 32x32 images padded to 40x40,
    then a random 32x32 window per image (integer offsets, no interpolation).

    Parameters
    ----------
    images : tensor
        Float images ``(batch, height, width, channels)``.
    pad : int
        Pixels of padding on each side (>= 0).
    seed : int or keras.random.SeedGenerator, optional
        Seed of the random offsets (a generator advances at each call).

    Returns
    -------
    tensor
        Same shape and dtype as ``images``.
    """
    import tensorflow as tf

    pad = check_positive_int(pad, "pad", minimum=0)
    if pad == 0:
        return images
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = keras.random.randint([n, 2], 0, 2 * pad + 1, dtype="int32", seed=seed)
    hp = tf.cast(h + 2 * pad - 1, tf.float32)
    wp = tf.cast(w + 2 * pad - 1, tf.float32)
    y0 = tf.cast(offsets[:, 0], tf.float32)
    x0 = tf.cast(offsets[:, 1], tf.float32)
    boxes = tf.stack(
        [y0 / hp, x0 / wp, (y0 + tf.cast(h - 1, tf.float32)) / hp,
         (x0 + tf.cast(w - 1, tf.float32)) / wp], axis=1,
    )  # fmt: skip
    # crop_and_resize with a box of exactly (h, w) pixels samples integer positions:
    # an exact crop, vectorised over the batch
    out = tf.image.crop_and_resize(padded, boxes, tf.range(n), tf.stack([h, w]), method="nearest")
    out = tf.cast(out, images.dtype)
    return tf.ensure_shape(out, images.shape)


class PadAndCrop(keras.layers.Layer):
    """Keras layer: pad ``pad`` zeros on each side, crop back at a random offset per image.

    Active only with ``training=True`` (as Keras' random layers); see
    :func:`pad_and_crop`.
    """

    def __init__(self, pad: int = 4, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pad = check_positive_int(pad, "pad", minimum=0)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool = True) -> Any:
        """Crop at random when training, pass through otherwise."""
        if not training:
            return inputs
        return pad_and_crop(inputs, self.pad, seed=self.seed_generator)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Same shape as the input."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """Layer config (pad, seed)."""
        return {**super().get_config(), "pad": self.pad, "seed": self.seed}


def make_mixing(mixup: float = 0.0, cutmix: float = 0.0, seed: int | None = None) -> Any:
    """Return ``mix(images, labels)``: MixUp or CutMix of a batch with itself, shuffled.

    MixUp (Zhang et al. 2018, arXiv:1710.09412) blends every image with another
    image of the batch, ``lam * x + (1 - lam) * x[perm]``; CutMix (Yun et al.
    2019, arXiv:1905.04899) pastes a rectangle of the other image instead, of
    area ``1 - lam``. The labels (one-hot or soft) are mixed in the same
    proportion, so the loss must be a categorical cross-entropy. ``lam`` is drawn
    from Beta(alpha, alpha) once per batch. With both on, each batch gets one of
    the two, with equal chance.

    Parameters
    ----------
    mixup, cutmix : float
        The alpha of each (>= 0; 0 turns it off).
    seed : int, optional
        Seed of the draws (a generator: every call draws anew).

    Returns
    -------
    callable
        ``mix(images, labels) -> (images, labels)`` on float batches ``(n, h, w,
        c)`` and float labels ``(n, classes)``, usable in ``tf.data.Dataset.map``;
        ``None`` when both alphas are 0.
    """
    import tensorflow as tf

    mixup = check_nonnegative(mixup, "mixup", "the Beta alpha, 0: off")
    cutmix = check_nonnegative(cutmix, "cutmix", "the Beta alpha, 0: off")
    if not mixup and not cutmix:
        return None
    gen = keras.random.SeedGenerator(seed)

    def draw_lam(alpha: float) -> Any:
        a = keras.random.gamma([], alpha, seed=gen)
        b = keras.random.gamma([], alpha, seed=gen)
        return tf.cast(a / (a + b), tf.float32)

    def mix(images: Any, labels: Any) -> tuple[Any, Any]:
        images = tf.convert_to_tensor(images)
        labels = tf.cast(labels, tf.float32)
        shape = tf.shape(images)
        n, h, w = shape[0], shape[1], shape[2]
        perm = keras.random.shuffle(tf.range(n), seed=gen)
        other_x = tf.gather(images, perm)
        other_y = tf.gather(labels, perm)

        def do_mixup() -> tuple[Any, Any]:
            lam = draw_lam(mixup)
            x = lam * images + (1.0 - lam) * other_x
            return tf.cast(x, images.dtype), lam

        def do_cutmix() -> tuple[Any, Any]:
            lam = draw_lam(cutmix)
            cut = tf.sqrt(1.0 - lam)
            ch = tf.cast(tf.round(cut * tf.cast(h, tf.float32)), tf.int32)
            cw = tf.cast(tf.round(cut * tf.cast(w, tf.float32)), tf.int32)
            cy = keras.random.randint([], 0, h, dtype="int32", seed=gen)
            cx = keras.random.randint([], 0, w, dtype="int32", seed=gen)
            y0, y1 = (
                tf.clip_by_value(cy - ch // 2, 0, h),
                tf.clip_by_value(cy + (ch + 1) // 2, 0, h),
            )
            x0, x1 = (
                tf.clip_by_value(cx - cw // 2, 0, w),
                tf.clip_by_value(cx + (cw + 1) // 2, 0, w),
            )
            rows = tf.logical_and(tf.range(h) >= y0, tf.range(h) < y1)
            cols = tf.logical_and(tf.range(w) >= x0, tf.range(w) < x1)
            box = tf.logical_and(rows[:, None], cols[None, :])[None, :, :, None]
            x = tf.where(box, other_x, images)
            # the label weight is the share of pixels actually kept (the box is clipped)
            area = tf.cast((y1 - y0) * (x1 - x0), tf.float32)
            return x, 1.0 - area / tf.cast(h * w, tf.float32)

        if mixup and cutmix:
            coin = keras.random.uniform([], seed=gen)
            x, lam = tf.cond(coin < 0.5, do_mixup, do_cutmix)
        else:
            x, lam = do_mixup() if mixup else do_cutmix()
        return tf.ensure_shape(x, images.shape), lam * labels + (1.0 - lam) * other_y

    return mix


#: batches the training and evaluation pipelines prepare ahead of the model
PREFETCH_BATCHES = 2


def pipeline_options() -> Any:
    """The ``tf.data.Options`` of every pipeline :func:`load` returns.

    Autotuning is off. With it on, Keras' ``fit`` (a new iterator every epoch)
    stalled for 1.5 to 4 s at the start of most epochs on a 2-core CPU, while the
    autotuner's background thread of the previous iterator was torn down: about
    as long as an epoch's own work on flowers32 (``bench/iterator_stall.py``,
    ``bench/README.md``). The pipelines are in-memory arrays, batched before
    they are mapped, so fixed settings (one map call per batch,
    :data:`PREFETCH_BATCHES` prefetched) lose nothing.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def make_augmentation(
    augment: str = "default", image_size: int | Sequence[int] = 32, seed: int | None = None
) -> keras.Sequential:
    """Return the augmentation ``augment`` as a ``keras.Sequential`` of random layers.

    Parameters
    ----------
    augment : str
        One of :data:`AUGMENTATIONS`: ``"none"``, ``"flip"``, ``"crop"``
        (flip + pad-4 crop, He et al. 2016; also ``"default"``), ``"original"``
        (flip, zoom, shear, the 2017 notebook), ``"zoom"`` (flip, mild zoom,
        crop) or ``"strong"`` (flip, rotation, stronger zoom, crop).
    image_size : int or (int, int)
        Image height and width; the crop pads ``4 * size / 32`` pixels.
    seed : int, optional
        Seed of the random layers.

    Returns
    -------
    keras.Sequential
        Call it as ``aug(images, training=True)`` on float batches
        ``(batch, h, w, 3)``: same shape and dtype out. Usable in
        ``tf.data.Dataset.map``.
    """
    name = _augment_name(augment)
    h, w = _image_size(image_size)  # type: ignore[misc]
    pad = max(1, round(4 * min(h, w) / 32))
    L = keras.layers
    steps: list[keras.layers.Layer] = []
    if name != "none":
        steps.append(L.RandomFlip("horizontal", seed=seed))
    if name == "original":
        steps.append(L.RandomZoom((-0.2, 0.2), fill_mode="nearest", seed=seed))
        steps.append(L.RandomShear(x_factor=0.2, fill_mode="nearest", seed=seed))
    if name == "zoom":
        steps.append(L.RandomZoom((-0.1, 0.1), fill_mode="reflect", seed=seed))
    if name == "strong":
        steps.append(L.RandomRotation(15 / 360, fill_mode="reflect", seed=seed))
        steps.append(L.RandomZoom((-0.3, 0.1), fill_mode="reflect", seed=seed))
    if name in ("crop", "zoom", "strong"):
        steps.append(PadAndCrop(pad, seed=seed))
    return keras.Sequential(steps or [L.Identity()], name=f"augment_{name}")


def pipelines(
    arrays: ArraySplits,
    *,
    batch_size: int = 128,
    augment: str | bool = "default",
    seed: int | None = 0,
    shuffle: bool = True,
    cache: bool = True,
    drop_remainder: bool = False,
    name: str = "arrays",
) -> Data:
    """Build the train/val/test ``tf.data`` pipelines of in-memory uint8 arrays.

    Parameters
    ----------
    arrays : ArraySplits
        The images (uint8 ``(N, h, w, 3)``) and int labels of each split.
    batch_size : int
        Images per batch (>= 1).
    augment : str or bool
        Augmentation of the training split (see :data:`AUGMENTATIONS`); ``True``
        and ``"default"`` are ``"crop"``, ``False`` is ``"none"``.
    seed : int, optional
        Seed of the shuffle and the augmentation.
    shuffle : bool
        Reshuffle the training split every epoch.
    cache : bool
        Cache the normalised images in memory after the first epoch.
    drop_remainder : bool
        Drop the last, smaller training batch (fixed shapes, e.g. on TPU).
    name : str
        Name of the dataset, kept in the result.

    Returns
    -------
    Data
    """
    import tensorflow as tf

    if not isinstance(arrays, ArraySplits):
        raise TypeError(f"arrays must be an rnpa.data.ArraySplits, got {type(arrays).__name__}")
    batch_size = check_positive_int(batch_size, "batch_size")
    augment = _augment_name(augment)
    x_train = arrays.train[0]
    if x_train.ndim != 4 or x_train.shape[-1] != 3 or x_train.dtype != np.uint8:
        raise ValueError(
            "arrays.train images must be uint8 (N, height, width, 3), got "
            f"{x_train.dtype} {x_train.shape}"
        )
    pixels = x_train.reshape(-1, 3).astype(np.float64) / 255.0
    mean = pixels.mean(axis=0).astype(np.float32)
    std = np.maximum(pixels.std(axis=0), 1e-3).astype(np.float32)
    mean_t = tf.constant(mean)
    std_t = tf.constant(std)

    def normalise(images: Any, labels: Any) -> tuple[Any, Any]:
        x = (tf.cast(images, tf.float32) / 255.0 - mean_t) / std_t
        return x, tf.cast(labels, tf.int32)

    augment_batch = make_augmentation(augment, x_train.shape[1:3], seed=seed)

    def evaluation(split: tuple[np.ndarray, np.ndarray]) -> Any:
        ds = tf.data.Dataset.from_tensor_slices(split).batch(batch_size)
        ds = ds.map(normalise)
        if cache:
            ds = ds.cache()
        return ds.prefetch(PREFETCH_BATCHES).with_options(pipeline_options())

    n = len(arrays.train[0])
    train = tf.data.Dataset.from_tensor_slices(arrays.train)
    if cache:
        train = train.cache()
    if shuffle:
        train = train.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    train = train.batch(batch_size, drop_remainder=drop_remainder)
    train = train.map(normalise)
    if augment != "none":

        def augment_pair(images: Any, labels: Any) -> tuple[Any, Any]:
            return augment_batch(images, training=True), labels

        # one call at a time: the random layers advance their seed state in order,
        # so a seeded run sees the same augmentations (the ops are multi-threaded)
        train = train.map(augment_pair)
    train = train.prefetch(PREFETCH_BATCHES).with_options(pipeline_options())
    return Data(
        name=name,
        train=train,
        val=evaluation(arrays.val),
        test=evaluation(arrays.test),
        class_names=tuple(arrays.class_names),
        image_shape=tuple(int(v) for v in x_train.shape[1:]),  # type: ignore[arg-type]
        mean=mean,
        std=std,
        batch_size=batch_size,
        sizes={s: len(getattr(arrays, s)[0]) for s in ("train", "val", "test")},
        augment=augment,
        arrays=arrays,
    )


# ----------------------------------------------------------------------------
# image decoding, folders, downloads
# ----------------------------------------------------------------------------
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


def load(
    name: str = "flowers32",
    *,
    batch_size: int = 128,
    image_size: int | Sequence[int] | None = None,
    augment: str | bool = "default",
    directory: str | os.PathLike[str] | None = None,
    seed: int | None = 0,
    shuffle: bool = True,
    cache: bool = True,
    drop_remainder: bool = False,
    limit: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    skip_corrupt: bool = False,
    url: str = FLOWERS_URL,
    file_hash: str | None = FLOWERS_SHA256,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Data:
    """Load a dataset as batched, normalised ``tf.data`` pipelines.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`: ``"flowers32"`` (embedded, offline),
        ``"flowers"`` (full-size photos, downloaded once, ~220 MB),
        ``"cifar10"``, ``"cifar100"`` (``keras.datasets``), ``"folder"``
        (``directory`` with one sub-folder per class).
    batch_size : int
        Images per batch.
    image_size : int or (int, int), optional
        Resize every image to this size. Default: 32 for ``flowers`` and
        ``folder`` (the original experiment at any size), the stored size for
        ``flowers32`` and CIFAR.
    augment : str or bool
        Augmentation of the training split, one of :data:`AUGMENTATIONS`
        (``True`` = ``"default"`` = ``"crop"``, ``False`` = ``"none"``).
    directory : path, optional
        The folder, for ``name="folder"`` only.
    seed : int, optional
        Seed of shuffling and augmentation.
    shuffle, cache, drop_remainder : bool
        Shuffle the training split every epoch; cache the decoded images in
        memory; drop the last smaller training batch.
    limit : int, optional
        Keep at most this many images per split (quick runs and tests).
    val_fraction, test_fraction : float
        Split shares for ``folder`` (and ``val_fraction`` for CIFAR's split of
        its training images).
    skip_corrupt : bool
        ``folder``: leave out unreadable files instead of raising.
    url, file_hash, cache_dir
        ``flowers``: where the archive comes from, its SHA-256 (``None`` skips
        the check) and the cache folder (default ``~/.keras``).

    Returns
    -------
    Data
        ``.train``, ``.val``, ``.test`` pipelines, ``.class_names``, ``.mean``,
        ``.std``, ``.sizes`` and the underlying ``.arrays``.

    Raises
    ------
    ValueError, TypeError
        For an unknown dataset name (the message lists the known ones) or a bad
        argument, before anything is read.
    FileNotFoundError
        If the folder does not exist.
    ConnectionError
        If a download fails (the message names the URL and suggests flowers32).

    Examples
    --------
    >>> data = rnpa.data.load("flowers32", batch_size=64)  # doctest: +SKIP
    >>> model.fit(data.train, validation_data=data.val, epochs=10)  # doctest: +SKIP
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name, one of {', '.join(DATASETS)}; got {name!r}")
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    batch_size = check_positive_int(batch_size, "batch_size")
    size = _image_size(image_size)
    augment = _augment_name(augment)
    if seed is not None:
        seed = check_positive_int(seed, "seed", minimum=0)
    if limit is not None:
        limit = check_positive_int(limit, "limit")
    _check_fraction(val_fraction, "val_fraction")
    _check_fraction(test_fraction, "test_fraction")
    if name == "folder" and directory is None:
        raise ValueError("name='folder' needs directory=<folder with one sub-folder per class>")
    if name != "folder" and directory is not None:
        raise ValueError(f"directory is only used with name='folder', not {name!r}")

    if name == "flowers32":
        arrays = load_flowers32()
        if size is not None and size != arrays.image_shape[:2]:
            arrays = _resize_splits(arrays, size)
    elif name == "flowers":
        archive = download(url, file_hash, cache_dir)
        arrays = read_flowers(archive, size or (32, 32))
    elif name in ("cifar10", "cifar100"):
        arrays = read_cifar(name, size, val_fraction=val_fraction, seed=seed or 0)
    else:
        arrays = read_folder(
            directory,  # type: ignore[arg-type]
            size or (32, 32),
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed or 0,
            skip_corrupt=skip_corrupt,
        )
    arrays = _limit(arrays, limit)
    if len(arrays.train[0]) == 0:
        raise ValueError(f"dataset {name!r} has no training images")
    return pipelines(
        arrays,
        batch_size=batch_size,
        augment=augment,
        seed=seed,
        shuffle=shuffle,
        cache=cache,
        drop_remainder=drop_remainder,
        name=name,
    )


__all__ = [
    "AUGMENTATIONS",
    "DEFAULT_AUGMENTATION",
    "ArraySplits",
    "DATASETS",
    "Data",
    "FLOWERS32_CLASSES",
    "asset_path",
    "decode_image",
    "load",
    "load_flowers32",
    "make_augmentation",
    "pad_and_crop",
    "pipelines",
    "read_cifar",
    "read_flowers",
    "read_folder",
]
