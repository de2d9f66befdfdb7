"""Data: a dataset as batched, normalised ``tf.data`` pipelines, ready for ``fit``.

:func:`load` reads a registered dataset (:mod:`rnpa.datasets`) and builds its
pipelines (:func:`pipelines`) with an augmentation of the training split
(:mod:`rnpa.augment`). tf.data feeds the model whatever Keras backend runs it.
The readers' and augmentations' names are imported here too, so
``rnpa.data.read_folder``, ``rnpa.data.AUGMENTATIONS``, ... keep working.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnpa._checks import check_choice, check_positive_int
from rnpa._files import asset_path  # noqa: F401 (rnpa.data.asset_path, as before)
from rnpa.augment import (  # noqa: F401 (re-exported)
    AUGMENTATIONS,
    DEFAULT_AUGMENTATION,
    augment_name,
    make_augmentation,
    pad_and_crop,
)
from rnpa.datasets import (  # noqa: F401 (re-exported)
    CIFAR10_CLASSES,
    DATASETS,
    FLOWERS32_CLASSES,
    FLOWERS_SHA256,
    FLOWERS_URL,
    IMAGE_EXTENSIONS,
    ArraySplits,
    _check_fraction,
    _image_size,
    _limit,
    decode_image,
    download,
    get_dataset,
    load_flowers32,
    read_cifar,
    read_flowers,
    read_folder,
)


def __getattr__(name: str) -> Any:
    if name == "PadAndCrop":  # a Keras layer, made on first use (rnpa.augment)
        from rnpa.augment import PadAndCrop

        return PadAndCrop
    raise AttributeError(f"module 'rnpa.data' has no attribute {name!r}")


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
    augment = augment_name(augment)
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
        A registered dataset (:data:`rnpa.datasets.DATASETS`): ``"flowers32"`` (embedded, offline),
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
    info = get_dataset(name)
    batch_size = check_positive_int(batch_size, "batch_size")
    size = _image_size(image_size)
    augment = augment_name(augment)
    if seed is not None:
        seed = check_positive_int(seed, "seed", minimum=0)
    if limit is not None:
        limit = check_positive_int(limit, "limit")
    _check_fraction(val_fraction, "val_fraction")
    _check_fraction(test_fraction, "test_fraction")
    if directory is not None and "directory" not in info.options:
        raise ValueError(f"directory is only used with name='folder', not {name!r}")
    if "directory" in info.options and directory is None:
        raise ValueError(f"name={name!r} needs directory=<folder with one sub-folder per class>")
    given = {
        "directory": directory,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "skip_corrupt": skip_corrupt,
        "url": url,
        "file_hash": file_hash,
        "cache_dir": cache_dir,
    }
    arrays = info.read(
        size or info.default_size,
        seed=seed or 0,
        **{option: given[option] for option in info.options},
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
    "PadAndCrop",  # noqa: F822 (made on first use)
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
