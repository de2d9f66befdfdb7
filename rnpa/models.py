"""Networks: the 2017 original, the paper's CIFAR family, and their comparisons.

* :func:`ResNetPreAct`: the 2017 notebook's network (same signature, same layer
  names, 96,133 parameters with the defaults).
* :func:`preact_resnet`: the pre-activation CIFAR networks of He et al. 2016
  (ResNet-164, ResNet-1001 with bottleneck units; ResNet-110 with basic units).
* :func:`resnet_original`: the post-activation networks of He et al. 2015 with the
  same shapes.
* :func:`plain_network`: either of the above without shortcuts.
* :func:`cifar_resnet`: the same network with any of the five unit orders.

The CIFAR builders take a unit kind (``unit="bottleneck"`` or ``"basic"``, the
kinds of :data:`rnpa.blocks.UNIT_KINDS`) and a shortcut type (``"projection"``,
option B of He et al. 2015, or ``"zeros"``, option A). Every network is in a
registry in the style of timm's ``register_model``: :func:`build_model` builds one
by name (``"resnetpreact"``, ``"preact_resnet164"``, ``"resnet20"``, ...),
:func:`list_models` names them, :func:`register_model` adds one.

Models are pure: no data, no compile.
"""

from __future__ import annotations

import inspect
import numbers
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import layers, regularizers

from rnpa._checks import check_choice, check_positive_int, check_reg
from rnpa.blocks import (
    ORDERS,
    PREACT_ORDERS,
    SHORTCUT_TYPES,
    UnitKind,
    get_unit_kind,
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
    weights_path = _check_weights(
        weights, input_shape, nb_classes, num_stages, use_final_conv, use_shortcuts
    )
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
            lambda name, obj: (
                arrays.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None
            )
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
            key = re.sub(
                "([a-z])([A-Z])",
                r"\1_\2",
                re.sub("(.)([A-Z][a-z]+)", r"\1_\2", type(layer).__name__),
            ).lower()
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


def _kind_of(unit: Any, bottleneck: Any, default: str, caller: str) -> UnitKind:
    """The unit kind of a builder call, reading the deprecated ``bottleneck`` keyword too.

    ``bottleneck=True/False`` (or a bool where ``unit`` stands, the old positional
    argument) still works, with a ``DeprecationWarning``.
    """
    if isinstance(unit, bool):  # the old positional bottleneck argument
        if bottleneck is not None:
            raise TypeError(
                f"{caller}() got a bool unit={unit!r} and bottleneck={bottleneck!r}; "
                "pass unit='bottleneck' or unit='basic'"
            )
        bottleneck, unit = unit, default
    if bottleneck is not None:
        if not isinstance(bottleneck, bool):
            raise TypeError(
                f"bottleneck must be True or False (deprecated: use unit=), got {bottleneck!r}"
            )
        mapped = "bottleneck" if bottleneck else "basic"
        if unit != default and unit != mapped:
            raise ValueError(
                f"{caller}() got unit={unit!r} and the deprecated "
                f"bottleneck={bottleneck!r}; pass unit= only"
            )
        warnings.warn(
            f"{caller}(bottleneck={bottleneck}) is deprecated; use unit={mapped!r}",
            DeprecationWarning,
            stacklevel=3,
        )
        unit = mapped
    return get_unit_kind(unit, "unit")


def units_for_depth(depth: Any, unit: str | UnitKind | bool = "bottleneck") -> int:
    """Units per stage ``n`` of a CIFAR network: depth = 9n+2 (bottleneck) or 6n+2 (basic).

    The formula comes from the unit kind (:data:`rnpa.blocks.UNIT_KINDS`): one stem
    convolution, ``n`` units of ``n_convs`` convolutions in each of the
    ``len(CIFAR_WIDTHS)`` stages, one classifier. ``unit`` may still be a bool
    (``True``: bottleneck), as before.
    """
    if isinstance(unit, bool):
        unit = "bottleneck" if unit else "basic"
    kind = get_unit_kind(unit, "unit")
    per_n, form = kind.depth_form(len(CIFAR_WIDTHS))
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(f"depth must be an int of the form {form}, got {depth!r}")
    if depth < per_n + 2 or (depth - 2) % per_n:
        examples = ", ".join(str(per_n * n + 2) for n in (1, 2, 3, 12, 18))
        raise ValueError(
            f"depth must be of the form {form} with n >= 1 for {kind.name} units "
            f"(e.g. {examples}), got {depth!r}"
        )
    return (int(depth) - 2) // per_n


def _cifar_network(
    depth: int,
    num_classes: int,
    input_shape: Sequence[int],
    unit: UnitKind,
    order: str,
    shortcuts: bool,
    shortcut_type: str,
    reg: float,
    name: str | None,
) -> keras.Model:
    """Build a 3-stage CIFAR network; the public builders below only set switches."""
    _check_bool(shortcuts, "shortcuts")
    order = check_choice(order, "order", ORDERS)
    shortcut_type = check_choice(shortcut_type, "shortcut_type", SHORTCUT_TYPES)
    n = units_for_depth(depth, unit)
    num_classes = check_positive_int(num_classes, "num_classes", minimum=2)
    input_shape = check_input_shape(input_shape)
    reg = check_reg(reg)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be None or a str, got {name!r}")
    l2 = regularizers.L2(reg) if reg > 0 else None

    # Keras walks the layer graph recursively: ResNet-1001 (3,339 layers) needs a
    # deeper Python stack than the default 1000 frames
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 6 * 3 * n * 2 * unit.n_convs))

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(
        CIFAR_WIDTHS[0],
        (3, 3),
        padding="same",
        use_bias=False,
        kernel_regularizer=l2,
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
        for u in range(1, n + 1):
            x = residual_unit(
                x,
                unit.widths(width),
                f"{s}_{u}",
                kind=unit,
                order=order,
                strides=2 if (u == 1 and s > 1) else 1,
                shortcut=shortcuts,
                shortcut_type=shortcut_type,
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


# ----------------------------------------------------------------------------
# the model registry: name -> builder (timm's register_model, for rnpa's families)
# ----------------------------------------------------------------------------
#: the registered networks: name -> builder; a name with ``{depth}`` is a family
#: (``"preact_resnet{depth}"`` answers ``"preact_resnet164"``, calling the builder with depth=164)
MODELS: dict[str, Callable[..., keras.Model]] = {}
_DEPTH = "{depth}"


def register_model(name: str) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Register the decorated builder under ``name`` for :func:`build_model`; return it unchanged.

    ``name`` is lower case, letters, digits and ``_``; ending in ``{depth}`` it
    names a family whose builder takes the depth as its first argument. Every
    builder takes the keywords ``input_shape``, ``num_classes`` and ``reg``.

    Examples
    --------
    >>> @register_model("tiny_resnet{depth}")
    ... def tiny(depth, **kwargs):
    ...     return resnet_original(depth, **kwargs)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    stem = name[: -len(_DEPTH)] if name.endswith(_DEPTH) else name
    if not re.fullmatch(r"[a-z][a-z0-9_]*", stem) or (stem != name and stem[-1].isdigit()):
        raise ValueError(
            f"name must be lower-case letters, digits and '_' (a family ending in a letter or "
            f"'_' before {_DEPTH}), got {name!r}"
        )
    if name in MODELS:
        raise ValueError(f"a model named {name!r} is already registered")

    def decorator(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        if not callable(builder):
            raise TypeError(f"register_model({name!r}) must decorate a function, got {builder!r}")
        MODELS[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """The names :func:`build_model` knows, families with their ``{depth}`` placeholder."""
    return list(MODELS)


def _lookup(name: Any) -> tuple[str, Callable[..., keras.Model], tuple[int, ...]]:
    if not isinstance(name, str):
        raise TypeError(f"model must be a name ({', '.join(MODELS)}), got {name!r}")
    key = name.strip().lower().replace("-", "_")
    if key in MODELS:
        return key, MODELS[key], ()
    match = re.fullmatch(r"(?P<stem>[a-z][a-z0-9_]*?[a-z_])(?P<depth>\d+)", key)
    if match and match["stem"] + _DEPTH in MODELS:
        return match["stem"] + _DEPTH, MODELS[match["stem"] + _DEPTH], (int(match["depth"]),)
    raise ValueError(f"unknown model {name!r}; registered models: {', '.join(MODELS)}")


def build_model(name: str, **kwargs: Any) -> keras.Model:
    """Build the registered network ``name`` (case and ``-``/``_`` do not matter).

    Parameters
    ----------
    name : str
        A name of :func:`list_models`: ``"resnetpreact"``, or a family with its
        depth: ``"preact_resnet164"``, ``"resnet110"`` (= ``"resnet_original110"``),
        ``"plain20"``, ``"cifar_resnet20"``.
    **kwargs
        Passed to the builder: every one takes ``input_shape``, ``num_classes``
        and ``reg``; ``"resnetpreact"`` also ``num_stages``, ``use_final_conv``,
        ``use_shortcuts``, ``weights``; the CIFAR families ``unit``,
        ``shortcut_type``, ... as :func:`preact_resnet`. Arguments set to ``None``
        are left out (the builder's default applies).

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        For an unknown name (the message lists the registered ones).
    TypeError
        For an argument the builder does not take (named with the model).
    """
    key, builder, args = _lookup(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    params = inspect.signature(builder).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    allowed = [
        p
        for p in params
        if p != "depth"
        and params[p].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    unknown = [k for k in kwargs if k not in allowed and (not takes_any or k == "depth")]
    if unknown:
        raise TypeError(
            f"model {name!r} ({key}) takes no argument {unknown[0]!r}; it takes "
            f"{', '.join(a for a in allowed if a != 'bottleneck')}"  # bottleneck: deprecated
        )
    return builder(*args, **kwargs)


@register_model("resnetpreact")
def _resnetpreact(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 5,
    reg: float = 0.0,
    num_stages: int = 5,
    use_final_conv: bool = False,
    use_shortcuts: bool = True,
    weights: str | None = None,
) -> keras.Model:
    """:func:`ResNetPreAct` under the registry's keyword names (``num_classes``: ``nb_classes``)."""
    return ResNetPreAct(
        input_shape, num_classes, num_stages, use_final_conv, reg, use_shortcuts, weights
    )


# ----------------------------------------------------------------------------
# the CIFAR family
# ----------------------------------------------------------------------------
def cifar_resnet(
    depth: int,
    order: str = "pre",
    unit: str = "basic",
    shortcuts: bool = True,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    reg: float = 0.0,
    name: str | None = None,
    *,
    shortcut_type: str = "projection",
    bottleneck: bool | None = None,
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
    unit, shortcuts, num_classes, input_shape, reg, name, shortcut_type
        As in :func:`preact_resnet` (``unit`` defaults to basic units here, as
        ResNet-110 in Table 2).
    bottleneck : bool, optional
        Deprecated: ``unit="bottleneck"`` / ``unit="basic"``.

    Returns
    -------
    keras.Model
        Named ``preact_resnet{depth}``, ``resnet{depth}``,
        ``resnet_{order}_{depth}`` or ``plain_{order}{depth}``.
    """
    kind = _kind_of(unit, bottleneck, "basic", "cifar_resnet")
    return _cifar_network(
        depth, num_classes, input_shape, kind, order, shortcuts, shortcut_type, reg, name
    )


@register_model("preact_resnet{depth}")
def preact_resnet(
    depth: int,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    unit: str = "bottleneck",
    reg: float = 0.0,
    shortcuts: bool = True,
    name: str | None = None,
    *,
    shortcut_type: str = "projection",
    bottleneck: bool | None = None,
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
    unit : {"bottleneck", "basic"}
        The unit kind (:data:`rnpa.blocks.UNIT_KINDS`): bottleneck units
        (1x1-3x3-1x1) or basic units (3x3-3x3).
    reg : float
        L2 factor on every convolution kernel (the paper's weight decay is 1e-4
        applied by the optimizer; see ``rnpa.train``).
    shortcuts : bool
        ``False`` gives the plain network of the same shape.
    name : str, optional
        Model name; default ``preact_resnet{depth}``.
    shortcut_type : {"projection", "zeros"}
        The shortcuts that change width or stride: 1x1 projections (option B of
        He et al. 2015, Sec. 3.3; the default) or the subsampled identity with
        zero channels appended (option A, parameter free).
    bottleneck : bool, optional
        Deprecated: ``unit="bottleneck"`` / ``unit="basic"``.

    Returns
    -------
    keras.Model
        About 1.7M parameters for ResNet-164 and ResNet-110 (basic), 10.2M for
        ResNet-1001 (He et al. 2016, tables 2 and 3).
    """
    kind = _kind_of(unit, bottleneck, "bottleneck", "preact_resnet")
    return _cifar_network(
        depth, num_classes, input_shape, kind, "pre", shortcuts, shortcut_type, reg, name
    )


@register_model("resnet_original{depth}")
@register_model("resnet{depth}")
def resnet_original(
    depth: int,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    unit: str = "basic",
    reg: float = 0.0,
    shortcuts: bool = True,
    name: str | None = None,
    *,
    shortcut_type: str = "projection",
    bottleneck: bool | None = None,
) -> keras.Model:
    """The original (post-activation) ResNet for CIFAR-sized images (He et al. 2015).

    conv0-bn0-relu0 (16 filters), three stages of ``n`` post-activation units
    (conv-BN-ReLU ..., conv-BN, add, ReLU) at widths 16/32/64, global average
    pooling and softmax. Depth 6n+2 with basic units (ResNet-20/32/44/56/110) or
    9n+2 with bottleneck units. Shortcuts that change width or stride are 1x1
    projections with BN by default (option B); the 2015 paper used zero padding,
    option A, for CIFAR (Sec. 4.2): ``shortcut_type="zeros"``, which gives
    ResNet-20 its 0.27M parameters of Table 6.

    Parameters
    ----------
    depth, num_classes, input_shape, unit, reg, shortcuts, name, shortcut_type
        As in :func:`preact_resnet` (``unit`` defaults to basic units here).
    bottleneck : bool, optional
        Deprecated: ``unit="bottleneck"`` / ``unit="basic"``.

    Returns
    -------
    keras.Model
    """
    kind = _kind_of(unit, bottleneck, "basic", "resnet_original")
    return _cifar_network(
        depth, num_classes, input_shape, kind, "post", shortcuts, shortcut_type, reg, name
    )


@register_model("plain{depth}")
def plain_network(
    depth: int,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    unit: str = "basic",
    order: str = "post",
    reg: float = 0.0,
    name: str | None = None,
    *,
    bottleneck: bool | None = None,
) -> keras.Model:
    """A plain network: the same layers as a ResNet of that depth, no shortcuts.

    Parameters
    ----------
    order : str
        Layer order of the units, as in :func:`cifar_resnet`: ``"post"`` (the
        plain networks of He et al. 2015), ``"pre"`` (as :func:`preact_resnet`)
        or another of ``rnpa.blocks.ORDERS``.
    depth, num_classes, input_shape, unit, reg, name
        As in :func:`preact_resnet` (``unit`` defaults to basic units here).
    bottleneck : bool, optional
        Deprecated: ``unit="bottleneck"`` / ``unit="basic"``.

    Returns
    -------
    keras.Model
    """
    kind = _kind_of(unit, bottleneck, "basic", "plain_network")
    return _cifar_network(
        depth, num_classes, input_shape, kind, order, False, "projection", reg, name
    )


# registered last, so that the list of models reads from the paper's networks to the ablation
register_model("cifar_resnet{depth}")(cifar_resnet)

__all__ = [
    "MODELS",
    "build_model",
    "list_models",
    "register_model",
    "load_weights_checked",
    "ResNetPreAct",
    "cifar_resnet",
    "preact_resnet",
    "resnet_original",
    "plain_network",
    "units_for_depth",
    "check_input_shape",
]
