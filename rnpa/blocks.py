"""Residual units as Keras functional helpers.

Every unit in the course is built by one function, :func:`residual_unit`, with
four switches:

* ``kind``: ``"bottleneck"`` (1x1 - 3x3 - 1x1 convolutions) or ``"basic"``
  (two 3x3 convolutions);
* ``order``: where BN and ReLU stand around the convolutions and the addition,
  one of the five orders of He et al. 2016 (Fig. 4, Table 2): ``"post"``, the
  original unit of He et al. 2015 (conv-BN-ReLU, add, ReLU after the addition);
  ``"bn_after_add"``; ``"relu_before_add"``; ``"relu_preact"`` (ReLU-only
  pre-activation); ``"pre"``, the full pre-activation unit (BN-ReLU-conv, add,
  nothing after the addition). :data:`ORDER_NAMES` gives the paper's names;
* ``shortcut``: ``True`` adds the shortcut (identity, or a 1x1 projection when the
  width or the stride changes), ``False`` gives the *plain* unit of the same shape;
* ``strides``: down-sampling in the unit's 3x3 convolution (and its projection).

:func:`residual_block` is the 2017 notebook's unit, same signature and layer
names; :func:`preact_bottleneck`, :func:`preact_basic`, :func:`postact_bottleneck`
and :func:`postact_basic` are named shorthands of :func:`residual_unit`.

References
----------
K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition.
CVPR 2016 (arXiv:1512.03385).
K. He, X. Zhang, S. Ren, J. Sun. Identity Mappings in Deep Residual Networks.
ECCV 2016 (arXiv:1603.05027).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from keras import layers, regularizers

from rnpa._checks import (  # noqa: F401 (re-exported: rnpa.blocks.check_* are public)
    check_choice,
    check_nonnegative,
    check_positive_int,
    check_reg,
)
from rnpa.layers import BatchNormalization

KINDS = ("bottleneck", "basic")
ORDERS = ("pre", "post", "bn_after_add", "relu_before_add", "relu_preact")
#: the paper's name of each order (He et al. 2016, Fig. 4 (a)-(e) and Table 2)
ORDER_NAMES = {
    "post": "original",
    "bn_after_add": "BN after addition",
    "relu_before_add": "ReLU before addition",
    "relu_preact": "ReLU-only pre-activation",
    "pre": "full pre-activation",
}
#: orders whose units start with an activation (BN-ReLU or ReLU) of their input
PREACT_ORDERS = ("pre", "relu_preact")
_N_CONVS = {"bottleneck": 3, "basic": 2}
_SUFFIXES = "abc"


def check_filters(filters: Any, kind: str = "bottleneck") -> tuple[int, ...]:
    """Return ``filters`` as a tuple of positive ints of the length ``kind`` needs."""
    n = _N_CONVS[kind]
    if isinstance(filters, (str, bytes)) or not isinstance(filters, Sequence):
        raise TypeError(
            f"filters must be a list of {n} positive ints for a {kind} unit, got {filters!r}"
        )
    if len(filters) != n:
        raise ValueError(
            f"filters must have {n} entries for a {kind} unit "
            f"({'[bottleneck, bottleneck, out]' if n == 3 else '[out, out]'}), "
            f"got {len(filters)}: {list(filters)!r}"
        )
    for f in filters:
        if isinstance(f, bool) or not isinstance(f, numbers.Integral) or f < 1:
            raise ValueError(f"filters must all be positive ints, got {list(filters)!r}")
    return tuple(int(f) for f in filters)


def _channels(x: Any, name: str = "input_tensor") -> int:
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(
            f"{name} must be a 4-D tensor (batch, height, width, channels), "
            f"got shape {shape!r}"
        )
    if shape[-1] is None:
        raise ValueError(f"{name} must have a known number of channels, got shape {shape!r}")
    return int(shape[-1])


# ----------------------------------------------------------------------------
# the one implementation
# ----------------------------------------------------------------------------
def _conv(
    filters: int, kernel: int, strides: int, reg: float, use_bias: bool, name: str
) -> layers.Conv2D:
    return layers.Conv2D(
        filters,
        (kernel, kernel),
        strides=(strides, strides),
        padding="same",
        use_bias=use_bias,
        kernel_regularizer=regularizers.L2(reg) if reg > 0 else None,
        name=name,
    )


def residual_unit(
    x: Any,
    filters: Sequence[int],
    label: int | str,
    *,
    kind: str = "bottleneck",
    order: str = "pre",
    strides: int = 1,
    shortcut: bool = True,
    reg: float = 0.0,
    preactivate_input: bool = True,
    last_bias: bool = False,
) -> Any:
    """Apply one residual (or plain) unit to the tensor ``x``.

    Parameters
    ----------
    x : KerasTensor
        Input, shape ``(batch, height, width, channels)``.
    filters : sequence of int
        ``[bottleneck, bottleneck, out]`` for ``kind="bottleneck"``,
        ``[out, out]`` for ``kind="basic"``.
    label : int or str
        Goes into the layer names: ``bn{label}a``, ``relu{label}a``,
        ``conv{label}a`` ... ``merge{label}``, ``proj{label}``.
    kind : {"bottleneck", "basic"}
        Three convolutions 1x1-3x3-1x1, or two 3x3 convolutions.
    order : {"pre", "post", "bn_after_add", "relu_before_add", "relu_preact"}
        The five orders of He et al. 2016, Fig. 4 (shown for a basic unit):

        * ``"post"`` (a, original): conv-BN-ReLU, conv-BN, add, ReLU;
        * ``"bn_after_add"`` (b): conv-BN-ReLU, conv, add, BN, ReLU;
        * ``"relu_before_add"`` (c): conv-BN-ReLU, conv-BN-ReLU, add;
        * ``"relu_preact"`` (d, ReLU-only pre-activation): ReLU-conv-BN,
          ReLU-conv-BN, add;
        * ``"pre"`` (e, full pre-activation): BN-ReLU-conv, BN-ReLU-conv, add.
    strides : int
        Stride of the 3x3 convolution that down-samples (and of the projection).
    shortcut : bool
        Add the shortcut. ``False`` builds the plain unit with the same layers.
    reg : float
        L2 factor on every convolution kernel.
    preactivate_input : bool
        Pre-activation orders only: ``False`` skips the first BN-ReLU (ReLU for
        ``"relu_preact"``), for a unit that follows a stem that already applied
        it (stage 1 of the 2017 network).
    last_bias : bool
        Give the last convolution a bias (the 2017 network does).

    Returns
    -------
    KerasTensor
        The unit's output, ``filters[-1]`` channels.

    Notes
    -----
    When the width or the stride changes, the shortcut is a 1x1 convolution
    ("projection", option B of He et al. 2015). In a pre-activation unit it is
    applied to the pre-activated input, as in the paper's code (with a BN after
    it for ``"relu_preact"``, whose branch also ends in BN); in the other orders
    it is a convolution followed by BN on the raw input, except
    ``"bn_after_add"``, where the BN after the addition normalises it. The paper
    describes these orders for identity shortcuts only; the projections are our
    choice.
    """
    kind = check_choice(kind, "kind", KINDS)
    order = check_choice(order, "order", ORDERS)
    filters = check_filters(filters, kind)
    strides = check_positive_int(strides, "strides")
    reg = check_reg(reg)
    if not isinstance(shortcut, bool):
        raise TypeError(f"shortcut must be True or False, got {shortcut!r}")
    in_channels = _channels(x, "x")
    out_channels = filters[-1]
    needs_projection = shortcut and (in_channels != out_channels or strides != 1)
    if order not in PREACT_ORDERS and not preactivate_input:
        raise ValueError(
            f"preactivate_input=False only applies to the pre-activation orders "
            f"{', '.join(map(repr, PREACT_ORDERS))}, not order={order!r}"
        )

    n = len(filters)
    # kernel size and stride of each convolution in the unit
    kernels = [1, 3, 1] if kind == "bottleneck" else [3, 3]
    conv_strides = [1] * n
    conv_strides[1 if kind == "bottleneck" else 0] = strides

    def bn(h: Any, name: str) -> Any:
        return BatchNormalization(name=name)(h)

    def relu(h: Any, name: str) -> Any:
        return layers.Activation("relu", name=name)(h)

    def conv(h: Any, i: int) -> Any:
        f, k, s = filters[i], kernels[i], conv_strides[i]
        return _conv(f, k, s, reg, last_bias and i == n - 1, f"conv{label}{_SUFFIXES[i]}")(h)

    h = x
    if order in PREACT_ORDERS:
        # activation before each convolution; the first one is shared with the projection
        for i in range(n):
            sfx = _SUFFIXES[i]
            if i == 0 and not preactivate_input:
                pass
            elif order == "pre":
                h = relu(bn(h, f"bn{label}{sfx}"), f"relu{label}{sfx}")
            else:
                h = relu(h, f"relu{label}{sfx}")
            if i == 0:
                activated = h
            h = conv(h, i)
            if order == "relu_preact":
                h = bn(h, f"bn{label}{sfx}")
        if not shortcut:
            return h
        skip = x
        if needs_projection:
            # as in the authors' code for He et al. 2016: the projection sees the activated input
            skip = _conv(out_channels, 1, strides, reg, False, f"proj{label}")(activated)
            if order == "relu_preact":
                skip = bn(skip, f"bnproj{label}")
        return layers.Add(name=f"merge{label}")([h, skip])

    # the orders that start with a convolution: post, bn_after_add, relu_before_add
    for i in range(n):
        sfx = _SUFFIXES[i]
        h = conv(h, i)
        last = i == n - 1
        if not (last and order == "bn_after_add"):
            h = bn(h, f"bn{label}{sfx}")
        if not last or order == "relu_before_add":
            h = relu(h, f"relu{label}{sfx}")
    if shortcut:
        skip = x
        if needs_projection:
            skip = _conv(out_channels, 1, strides, reg, False, f"proj{label}")(x)
            if order != "bn_after_add":
                skip = bn(skip, f"bnproj{label}")
        h = layers.Add(name=f"merge{label}")([h, skip])
    if order == "bn_after_add":
        h = bn(h, f"bn{label}out")
    if order == "relu_before_add":
        return h
    return relu(h, f"relu{label}out")


# ----------------------------------------------------------------------------
# named shorthands
# ----------------------------------------------------------------------------
def preact_bottleneck(x: Any, filters: Sequence[int], label: int | str, **kwargs: Any) -> Any:
    """Pre-activation bottleneck unit: BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1, add."""
    return residual_unit(x, filters, label, kind="bottleneck", order="pre", **kwargs)


def preact_basic(x: Any, filters: Sequence[int], label: int | str, **kwargs: Any) -> Any:
    """Pre-activation basic unit: BN-ReLU-3x3, BN-ReLU-3x3, add."""
    return residual_unit(x, filters, label, kind="basic", order="pre", **kwargs)


def postact_bottleneck(x: Any, filters: Sequence[int], label: int | str, **kwargs: Any) -> Any:
    """Original (post-activation) bottleneck unit: 1x1-BN-ReLU, 3x3-BN-ReLU, 1x1-BN, add, ReLU."""
    return residual_unit(x, filters, label, kind="bottleneck", order="post", **kwargs)


def postact_basic(x: Any, filters: Sequence[int], label: int | str, **kwargs: Any) -> Any:
    """Original (post-activation) basic unit: 3x3-BN-ReLU, 3x3-BN, add, ReLU."""
    return residual_unit(x, filters, label, kind="basic", order="post", **kwargs)


def residual_block(
    input_tensor: Any,
    filters: Sequence[int],
    stage: int,
    reg: float = 0.0,
    use_shortcuts: bool = True,
) -> Any:
    """The 2017 notebook's pre-activation bottleneck unit, same signature and names.

    BN-ReLU-1x1 conv, BN-ReLU-3x3 conv, BN-ReLU-1x1 conv (with bias), add the
    input. Stage 1 skips the first BN-ReLU because the network's stem has just
    applied it.

    Parameters
    ----------
    input_tensor : KerasTensor
        Input, 4-D, channels last.
    filters : sequence of 3 int
        ``[bottleneck, bottleneck, out]``; with shortcuts, ``out`` must equal the
        input's channels (this unit has no projection).
    stage : int
        Stage number >= 1, used in the layer names (``bn{stage}a`` ... ``merge{stage}``).
    reg : float
        L2 factor on every convolution kernel.
    use_shortcuts : bool
        ``False`` drops the addition (a plain unit).

    Returns
    -------
    KerasTensor
        The unit's output.
    """
    stage = check_positive_int(stage, "stage")
    filters = check_filters(filters, "bottleneck")
    reg = check_reg(reg)
    if not isinstance(use_shortcuts, bool):
        raise TypeError(f"use_shortcuts must be True or False, got {use_shortcuts!r}")
    in_channels = _channels(input_tensor)
    if use_shortcuts and filters[2] != in_channels:
        raise ValueError(
            f"filters[2] must equal the input's channels ({in_channels}) when "
            f"use_shortcuts=True (the identity shortcut adds them), got filters={list(filters)!r}; "
            "use rnpa.blocks.preact_bottleneck for a unit with a projection shortcut"
        )
    return residual_unit(
        input_tensor,
        filters,
        stage,
        kind="bottleneck",
        order="pre",
        shortcut=use_shortcuts,
        reg=reg,
        preactivate_input=stage != 1,
        last_bias=True,
    )


__all__ = [
    "residual_unit",
    "residual_block",
    "preact_bottleneck",
    "preact_basic",
    "postact_bottleneck",
    "postact_basic",
    "KINDS",
    "ORDERS",
    "ORDER_NAMES",
    "PREACT_ORDERS",
]
