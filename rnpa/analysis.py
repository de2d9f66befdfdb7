"""Measurements on a network: costs, receptive fields, gradients and activations.

What the lessons measure, each a function of a built Keras model:

* :func:`layer_table`: parameters and multiply-accumulates (MACs) of every layer;
* :func:`unit_costs`: the same summed per residual (or plain) unit;
* :func:`conv_macs`, :func:`conv_params`: the formulas, to check by hand;
* :func:`receptive_field`: receptive field size and jump of every spatial layer;
* :func:`gradient_norms`: the size of the gradient reaching each unit;
* :func:`activation_stats`: mean, spread and sparsity of chosen layers' outputs.

Units are found from the layer names that :mod:`rnpa.blocks` gives them, read
back with :func:`rnpa.blocks.parse_layer_name` (the one naming contract): a layer
belongs to the unit labelled ``L`` (``"3"`` in :func:`rnpa.ResNetPreAct`,
``"2_1"`` in :func:`rnpa.preact_resnet`) when it is named ``bn{L}x``,
``relu{L}x`` or ``conv{L}x`` (``x`` one of a, b, c), ``proj{L}``, ``bnproj{L}``,
``down{L}``, ``pad{L}``, ``merge{L}``, ``bn{L}out`` or ``relu{L}out``. Every other
layer is "stem" (before the first unit) or "head" (after the last). A unit's
*output* is its last layer in network order: ``merge{L}`` in a pre-activation
unit (x_{l+1} of He et al. 2016), ``relu{L}out`` in a post-activation unit, the
last convolution (pre-activation order) or ``relu{L}out`` (post-activation
order) in a plain unit.

Counting convention
-------------------
MACs count the multiply-accumulates of convolutions and dense layers only, for
one image: ``H_out * W_out * k_h * k_w * (C_in / groups) * C_out`` for a
convolution, ``inputs * outputs`` for a dense layer. Batch normalisation (which
folds into the preceding convolution at inference), activations, additions,
pooling, flattening count zero, as in the FLOP figures of He et al. FLOPs are
``2 * MACs`` (one multiply and one add each); bias additions are not counted.

The layers measured are the 2-D ones rnpa networks use: ``Conv2D``, ``Dense``,
batch normalisation, 2-D pooling (local and global), zero padding, activations,
additions, flattening. A layer of another kind that has weights or a kernel
(``DepthwiseConv2D``, ``Conv1D``, ``Conv2DTranspose`` ...) is refused with a
``ValueError`` naming it, rather than counted as zero.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from rnpa._checks import check_positive_int
from rnpa.blocks import parse_layer_name

#: the values :func:`gradient_norms` accepts for ``where``
WHERE = ("units", "weights")

_POOL = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_GLOBAL_POOL = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
#: layers with weights whose cost this module knows
_WEIGHTED = (keras.layers.Conv2D, keras.layers.Dense, keras.layers.BatchNormalization)
#: layers without weights that do not change the receptive field or cost anything
_PASSIVE = (
    keras.layers.InputLayer,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.Add,
    keras.layers.Flatten,
    keras.layers.ZeroPadding2D,
    keras.layers.Dropout,
)


def _check_known(layer: keras.layers.Layer) -> None:
    """Raise for a layer this module has no formula for and would count wrongly as zero."""
    if isinstance(layer, (keras.Model, *_WEIGHTED, *_POOL, *_GLOBAL_POOL, *_PASSIVE)):
        return
    if layer.weights or hasattr(layer, "kernel_size") or hasattr(layer, "pool_size"):
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) is not one rnpa.analysis measures: "
            "it counts Conv2D, Dense, BatchNormalization and 2-D pooling layers (the layers of "
            "rnpa networks); other layers with weights or kernels would be miscounted"
        )


# ----------------------------------------------------------------------------
# records
# ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LayerCost:
    """Cost of one layer for one image (see the module's counting convention).

    Attributes
    ----------
    name, type : str
        Layer name and class name (``"Conv2D"``).
    output_shape : tuple
        Output shape without the batch axis.
    params, trainable_params : int
        All weights (BN moving statistics included) and the trainable ones.
    macs, flops : int
        Multiply-accumulates of one forward pass for one image; ``flops = 2 * macs``.
    """

    name: str
    type: str
    output_shape: tuple
    params: int
    trainable_params: int
    macs: int
    flops: int


@dataclasses.dataclass(frozen=True)
class UnitCost:
    """Summed cost of the layers of one unit (or of the stem or head).

    Attributes
    ----------
    label : str
        Unit label (``"3"``, ``"2_1"``), or ``"stem"`` / ``"head"``.
    layers : tuple of str
        The unit's layer names, in network order.
    output : str
        Name of the layer whose output leaves the unit (its last layer).
    params, trainable_params, macs, flops : int
        Sums over ``layers``.
    """

    label: str
    layers: tuple
    output: str
    params: int
    trainable_params: int
    macs: int
    flops: int


@dataclasses.dataclass(frozen=True)
class RFRow:
    """Receptive field of one output position of a layer, along the height.

    Attributes
    ----------
    name, type : str
        Layer name and class name.
    kernel, stride : int
        The layer's own kernel height and stride (1, 1 for layers that do not
        change the receptive field; the feature map height for global pooling).
    size : int
        Receptive field height in input pixels, along the longest path.
    jump : int
        Distance in input pixels between neighbouring output positions
        (the product of the strides so far).
    """

    name: str
    type: str
    kernel: int
    stride: int
    size: int
    jump: int


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------
def _check_model(model: Any) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"model must be a built keras.Model (e.g. rnpa.ResNetPreAct()), "
            f"got {type(model).__name__}: {model!r:.80}"
        )
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"model must have one input and one output, got {len(model.inputs)} inputs "
            f"and {len(model.outputs)} outputs (model {model.name!r})"
        )
    return model


def _kernel_tuple(value: Any, name: str, ndim: int = 2) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value),) * ndim
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or len(value) != ndim
        or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in value)
    ):
        raise ValueError(
            f"{name} must be a positive int or a tuple of {ndim} positive ints, got {value!r}"
        )
    return tuple(int(v) for v in value)


def _batch(model: keras.Model, x: Any, name: str = "x") -> np.ndarray:
    """Return ``x`` as a float32 array shaped like the model's input, or raise."""
    try:
        arr = np.asarray(x, dtype="float32")
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of images, got {type(x).__name__}") from err
    expected = tuple(model.inputs[0].shape[1:])
    ok = arr.ndim == len(expected) + 1 and all(
        e is None or e == a for e, a in zip(expected, arr.shape[1:], strict=True)
    )
    if not ok or arr.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (batch,) + {expected} for model {model.name!r} "
            f"(batch >= 1), got {arr.shape}"
        )
    return arr


# ----------------------------------------------------------------------------
# formulas
# ----------------------------------------------------------------------------
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: str = "same") -> int:
    """Output length of a convolution along one axis: ceil(n/s) ("same"), floor((n-k)/s)+1."""
    if padding == "same":
        return -(-size // stride)
    if padding == "valid":
        return max(0, (size - kernel) // stride + 1)
    raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")


def conv_macs(
    input_shape: Sequence[int],
    filters: int,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: str = "same",
    groups: int = 1,
) -> int:
    """Multiply-accumulates of a 2-D convolution on one image.

    ``H_out * W_out * k_h * k_w * (C_in / groups) * C_out``.

    Parameters
    ----------
    input_shape : tuple of 3 int
        ``(height, width, channels)`` of the input, without the batch axis.
    filters : int
        Output channels ``C_out``.
    kernel_size, strides : int or tuple of 2 int
        As in ``keras.layers.Conv2D``.
    padding : {"same", "valid"}
        ``"same"``: ``H_out = ceil(H / s)``; ``"valid"``: ``floor((H - k) / s) + 1``.
    groups : int
        Grouped convolution; ``C_in`` and ``filters`` must be divisible by it.

    Returns
    -------
    int

    Examples
    --------
    The stem of :func:`rnpa.ResNetPreAct`, 128 filters 3x3 stride 2 on 32x32x3:

    >>> conv_macs((32, 32, 3), 128, 3, strides=2)
    884736
    """
    if (
        isinstance(input_shape, (str, bytes))
        or not isinstance(input_shape, Sequence)
        or len(input_shape) != 3
    ):
        raise ValueError(
            f"input_shape must be (height, width, channels) without the batch axis, "
            f"got {input_shape!r}"
        )
    h, w, c_in = (check_positive_int(v, "input_shape") for v in input_shape)
    filters = check_positive_int(filters, "filters")
    kh, kw = _kernel_tuple(kernel_size, "kernel_size")
    sh, sw = _kernel_tuple(strides, "strides")
    groups = check_positive_int(groups, "groups")
    if c_in % groups or filters % groups:
        raise ValueError(
            f"groups={groups} must divide the input channels ({c_in}) and filters ({filters})"
        )
    h_out = conv_output_size(h, kh, sh, padding)
    w_out = conv_output_size(w, kw, sw, padding)
    return h_out * w_out * kh * kw * (c_in // groups) * filters


def conv_params(
    c_in: int,
    c_out: int,
    kernel_size: int | Sequence[int],
    use_bias: bool,
    groups: int = 1,
) -> int:
    """Number of weights of a 2-D convolution: ``k_h * k_w * (C_in / groups) * C_out (+ C_out)``.

    Parameters
    ----------
    c_in, c_out : int
        Input and output channels.
    kernel_size : int or tuple of 2 int
        Kernel height and width.
    use_bias : bool
        Add ``c_out`` biases.
    groups : int
        Grouped convolution.

    Returns
    -------
    int

    Examples
    --------
    >>> conv_params(32, 128, 1, use_bias=True)  # conv1c of the original network
    4224
    """
    c_in = check_positive_int(c_in, "c_in")
    c_out = check_positive_int(c_out, "c_out")
    kh, kw = _kernel_tuple(kernel_size, "kernel_size")
    if not isinstance(use_bias, bool):
        raise TypeError(f"use_bias must be True or False, got {use_bias!r}")
    groups = check_positive_int(groups, "groups")
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in ({c_in}) and c_out ({c_out})")
    return kh * kw * (c_in // groups) * c_out + (c_out if use_bias else 0)


# ----------------------------------------------------------------------------
# per layer
# ----------------------------------------------------------------------------
def _shape(tensor: Any) -> tuple:
    return tuple(None if d is None else int(d) for d in tensor.shape[1:])


def _layer_macs(layer: keras.layers.Layer) -> int:
    """MACs of one call of ``layer`` on one image (convention in the module docstring)."""
    if isinstance(layer, keras.Model):
        return sum(row.macs for row in layer_table(layer))
    _check_known(layer)
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
        return 0
    out_shape = _shape(layer.output)
    in_shape = _shape(layer.input)
    if None in out_shape or None in in_shape:
        raise ValueError(
            f"layer {layer.name!r} has an unknown output shape {out_shape}; build the "
            "model with a fixed input_shape to count its MACs"
        )
    if isinstance(layer, keras.layers.Dense):
        # every output position: in * out
        return math.prod(out_shape[:-1]) * in_shape[-1] * layer.units
    # Conv2D: every output position applies the kernel, k_h * k_w * (C_in / groups) * C_out
    return math.prod(out_shape[:-1]) * int(np.prod(layer.kernel.shape))


def _count(weights: Sequence[Any]) -> int:
    return int(sum(math.prod(int(d) for d in w.shape) for w in weights))


def layer_table(model: keras.Model) -> list[LayerCost]:
    """One row of parameters and arithmetic per layer, in network order.

    Parameters
    ----------
    model : keras.Model
        A functional model with a fixed input size (every rnpa network).

    Returns
    -------
    list of LayerCost
        ``name``, ``type``, ``output_shape`` (without batch), ``params`` (all
        weights, BN moving statistics included, so the sum is
        ``model.count_params()``), ``trainable_params``, ``macs`` and ``flops``
        for one image. Only convolutions and dense layers have MACs; BN,
        activations, additions and pooling count zero (see the module docstring).
        A nested model is one row with its summed MACs.

    Examples
    --------
    >>> rows = layer_table(rnpa.ResNetPreAct())
    >>> sum(r.params for r in rows), next(r.macs for r in rows if r.name == "conv0")
    (96133, 884736)
    """
    model = _check_model(model)
    rows = []
    for layer in model.layers:
        macs = _layer_macs(layer)
        out = layer.output
        rows.append(
            LayerCost(
                name=layer.name,
                type=type(layer).__name__,
                output_shape=_shape(out) if hasattr(out, "shape") else (),
                params=_count(layer.weights),
                trainable_params=_count(layer.trainable_weights),
                macs=int(macs),
                flops=2 * int(macs),
            )
        )
    return rows


# ----------------------------------------------------------------------------
# units
# ----------------------------------------------------------------------------
def unit_label(layer_name: str) -> str | None:
    """The unit label a layer name carries (``"conv2_1b"`` -> ``"2_1"``), or None.

    Names follow :mod:`rnpa.blocks` and are read by
    :func:`rnpa.blocks.parse_layer_name`: ``bn{L}x``, ``relu{L}x``, ``conv{L}x``
    (x in a, b, c), ``proj{L}``, ``bnproj{L}``, ``down{L}``, ``pad{L}``,
    ``merge{L}``, ``bn{L}out``, ``relu{L}out``. Stem and head layers (``conv0``,
    ``bn0``, ``bnF``, ``avg_pool``, ``fc10``) carry none.
    """
    parsed = parse_layer_name(layer_name)
    return None if parsed is None else parsed.label


def _unit_layers(model: keras.Model) -> dict[str, list[keras.layers.Layer]]:
    """Layers of each unit, units ordered by the position of their output layer."""
    groups: dict[str, list[keras.layers.Layer]] = {}
    last: dict[str, int] = {}
    for i, layer in enumerate(model.layers):
        label = unit_label(layer.name)
        if label is not None:
            groups.setdefault(label, []).append(layer)
            last[label] = i
    return {label: groups[label] for label in sorted(groups, key=last.__getitem__)}


def unit_outputs(model: keras.Model) -> dict[str, str]:
    """Map each unit label to the name of the layer whose output leaves the unit.

    The unit's last layer in network order: ``merge{L}`` for pre-activation
    residual units, ``relu{L}out`` for post-activation units (residual or plain),
    the last convolution for plain pre-activation units. Ordered input to output.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    dict of str to str
        Empty for a model without rnpa unit names.
    """
    model = _check_model(model)
    return {label: layers[-1].name for label, layers in _unit_layers(model).items()}


def unit_costs(model: keras.Model, include_stem_head: bool = False) -> dict[str, UnitCost]:
    """Parameters and MACs summed per unit, in network order.

    Parameters
    ----------
    model : keras.Model
        A network built by rnpa (units are found from the layer names, see the
        module docstring).
    include_stem_head : bool
        ``False`` (default): residual/plain units only. ``True``: also a
        ``"stem"`` entry first (unlabelled layers before the first unit: input,
        conv0, bn0, relu0) and a ``"head"`` entry last (everything after: bnF,
        reluF, pooling, the classifier), so the entries add up to the model's
        totals.

    Returns
    -------
    dict of str to UnitCost
        Keyed by unit label (``"1"`` ... ``"5"`` for ResNetPreAct, ``"1_1"`` ...
        for the CIFAR family).

    Examples
    --------
    >>> costs = unit_costs(rnpa.ResNetPreAct())
    >>> costs["1"].params, costs["2"].params   # unit 1 has no bn1a
    (17792, 18304)
    """
    model = _check_model(model)
    if not isinstance(include_stem_head, bool):
        raise TypeError(f"include_stem_head must be True or False, got {include_stem_head!r}")
    table = {row.name: row for row in layer_table(model)}
    groups = _unit_layers(model)

    def cost(label: str, names: list[str]) -> UnitCost:
        rows = [table[n] for n in names]
        return UnitCost(
            label=label,
            layers=tuple(names),
            output=names[-1] if names else "",
            params=sum(r.params for r in rows),
            trainable_params=sum(r.trainable_params for r in rows),
            macs=sum(r.macs for r in rows),
            flops=sum(r.flops for r in rows),
        )

    units = {label: cost(label, [lyr.name for lyr in lyrs]) for label, lyrs in groups.items()}
    if not include_stem_head:
        return units
    names = [layer.name for layer in model.layers]
    in_unit = {n for u in units.values() for n in u.layers}
    if units:
        first = min(names.index(n) for n in in_unit)
        last = max(names.index(n) for n in in_unit)
    else:  # no units: everything is stem
        first = last = len(names)
    stem = [n for n in names[:first] if n not in in_unit]
    head = [n for n in names[last + 1 :] if n not in in_unit]
    stray = [n for n in names[first : last + 1] if n not in in_unit]
    if stray:
        raise ValueError(
            f"layers {stray!r} of model {model.name!r} sit between units but carry no unit "
            "label; unit_costs(include_stem_head=True) cannot place them"
        )
    return {"stem": cost("stem", stem), **units, "head": cost("head", head)}


# ----------------------------------------------------------------------------
# receptive field
# ----------------------------------------------------------------------------
def _inbound(layer: keras.layers.Layer, producer: dict[int, str]) -> list[str]:
    if isinstance(layer, keras.layers.InputLayer):
        return []
    return [producer[id(t)] for t in keras.tree.flatten(layer.input) if id(t) in producer]


def receptive_field(model: keras.Model) -> list[RFRow]:
    """Receptive field size and jump of every spatial layer, in network order.

    The standard recurrence along the first spatial axis (height):
    ``r_out = r_in + (k - 1) * d * j_in`` and ``j_out = j_in * s`` for a layer
    with kernel ``k``, dilation ``d`` and stride ``s``, starting from ``r = j = 1``
    at the input. Convolutions and pooling change ``r``; a global pooling layer
    counts as a pooling window over the whole feature map. Other layers pass
    ``r`` and ``j`` on. Where paths meet (the addition of a residual unit) the
    row reports the **largest** field, that of the path through every
    convolution; the shortcut path alone sees less. Sizes can exceed the image
    (``"same"`` padding sees zeros beyond the border). Layers after flattening
    (dense) have no spatial layout and get no row.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    list of RFRow

    Examples
    --------
    The original network on 32x32: conv0 (3x3, stride 2) gives r=3, j=2; each
    unit's 3x3 convolution adds 2*2, so after five units r = 3 + 5*4 = 23.
    """
    model = _check_model(model)
    producer: dict[int, str] = {}
    for layer in model.layers:
        for t in keras.tree.flatten(layer.output):
            producer[id(t)] = layer.name
    state: dict[str, tuple[int, int]] = {}
    rows = []
    for layer in model.layers:
        sources = [state[n] for n in _inbound(layer, producer) if n in state]
        r_in = max((s[0] for s in sources), default=1)
        j_in = max((s[1] for s in sources), default=1)
        out = layer.output
        _check_known(layer)
        if isinstance(layer, _GLOBAL_POOL):
            k = int(layer.input.shape[1])
            s, d = k, 1
        elif isinstance(layer, keras.layers.Conv2D):
            k, s = int(layer.kernel_size[0]), int(layer.strides[0])
            d = int(layer.dilation_rate[0])
        elif isinstance(layer, _POOL):
            k, s, d = int(layer.pool_size[0]), int(layer.strides[0]), 1
        elif len(getattr(out, "shape", ())) >= 3:
            k = s = d = 1
        else:
            continue
        r, j = r_in + (k - 1) * d * j_in, j_in * s
        state[layer.name] = (r, j)
        rows.append(RFRow(layer.name, type(layer).__name__, k, s, r, j))
    return rows


# ----------------------------------------------------------------------------
# gradients and activations
# ----------------------------------------------------------------------------
def _loss_fn(loss: Any) -> Callable[[Any, Any], Any]:
    if loss is None:
        return keras.losses.SparseCategoricalCrossentropy()
    if isinstance(loss, str):
        try:
            return keras.losses.get(loss)
        except ValueError as err:
            raise ValueError(
                f"loss must be a Keras loss name or a callable (y_true, y_pred) -> loss, "
                f"got {loss!r}"
            ) from err
    if callable(loss):
        return loss
    raise TypeError(
        f"loss must be None (sparse categorical cross-entropy), a Keras loss name or a "
        f"callable (y_true, y_pred) -> loss, got {loss!r}"
    )


def _labels(model: keras.Model, y: Any, batch: int, custom_loss: bool) -> Any:
    arr = np.asarray(y)
    if arr.shape[:1] != (batch,):
        raise ValueError(f"y must have one label per image in x ({batch}), got shape {arr.shape}")
    if custom_loss:
        return arr
    n_classes = int(model.outputs[0].shape[-1])
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if (
        arr.ndim != 1
        or not np.issubdtype(arr.dtype, np.integer)
        or arr.min() < 0
        or arr.max() >= n_classes
    ):
        raise ValueError(
            f"y must be integer class labels of shape ({batch},) in [0, {n_classes}) for the "
            f"default sparse categorical cross-entropy, got shape {arr.shape}, "
            f"dtype {arr.dtype}; pass loss= for other targets"
        )
    return arr


def _restore(model: keras.Model, saved: list[np.ndarray]) -> None:
    """Put back the non-trainable variables (BN statistics) saved before a training call."""
    if saved:
        for var, val in zip(model.non_trainable_variables, saved, strict=True):
            var.assign(val)


def _check_training(training: Any) -> bool:
    if not isinstance(training, bool):
        raise TypeError(f"training must be True or False, got {training!r}")
    return training


def _grads_tensorflow(
    probe: keras.Model,
    xb: np.ndarray,
    yb: Any,
    loss_fn: Callable[[Any, Any], Any],
    training: bool,
    weights: list[Any] | None,
) -> list[Any]:
    """TensorFlow: the tape's gradient w.r.t. the unit outputs (``weights=None``) or weights."""
    with tf.GradientTape() as tape:
        *acts, pred = probe(xb, training=training)
        value = keras.ops.mean(loss_fn(yb, pred))
    return tape.gradient(value, acts if weights is None else weights)


def _grads_torch(
    probe: keras.Model,
    xb: np.ndarray,
    yb: Any,
    loss_fn: Callable[[Any, Any], Any],
    training: bool,
    weights: list[Any] | None,
) -> list[Any]:
    """PyTorch: autograd's gradient w.r.t. the unit outputs (``weights=None``) or weights."""
    import torch

    *acts, pred = probe(xb, training=training)
    value = keras.ops.mean(loss_fn(yb, pred))
    sources = acts if weights is None else [w.value for w in weights]
    return list(torch.autograd.grad(value, sources, allow_unused=True))


@functools.cache
def _shift_layer() -> type:
    """A layer adding a zero weight of its input's full shape (batch included)."""

    class Shift(keras.layers.Layer):
        """``x + delta`` with ``delta = 0``: the gradient w.r.t. ``delta`` is that w.r.t. ``x``."""

        def __init__(self, batch: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.batch = batch

        def build(self, input_shape: Any) -> None:
            self.delta = self.add_weight(
                shape=(self.batch, *input_shape[1:]), initializer="zeros", name="delta"
            )

        def call(self, inputs: Any) -> Any:
            return inputs + self.delta

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

    return Shift


def _grads_jax(
    model: keras.Model,
    groups: dict[str, list[keras.layers.Layer]],
    xb: np.ndarray,
    yb: Any,
    loss_fn: Callable[[Any, Any], Any],
    training: bool,
    weights: list[Any] | None,
) -> list[Any]:
    """JAX: ``jax.grad`` of the model's ``stateless_call`` w.r.t. unit outputs or weights.

    JAX differentiates functions of their arguments, not intermediate tensors: for
    the unit outputs, the model is rebuilt (sharing its layers and weights) with
    a zero shift added to each unit's output, and the gradient taken w.r.t. the
    shifts. ``stateless_call`` returns the new BN statistics instead of assigning
    them, so the model is left as it was.
    """
    import jax

    net = model
    if weights is None:
        ends = {lyrs[-1].name: label for label, lyrs in groups.items()}
        shifts: dict[str, keras.layers.Layer] = {}

        def call_function(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
            out = layer(*args, **kwargs)
            if layer.name in ends:
                shifts[ends[layer.name]] = _shift_layer()(
                    int(xb.shape[0]), dtype=layer.dtype_policy, name=f"shift_{layer.name}"
                )
                out = shifts[ends[layer.name]](out)
            return out

        net = keras.models.clone_model(
            model, clone_function=lambda layer: layer, call_function=call_function
        )
        weights = [shifts[label].delta for label in groups]
    trainable = net.trainable_variables
    where = {id(v): i for i, v in enumerate(trainable)}
    non_trainable = [v.value for v in net.non_trainable_variables]

    def loss_value(values: list[Any]) -> Any:
        pred, _ = net.stateless_call(values, non_trainable, xb, training=training)
        return keras.ops.mean(loss_fn(yb, pred))

    grads = jax.grad(loss_value)([v.value for v in trainable])
    return [grads[where[id(w)]] for w in weights]


def gradient_norms(
    model: keras.Model,
    x: Any,
    y: Any,
    where: str = "units",
    loss: Any = None,
    training: bool = False,
) -> dict[str, float]:
    """L2 norm of the loss gradient at each unit, ordered input to output.

    Parameters
    ----------
    model : keras.Model
        A network built by rnpa: :func:`rnpa.ResNetPreAct`,
        :func:`rnpa.preact_resnet`, :func:`rnpa.resnet_original`,
        :func:`rnpa.plain_network`.
    x : array, shape ``(batch, height, width, channels)``
        Images, shaped like the model's input.
    y : array, shape ``(batch,)``
        Integer class labels (for the default loss).
    where : {"units", "weights"}
        ``"units"``: gradient with respect to each unit's output activation, the
        tensor leaving the unit (:func:`unit_outputs`: ``merge{L}``, i.e.
        x_{l+1}, in a pre-activation network; the unit's last layer in
        post-activation and plain networks). ``"weights"``: gradient with respect
        to all trainable weights of the unit's layers, one norm over them all.
    loss : None, str or callable
        ``None``: sparse categorical cross-entropy on the softmax output, mean
        over the batch. Otherwise a Keras loss name or ``loss(y_true, y_pred)``;
        its mean is taken.
    training : bool
        Run batch normalisation in training mode (batch statistics) instead of
        inference mode (moving statistics, the default; at initialisation these
        are mean 0, variance 1, so BN is then nearly the identity). Either way
        the model's weights and BN statistics are left unchanged.

    Returns
    -------
    dict of str to float
        Unit label -> gradient norm, one finite value per unit.

    Notes
    -----
    The Grad-CAM pattern: a functional sub-model returning the unit outputs and
    the prediction is called under ``tf.GradientTape`` and the tape
    differentiates the loss with respect to those intermediate tensors (PyTorch:
    ``torch.autograd.grad`` on the same tensors). On JAX, which differentiates
    functions, not tensors, a zero shift is added to each unit's output in a copy
    of the model that shares its weights, and ``jax.grad`` of its
    ``stateless_call`` is taken with respect to the shifts: the same gradient.

    Each norm is over the whole tensor (all images, positions and channels), so
    units of different stages compare tensors of different sizes. In a very
    deep plain network in inference mode the first units' gradients can
    underflow float32 to exactly 0 (plain-164 at initialisation does).
    """
    model = _check_model(model)
    if where not in WHERE:
        raise ValueError(f"where must be one of {', '.join(map(repr, WHERE))}; got {where!r}")
    training = _check_training(training)
    loss_fn = _loss_fn(loss)
    xb = _batch(model, x)
    yb = _labels(model, y, xb.shape[0], custom_loss=loss is not None)
    groups = _unit_layers(model)
    if not groups:
        raise ValueError(
            f"model {model.name!r} has no layers named like rnpa units (bn{{L}}a, conv{{L}}a, "
            "merge{L}, ...); gradient_norms needs an rnpa network"
        )

    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise ValueError(
            f"gradient_norms runs on the tensorflow, jax and torch backends, not {backend!r}"
        )
    weights = [[w for lyr in lyrs for w in lyr.trainable_weights] for lyrs in groups.values()]
    sources = None if where == "units" else [w for ws in weights for w in ws]
    if backend == "jax":  # stateless: the model's BN statistics stay as they are
        grads = _grads_jax(model, groups, xb, yb, loss_fn, training, sources)
    else:
        outputs = [lyrs[-1].output for lyrs in groups.values()]
        probe = keras.Model(model.inputs[0], [*outputs, model.outputs[0]])
        variables = model.non_trainable_variables if training else []
        saved = [keras.ops.convert_to_numpy(v) for v in variables]
        grads_of = _grads_tensorflow if backend == "tensorflow" else _grads_torch
        try:
            grads = grads_of(probe, xb, yb, loss_fn, training, sources)
        finally:
            _restore(model, saved)
    if where == "units":
        norms = [float(keras.ops.sqrt(keras.ops.sum(keras.ops.square(g)))) for g in grads]
    else:
        norms, i = [], 0
        for ws in weights:
            gs = [g for g in grads[i : i + len(ws)] if g is not None]
            i += len(ws)
            norms.append(math.sqrt(sum(float(keras.ops.sum(keras.ops.square(g))) for g in gs)))
    return dict(zip(groups, norms, strict=True))


def activation_stats(
    model: keras.Model,
    x: Any,
    layer_names: Sequence[str] | None = None,
    training: bool = False,
) -> dict[str, dict[str, float]]:
    """Mean, standard deviation and fraction of zeros of chosen layers' outputs.

    Parameters
    ----------
    model : keras.Model
    x : array, shape ``(batch, height, width, channels)``
        Images, shaped like the model's input.
    layer_names : sequence of str, optional
        Layers to measure. Default: each unit's output (:func:`unit_outputs`),
        i.e. the signal along the identity path of a pre-activation network.
    training : bool
        Batch normalisation in training mode (batch statistics); default
        inference mode. The model's BN statistics are left unchanged.

    Returns
    -------
    dict of str to dict
        Layer name -> ``{"mean", "std", "rms", "zero_fraction"}`` over every
        element of the layer's output for the whole batch; ordered as
        ``layer_names`` (default: input to output).
    """
    model = _check_model(model)
    training = _check_training(training)
    xb = _batch(model, x)
    if layer_names is None:
        names = list(unit_outputs(model).values())
        if not names:
            raise ValueError(f"model {model.name!r} has no rnpa unit names; pass layer_names")
    else:
        if isinstance(layer_names, str) or not isinstance(layer_names, Sequence):
            raise TypeError(f"layer_names must be a list of layer names, got {layer_names!r}")
        known = [layer.name for layer in model.layers]
        unknown = [n for n in layer_names if n not in known]
        if unknown or not layer_names:
            raise ValueError(
                f"layer_names must name layers of model {model.name!r}, got unknown "
                f"{unknown!r} (an empty list is not allowed); e.g. {known[:4]!r}"
            )
        names = list(layer_names)
    probe = keras.Model(model.inputs[0], [model.get_layer(n).output for n in names])
    saved = [v.numpy() for v in model.non_trainable_variables] if training else []
    try:
        outs = probe(xb, training=training)
    finally:
        _restore(model, saved)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    stats = {}
    for name, out in zip(names, outs, strict=True):
        a = np.asarray(out, dtype="float64")
        stats[name] = {
            "mean": float(a.mean()),
            "std": float(a.std()),
            "rms": float(np.sqrt(np.mean(a * a))),
            "zero_fraction": float(np.mean(a == 0)),
        }
    return stats


__all__ = [
    "LayerCost",
    "UnitCost",
    "RFRow",
    "WHERE",
    "layer_table",
    "unit_costs",
    "unit_outputs",
    "unit_label",
    "conv_macs",
    "conv_params",
    "conv_output_size",
    "receptive_field",
    "gradient_norms",
    "activation_stats",
]
