"""Augmentation of the training images: the catalogue of named augmentations and their layers.

:data:`AUGMENTATIONS` names each augmentation with what it does; :func:`make_augmentation`
builds one as a ``keras.layers.Pipeline`` of Keras' random layers plus :class:`PadAndCrop`
(He et al.'s pad-4-and-random-crop). To add an augmentation, add its name and
description to :data:`AUGMENTATIONS` and its layers to :func:`make_augmentation`.
For MixUp and CutMix, use Keras' own ``keras.layers.MixUp`` / ``keras.layers.CutMix``.

tf.data runs TensorFlow whatever Keras backend trains the model, so an augmentation
mapped over a dataset must make TensorFlow ops there. A ``Pipeline`` (unlike a
``Sequential``) leaves tf.data's tensors as they are, and Keras' random layers switch
to TensorFlow inside tf.data by themselves; :class:`PadAndCrop` is TensorFlow code
throughout, with a TensorFlow random state on every backend (on the TensorFlow
backend, Keras' own ``SeedGenerator``, whose stream it reproduces elsewhere): the
same seed gives the same flips and crops in tf.data on TensorFlow and on JAX, to the
bit (``tests/test_backends.py``).

Keras is imported only when a layer is built, so that the catalogue (which the
recipes and the command line read) loads at once.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence
from typing import Any

from rnpa._checks import check_choice, check_positive_int

#: augmentations :func:`load` and :func:`make_augmentation` know, with what each does
AUGMENTATIONS = {
    "none": "no augmentation",
    "flip": "random horizontal flip",
    "crop": "random horizontal flip and pad-4-and-random-crop (He et al. 2015, Sec. 4.2)",
    "original": "random horizontal flip, zoom +-20% and shear 0.2 (the 2017 notebook's "
    "ImageDataGenerator)",
    "default": "the default augmentation: 'crop'",
    "strong": "random horizontal flip, rotation +-15 degrees, zoom in up to 30% (out up "
    "to 10%) and pad-4-and-random-crop",
}

#: what ``augment="default"`` (and ``True``) means
DEFAULT_AUGMENTATION = "crop"


def augment_name(augment: Any) -> str:
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


def _size_pair(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        return int(image_size), int(image_size)
    if isinstance(image_size, Sequence) and len(image_size) == 2:
        return int(image_size[0]), int(image_size[1])
    raise TypeError(f"image_size must be an int or (height, width), got {image_size!r}")


def _tf_backend() -> bool:
    import keras

    return keras.backend.backend() == "tensorflow"


class _TFSeedState:
    """A seed that advances at each draw, held in a TensorFlow variable.

    Keras' ``SeedGenerator`` on the TensorFlow backend, written with TensorFlow's
    own ops so that tf.data can advance it under any Keras backend: the state is
    ``[seed, counter]`` (int64), each draw returns it and adds 1 to the counter,
    and the random op takes it reduced to int32 as Keras does, so both give the
    same stream.
    """

    def __init__(self, seed: int | None = None) -> None:
        import random

        import tensorflow as tf

        if seed is None:  # as keras.random.SeedGenerator(None)
            seed = random.randint(1, int(1e9))
        with tf.init_scope():  # a variable made eagerly, even from inside a trace
            self.state = tf.Variable([int(seed), 0], dtype=tf.int64, trainable=False)

    def next(self) -> Any:
        """The current seed (int32 pair) for a stateless random op; advance the state."""
        import tensorflow as tf

        value = tf.identity(self.state.read_value())
        self.state.assign_add(tf.constant([0, 1], dtype=tf.int64))
        return _int32_seed(value)


def _int32_seed(seed: Any) -> Any:
    """An int64 ``[seed, counter]`` as the int32 pair Keras passes to TensorFlow."""
    import tensorflow as tf

    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)


def _offsets(n: Any, pad: int, seed: Any) -> Any:
    """Random window offsets ``(n, 2)`` in ``[0, 2 * pad]``, made by TensorFlow ops."""
    import keras
    import tensorflow as tf

    shape, maxval = [n, 2], 2 * pad + 1
    if isinstance(seed, _TFSeedState):
        return tf.random.stateless_uniform(shape, seed.next(), 0, maxval, dtype=tf.int32)
    if _tf_backend():  # Keras' TensorFlow random ops: the crops rnpa has always made
        return keras.random.randint(shape, 0, maxval, dtype="int32", seed=seed)
    if seed is None:  # TensorFlow's global seed (keras.utils.set_random_seed sets it)
        return tf.random.uniform(shape, 0, maxval, dtype=tf.int32)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        # an int seed as keras.random draws it on the TensorFlow backend: [seed, 0]
        pair = _int32_seed(tf.constant([int(seed), 0], dtype=tf.int64))
        return tf.random.stateless_uniform(shape, pair, 0, maxval, dtype=tf.int32)
    raise TypeError(
        f"seed must be an int or None on the {keras.backend.backend()} backend (tf.data "
        f"cannot advance a {type(seed).__name__} of that backend); got {seed!r}"
    )


def pad_and_crop(images: Any, pad: int = 4, seed: int | None = None) -> Any:
    """Pad a batch with ``pad`` zeros on each side and crop each image back at random.

    The augmentation of He et al. (2016) on CIFAR: 32x32 images padded to 40x40,
    then a random 32x32 window per image (integer offsets, no interpolation).
    TensorFlow ops only, so it runs in tf.data under every Keras backend.

    Parameters
    ----------
    images : tensor
        Float images ``(batch, height, width, channels)``.
    pad : int
        Pixels of padding on each side (>= 0).
    seed : int or keras.random.SeedGenerator, optional
        Seed of the random offsets (a generator advances at each call; on the
        TensorFlow backend only: elsewhere its state is not TensorFlow's, so use
        :class:`PadAndCrop`, which keeps a TensorFlow state). An int gives the
        same offsets on every backend.

    Returns
    -------
    tensor
        Same shape and dtype as ``images`` (a TensorFlow tensor).
    """
    import tensorflow as tf

    pad = check_positive_int(pad, "pad", minimum=0)
    if pad == 0:
        return images
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = _offsets(n, pad, seed)
    # each image's window, as row and column indices into its padded copy: an exact
    # crop (no interpolation), vectorised over the batch
    rows = offsets[:, 0:1] + tf.range(h)[None, :]
    cols = offsets[:, 1:2] + tf.range(w)[None, :]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    out = tf.gather(out, cols, axis=2, batch_dims=1)
    return tf.ensure_shape(out, images.shape)


@functools.cache
def _pad_and_crop_layer() -> type:
    """The :class:`PadAndCrop` layer class (made on first use: it needs Keras)."""
    import keras

    class PadAndCrop(keras.layers.Layer):
        """Keras layer: pad ``pad`` zeros on each side, crop back at a random offset per image.

        Active only with ``training=True`` (as Keras' random layers); see
        :func:`pad_and_crop`. It runs in tf.data under every Keras backend (its
        random state is TensorFlow's: Keras' ``SeedGenerator`` on the TensorFlow
        backend, the same stream in a TensorFlow variable elsewhere) and on
        arrays outside it, but, being TensorFlow code, not inside a model
        compiled by another backend.
        """

        def __init__(self, pad: int = 4, seed: int | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.pad = check_positive_int(pad, "pad", minimum=0)
            self.seed = seed
            if _tf_backend():
                self.seed_generator = keras.random.SeedGenerator(seed)
            else:
                self._tf_seed = _TFSeedState(seed)

        def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            if _tf_backend():
                return super().__call__(inputs, *args, **kwargs)
            # another backend: Keras would turn tf.data's graph tensors into that
            # backend's arrays (it cannot); this layer has no weights to build,
            # so call it directly, and hand eager results back as backend arrays
            import tensorflow as tf

            out = self.call(inputs, *args, **kwargs)
            if isinstance(out, tf.Tensor) and tf.executing_eagerly():
                out = keras.ops.convert_to_tensor(out.numpy())
            return out

        def call(self, inputs: Any, training: bool = True) -> Any:
            """Crop at random when training, pass through otherwise."""
            if not training:
                return inputs
            seed = self.seed_generator if _tf_backend() else self._tf_seed
            return pad_and_crop(inputs, self.pad, seed=seed)

        def compute_output_shape(self, input_shape: Any) -> Any:
            """Same shape as the input."""
            return input_shape

        def get_config(self) -> dict[str, Any]:
            """Layer config (pad, seed)."""
            return {**super().get_config(), "pad": self.pad, "seed": self.seed}

    return PadAndCrop


def __getattr__(name: str) -> Any:
    if name == "PadAndCrop":
        return _pad_and_crop_layer()
    raise AttributeError(f"module 'rnpa.augment' has no attribute {name!r}")


def make_augmentation(
    augment: str = "default", image_size: int | Sequence[int] = 32, seed: int | None = None
) -> Any:
    """Return the augmentation ``augment`` as a ``keras.layers.Pipeline`` of random layers.

    Parameters
    ----------
    augment : str
        One of :data:`AUGMENTATIONS`: ``"none"``, ``"flip"``, ``"crop"``
        (flip + pad-4 crop, He et al. 2016; also ``"default"``), ``"original"``
        (flip, zoom, shear, the 2017 notebook) or ``"strong"`` (flip, rotation,
        zoom, crop).
    image_size : int or (int, int)
        Image height and width; the crop pads ``4 * size / 32`` pixels.
    seed : int, optional
        Seed of the random layers.

    Returns
    -------
    keras.layers.Pipeline
        Call it as ``aug(images, training=True)`` on float batches
        ``(batch, h, w, 3)``: same shape and dtype out. Usable in
        ``tf.data.Dataset.map`` under every Keras backend (Keras' documented
        container for that; a ``keras.Sequential`` would turn tf.data's tensors
        into the backend's arrays).
    """
    import keras

    name = augment_name(augment)
    h, w = _size_pair(image_size)
    pad = max(1, round(4 * min(h, w) / 32))
    L = keras.layers
    steps: list[keras.layers.Layer] = []
    if name != "none":
        steps.append(L.RandomFlip("horizontal", seed=seed))
    if name == "original":
        steps.append(L.RandomZoom((-0.2, 0.2), fill_mode="nearest", seed=seed))
        steps.append(L.RandomShear(x_factor=0.2, fill_mode="nearest", seed=seed))
    if name == "strong":
        steps.append(L.RandomRotation(15 / 360, fill_mode="reflect", seed=seed))
        steps.append(L.RandomZoom((-0.3, 0.1), fill_mode="reflect", seed=seed))
    if name in ("crop", "strong"):
        steps.append(_pad_and_crop_layer()(pad, seed=seed))
    # "none": Keras' Identity is no tf.data layer (it converts its inputs); rescaling
    # by 1 is one, and changes nothing
    steps = steps or [L.Rescaling(1.0, name="identity")]
    return keras.layers.Pipeline(steps, name=f"augment_{name}")


__all__ = [
    "AUGMENTATIONS",
    "DEFAULT_AUGMENTATION",
    "PadAndCrop",  # noqa: F822 (made on first use)
    "augment_name",
    "make_augmentation",
    "pad_and_crop",
]
