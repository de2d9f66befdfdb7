"""Networks: the 2017 original, the paper's CIFAR family, and their comparisons.

* :func:`ResNetPreAct`: the 2017 notebook's network (same signature, same layer
  names, 96,133 parameters with the defaults).
* :func:`preact_resnet`: the pre-activation CIFAR networks of He et al. 2016
  (ResNet-164, ResNet-1001 with bottleneck units; ResNet-110 with basic units).
* :func:`resnet_original`: the post-activation networks of He et al. 2015 with the
  same shapes.
* :func:`plain_network`: either of the above without shortcuts.

Models are pure: no data, no compile.
"""

from __future__ import annotations

import numbers
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, regularizers

from rnpa.blocks import (
    ORDERS,
    PREACT_ORDERS,
    check_choice,
    check_positive_int,
    check_reg,
    residual_block,
    residual_unit,
)
from rnpa.layers import BatchNormalization

#: the bottleneck unit of the original network: 128 -> 32 -> 32 -> 128 channels
ORIGINAL_FILTERS = (32, 32, 128)
#: the stem of the original network: 128 filters, 3x3, stride 2
ORIGINAL_STEM_FILTERS = 128
#: widths of the three stages of the CIFAR family (He et al. 2015, 2016)
CIFAR_WIDTHS = (16, 32, 64)


def check_input_shape(input_shape: Any, min_size: int = 3) -> tuple[int, int, int]:
    """Return ``input_shape`` as ``(height, width, channels)`` or raise.

    Height and width must be at least ``min_size`` (the stem's 3x3 kernel).
    """
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise TypeError(
            f"input_shape must be a tuple (height, width, channels), got {input_shape!r}"
        )
    if len(input_shape) != 3:
        raise ValueError(
            "input_shape must have 3 entries (height, width, channels), channels last; "
            f"got {len(input_shape)}: {tuple(input_shape)!r}"
        )
    for v in input_shape:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(
                f"input_shape must hold positive ints (height, width, channels), "
                f"got {tuple(input_shape)!r}"
            )
    h, w, c = (int(v) for v in input_shape)
    if h < min_size or w < min_size:
        raise ValueError(
            f"input_shape {tuple(input_shape)!r} is too small: height and width must be "
            f"at least {min_size} for the 3x3 stem"
        )
    return h, w, c


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def ResNetPreAct(  # noqa: N802 (the original's name)
    input_shape: Sequence[int] = (32, 32, 3),
    nb_classes: int = 5,
    num_stages: int = 5,
    use_final_conv: bool = False,
    reg: float = 0.0,
    use_shortcuts: bool = True,
    weights: str | None = None,
) -> keras.Model:
    """The 2017 notebook's pre-activation bottleneck network.

    conv0 (128, 3x3, stride 2) - bn0 - relu0, ``num_stages`` bottleneck units
    with filters [32, 32, 128] (:func:`rnpa.blocks.residual_block`), then
    bnF - reluF - (convF) - avg_pool - flat - fc10 (softmax).

    Parameters
    ----------
    input_shape : tuple of 3 int
        ``(height, width, channels)``; any size from 3x3 up, square or not.
    nb_classes : int
        Number of classes (>= 2) of the softmax layer ``fc10``.
    num_stages : int
        Number of residual units (>= 0).
    use_final_conv : bool
        Add ``convF`` (64 filters, 3x3, with bias) after ``reluF``.
    reg : float
        L2 factor on every convolution kernel.
    use_shortcuts : bool
        ``False`` builds the same network without additions (a plain network);
        not in the 2017 signature, added for lesson 1.
    weights : None, "flowers32" or str
        ``None``: random initialisation; ``"flowers32"``: the weights shipped
        with rnpa, trained on flowers32 (default architecture, 5 classes, 32x32x3
        inputs normalised as ``rnpa.data.load("flowers32")`` does; see
        ``rnpa/assets/WEIGHTS.md``); or the path of a ``.weights.h5`` file.

    Returns
    -------
    keras.Model
        Named ``"rnpa"``; with the defaults 96,133 parameters (93,957 trainable,
        2,176 non-trainable).
    """
    input_shape = check_input_shape(input_shape)
    nb_classes = check_positive_int(nb_classes, "nb_classes", minimum=2)
    num_stages = check_positive_int(num_stages, "num_stages", minimum=0)
    _check_bool(use_final_conv, "use_final_conv")
    _check_bool(use_shortcuts, "use_shortcuts")
    reg = check_reg(reg)
    weights_path = _check_weights(weights, input_shape, nb_classes, num_stages, use_final_conv,
                                  use_shortcuts)
    l2 = regularizers.L2(reg) if reg > 0 else None

    img_input = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(
        ORIGINAL_STEM_FILTERS,
        (3, 3),
        strides=(2, 2),
        padding="same",
        use_bias=False,
        kernel_regularizer=l2,
        name="conv0",
    )(img_input)
    x = BatchNormalization(name="bn0")(x)
    x = layers.Activation("relu", name="relu0")(x)

    for stage in range(1, num_stages + 1):
        x = residual_block(x, ORIGINAL_FILTERS, stage=stage, reg=reg, use_shortcuts=use_shortcuts)

    x = BatchNormalization(name="bnF")(x)
    x = layers.Activation("relu", name="reluF")(x)
    if use_final_conv:
        x = layers.Conv2D(64, (3, 3), padding="same", kernel_regularizer=l2, name="convF")(x)
    # the 2017 code used pool_size = input_shape[0] / 2 (a float, and square only);
    # pooling over the whole feature map gives the same result for 32x32 and works
    # for any input size
    pool = (int(x.shape[1]), int(x.shape[2]))
    x = layers.AveragePooling2D(pool, name="avg_pool")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dense(nb_classes, activation="softmax", name="fc10")(x)
    model = keras.Model(img_input, x, name="rnpa")
    if weights_path is not None:
        load_weights_checked(model, weights_path)
    return model


def _weight_arrays(path: str) -> dict[str, tuple[int, ...]]:
    """The arrays of a Keras 3 ``.weights.h5`` file: ``{"layers/conv2d/vars/0": shape}``."""
    import h5py

    arrays: dict[str, tuple[int, ...]] = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: arrays.__setitem__(name, obj.shape)
            if isinstance(obj, h5py.Dataset) else None
        )
    return arrays


def load_weights_checked(model: keras.Model, path: str | os.PathLike[str]) -> keras.Model:
    """Load a ``.weights.h5`` file into ``model`` after checking it fits, layer by layer.

    Keras loads a file of another architecture partly and silently (it keys the
    arrays by each layer's place among the layers of its class). This compares
    the file's arrays with the ones ``model`` would save and names the first
    difference by the network's layer name.

    Raises
    ------
    ValueError
        If the file is not a readable weights file, or its layers or shapes
        differ from ``model``'s (nothing is loaded then).
    """
    import tempfile

    path = os.fspath(path)
    try:
        found = _weight_arrays(path)
    except OSError as err:
        raise ValueError(
            f"weights file {path!r} is not a readable .weights.h5 file ({err})"
        ) from None
    with tempfile.TemporaryDirectory() as tmp:
        own = os.path.join(tmp, "own.weights.h5")
        model.save_weights(own)
        expected = _weight_arrays(own)
    # the file keys each array by the layer's class and its count; name them as the network does
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    for layer in model.layers:
        if layer.weights:
            key = re.sub("([a-z])([A-Z])", r"\1_\2",
                         re.sub("(.)([A-Z][a-z]+)", r"\1_\2", type(layer).__name__)).lower()
            n = counts.get(key, 0)
            counts[key] = n + 1
            names[f"layers/{key}" + (f"_{n}" if n else "")] = layer.name

    def layer_of(array: str) -> str:
        group = array.rsplit("/vars/", 1)[0]
        return f"layer {names[group]!r}" if group in names else f"{group!r}"

    # report the first difference in the network's own layer order
    rank = {group: i for i, group in enumerate(names)}
    ordered = sorted(expected, key=lambda a: (rank.get(a.rsplit("/vars/", 1)[0], len(rank)), a))
    for array in ordered:
        shape = expected[array]
        if array not in found:
            raise ValueError(
                f"weights file {path!r} does not fit this network: it has no weights for "
                f"{layer_of(array)} (saved from a smaller or different network?)"
            )
        if tuple(found[array]) != tuple(shape):
            raise ValueError(
                f"weights file {path!r} does not fit this network: {layer_of(array)} has "
                f"weights of shape {tuple(shape)}, the file {tuple(found[array])}"
            )
    extra = sorted(set(found) - set(expected))
    if extra:
        raise ValueError(
            f"weights file {path!r} does not fit this network: it holds {len(extra)} weight "
            f"array(s) for layers the network does not have (first: {extra[0]!r}; saved from a "
            "larger or different network?)"
        )
    model.load_weights(path)
    return model


#: the pretrained weights ResNetPreAct(weights=...) knows, file in rnpa/assets
PRETRAINED_WEIGHTS = {"flowers32": "resnetpreact_flowers32.weights.h5"}


def _check_weights(
    weights: Any,
    input_shape: tuple[int, int, int],
    nb_classes: int,
    num_stages: int,
    use_final_conv: bool,
    use_shortcuts: bool,
) -> str | None:
    """Return the weights file of ``weights`` (or None), or raise before building."""
    if weights is None:
        return None
    if not isinstance(weights, str):
        raise TypeError(
            f"weights must be None, 'flowers32' or the path of a .weights.h5 file, got {weights!r}"
        )
    if weights in PRETRAINED_WEIGHTS:
        default = (input_shape, nb_classes, num_stages, use_final_conv, use_shortcuts)
        if default != ((32, 32, 3), 5, 5, False, True):
            raise ValueError(
                f"weights={weights!r} needs the default network: input_shape=(32, 32, 3), "
                "nb_classes=5, num_stages=5, use_final_conv=False, use_shortcuts=True; got "
                f"input_shape={input_shape}, nb_classes={nb_classes}, num_stages={num_stages}, "
                f"use_final_conv={use_final_conv}, use_shortcuts={use_shortcuts}"
            )
        from rnpa._files import asset_path

        return str(asset_path(PRETRAINED_WEIGHTS[weights]))
    if not weights.endswith(".weights.h5"):
        raise ValueError(
            f"weights must be None, {', '.join(map(repr, PRETRAINED_WEIGHTS))} or the path of a "
            f".weights.h5 file, got {weights!r}"
        )
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"weights file {weights!r} does not exist")
    return weights


def units_for_depth(depth: Any, bottleneck: bool) -> int:
    """Units per stage ``n`` of a CIFAR network: depth = 9n+2 (bottleneck) or 6n+2 (basic)."""
    per_unit = 9 if bottleneck else 6
    form = f"{per_unit}n+2"
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(f"depth must be an int of the form {form}, got {depth!r}")
    if depth < per_unit + 2 or (depth - 2) % per_unit:
        examples = ", ".join(str(per_unit * n + 2) for n in (1, 2, 3, 12, 18))
        kind = "bottleneck" if bottleneck else "basic"
        raise ValueError(
            f"depth must be of the form {form} with n >= 1 for {kind} units "
            f"(e.g. {examples}), got {depth!r}"
        )
    return (int(depth) - 2) // per_unit


def _cifar_network(
    depth: int,
    num_classes: int,
    input_shape: Sequence[int],
    bottleneck: bool,
    order: str,
    shortcuts: bool,
    reg: float,
    name: str | None,
) -> keras.Model:
    """Build a 3-stage CIFAR network; the public builders below only set switches."""
    _check_bool(bottleneck, "bottleneck")
    _check_bool(shortcuts, "shortcuts")
    order = check_choice(order, "order", ORDERS)
    n = units_for_depth(depth, bottleneck)
    num_classes = check_positive_int(num_classes, "num_classes", minimum=2)
    input_shape = check_input_shape(input_shape)
    reg = check_reg(reg)
    kind = "bottleneck" if bottleneck else "basic"
    l2 = regularizers.L2(reg) if reg > 0 else None

    # Keras walks the layer graph recursively: ResNet-1001 (3,339 layers) needs a
    # deeper Python stack than the default 1000 frames
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 6 * 3 * n * (6 if bottleneck else 4)))

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(
        CIFAR_WIDTHS[0], (3, 3), padding="same", use_bias=False, kernel_regularizer=l2,
        name="conv0",
    )(inputs)
    # the stem ends as each unit's input expects: conv-BN-ReLU before units that
    # start with a convolution, conv-BN before ReLU-only pre-activation units,
    # a bare conv before full pre-activation units (they start with BN-ReLU)
    if order != "pre":
        x = BatchNormalization(name="bn0")(x)
    if order not in PREACT_ORDERS:
        x = layers.Activation("relu", name="relu0")(x)
    for s, width in enumerate(CIFAR_WIDTHS, start=1):
        filters = (width, width, 4 * width) if bottleneck else (width, width)
        for u in range(1, n + 1):
            x = residual_unit(
                x,
                filters,
                f"{s}_{u}",
                kind=kind,
                order=order,
                strides=2 if (u == 1 and s > 1) else 1,
                shortcut=shortcuts,
                reg=reg,
            )
    # pre-activation units leave their last addition un-activated: the head adds
    # BN-ReLU (He et al. 2016, Sec. 4.1), or ReLU for ReLU-only pre-activation
    if order == "pre":
        x = BatchNormalization(name="bnF")(x)
    if order in PREACT_ORDERS:
        x = layers.Activation("relu", name="reluF")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(num_classes, activation="softmax", name="fc")(x)
    if name is None:
        prefix = {("pre", True): "preact_resnet", ("post", True): "resnet"}.get(
            (order, shortcuts), f"resnet_{order}_" if shortcuts else f"plain_{order}"
        )
        name = f"{prefix}{depth}"
    return keras.Model(inputs, x, name=name)


def cifar_resnet(
    depth: int,
    order: str = "pre",
    bottleneck: bool = False,
    shortcuts: bool = True,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    reg: float = 0.0,
    name: str | None = None,
) -> keras.Model:
    """A CIFAR ResNet whose units have any of the five orders of He et al. 2016.

    The ablation of He et al. 2016 (Fig. 4, Table 2): the same three-stage
    network (widths 16/32/64, depth 6n+2 with basic units, 9n+2 with
    bottleneck units) with the BN and ReLU of every unit in another place.
    ``order="pre"`` is :func:`preact_resnet`, ``order="post"`` is
    :func:`resnet_original`.

    Parameters
    ----------
    depth : int
        Number of weighted layers, 6n+2 (basic) or 9n+2 (bottleneck).
    order : {"pre", "post", "bn_after_add", "relu_before_add", "relu_preact"}
        The unit order (``rnpa.blocks.ORDER_NAMES`` has the paper's names). The
        stem ends with what the first unit expects (conv-BN-ReLU, conv-BN for
        ``"relu_preact"``, a bare conv for ``"pre"``) and the pre-activation
        orders get a final activation before pooling (BN-ReLU, or ReLU for
        ``"relu_preact"``; the paper gives the ReLU-only head no details, so
        that one is our choice).
    bottleneck, shortcuts, num_classes, input_shape, reg, name
        As in :func:`preact_resnet` (``bottleneck`` defaults to basic units
        here, as ResNet-110 in Table 2).

    Returns
    -------
    keras.Model
        Named ``preact_resnet{depth}``, ``resnet{depth}``,
        ``resnet_{order}_{depth}`` or ``plain_{order}{depth}``.
    """
    return _cifar_network(depth, num_classes, input_shape, bottleneck, order, shortcuts, reg, name)


def preact_resnet(
    depth: int,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    bottleneck: bool = True,
    reg: float = 0.0,
    shortcuts: bool = True,
    name: str | None = None,
) -> keras.Model:
    """Pre-activation ResNet for CIFAR-sized images (He et al. 2016).

    conv0 (16, 3x3), three stages of ``n`` units at widths 16/32/64 (bottleneck
    units expand 4x: 64/128/256 channels out), down-sampling by stride 2 in the
    first unit of stages 2 and 3, then BN-ReLU, global average pooling and a
    softmax layer. Depth is 9n+2 with bottleneck units (ResNet-164: n=18,
    ResNet-1001: n=111) and 6n+2 with basic units (ResNet-110: n=18).

    Parameters
    ----------
    depth : int
        Number of weighted layers, 9n+2 (bottleneck) or 6n+2 (basic).
    num_classes : int
        Classes of the softmax layer (>= 2).
    input_shape : tuple of 3 int
        ``(height, width, channels)``.
    bottleneck : bool
        Bottleneck units (1x1-3x3-1x1) or basic units (3x3-3x3).
    reg : float
        L2 factor on every convolution kernel (the paper's weight decay is 1e-4
        applied by the optimizer; see ``rnpa.train``).
    shortcuts : bool
        ``False`` gives the plain network of the same shape.
    name : str, optional
        Model name; default ``preact_resnet{depth}``.

    Returns
    -------
    keras.Model
        About 1.7M parameters for ResNet-164 and ResNet-110 (basic), 10.2M for
        ResNet-1001 (He et al. 2016, tables 2 and 3).
    """
    return _cifar_network(depth, num_classes, input_shape, bottleneck, "pre", shortcuts, reg, name)


def resnet_original(
    depth: int,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    bottleneck: bool = False,
    reg: float = 0.0,
    shortcuts: bool = True,
    name: str | None = None,
) -> keras.Model:
    """The original (post-activation) ResNet for CIFAR-sized images (He et al. 2015).

    conv0-bn0-relu0 (16 filters), three stages of ``n`` post-activation units
    (conv-BN-ReLU ..., conv-BN, add, ReLU) at widths 16/32/64, global average
    pooling and softmax. Depth 6n+2 with basic units (ResNet-20/32/44/56/110) or
    9n+2 with bottleneck units. Shortcuts that change width or stride are 1x1
    projections with BN (option B; the 2015 paper used zero padding, option A,
    for CIFAR).

    Parameters
    ----------
    depth, num_classes, input_shape, bottleneck, reg, shortcuts, name
        As in :func:`preact_resnet`.

    Returns
    -------
    keras.Model
    """
    return _cifar_network(depth, num_classes, input_shape, bottleneck, "post", shortcuts, reg, name)


def plain_network(
    depth: int,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    bottleneck: bool = False,
    order: str = "post",
    reg: float = 0.0,
    name: str | None = None,
) -> keras.Model:
    """A plain network: the same layers as a ResNet of that depth, no shortcuts.

    Parameters
    ----------
    order : str
        Layer order of the units, as in :func:`cifar_resnet`: ``"post"`` (the
        plain networks of He et al. 2015), ``"pre"`` (as :func:`preact_resnet`)
        or another of ``rnpa.blocks.ORDERS``.
    depth, num_classes, input_shape, bottleneck, reg, name
        As in :func:`preact_resnet`.

    Returns
    -------
    keras.Model
    """
    return _cifar_network(depth, num_classes, input_shape, bottleneck, order, False, reg, name)


__all__ = [
    "load_weights_checked",
    "ResNetPreAct",
    "cifar_resnet",
    "preact_resnet",
    "resnet_original",
    "plain_network",
    "units_for_depth",
    "check_input_shape",
]
