"""Datasets for the course.

``flowers32`` is embedded in the package (``rnpa/assets/flowers32.npz``): the five
classes of flower photos of the 2017 notebook at 32x32, with a fixed stratified
train/val/test split, so every lesson runs offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

#: the five classes of flowers32, label i is CLASS_NAMES[i]
FLOWERS32_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")


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


def asset_path(name: str) -> Path:
    """Path of a file shipped in ``rnpa/assets`` (raises if it is missing)."""
    path = Path(str(resources.files("rnpa") / "assets" / name))
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} is not in the installed rnpa package ({path}); reinstall rnpa "
            "(pip install -e . from the repository root)"
        )
    return path


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


__all__ = ["ArraySplits", "FLOWERS32_CLASSES", "asset_path", "load_flowers32"]
