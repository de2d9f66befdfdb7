"""Residual units as Keras functional helpers.

Every unit in the course is built by one function, :func:`residual_unit`, with
five switches:

* ``kind``: ``"bottleneck"`` (1x1 - 3x3 - 1x1 convolutions) or ``"basic"``
  (two 3x3 convolutions), each described once in :data:`UNIT_KINDS` (its kernels,
  which convolution carries the stride, how its widths relate to the output);
* ``order``: where BN and ReLU stand around the convolutions and the addition,
  one of the five orders of He et al. 2016 (Fig. 4, Table 2): ``"post"``, the
  original unit of He et al. 2015 (conv-BN-ReLU, add, ReLU after the addition);
  ``"bn_after_add"``; ``"relu_before_add"``; ``"relu_preact"`` (ReLU-only
  pre-activation); ``"pre"``, the full pre-activation unit (BN-ReLU-conv, add,
  nothing after the addition). :data:`ORDER_NAMES` gives the paper's names;
* ``shortcut``: ``True`` adds the shortcut (identity, or a 1x1 projection when the
  width or the stride changes), ``False`` gives the *plain* unit of the same shape;
* ``shortcut_type``: where the width or stride changes, a 1x1 projection
  (``"projection"``, option B of He et al. 2015) or the subsampled identity with
  zero channels (``"zeros"``, option A);
* ``strides``: down-sampling in the unit's 3x3 convolution (and its shortcut).

Layer names follow one contract: :func:`layer_name` makes them (``bn{L}a``,
``conv{L}b``, ``proj{L}``, ``merge{L}``, ``relu{L}out`` ...) and
:func:`parse_layer_name` reads them back, for :mod:`rnpa.analysis` and
:mod:`rnpa.diagrams`.

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

import dataclasses
import numbers
import re
import string
from collections.abc import Sequence
from typing import Any, NamedTuple

from keras import layers, regularizers

from rnpa._checks import (  # noqa: F401 (re-exported: rnpa.blocks.check_* are public)
    check_choice,
    check_nonnegative,
    check_positive_int,
    check_reg,
)
from rnpa.layers import BatchNormalization

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
#: what a shortcut that changes width or stride is: a 1x1 convolution (option B of He et al.
#: 2015, Sec. 3.3) or the subsampled identity with zero channels appended (option A)
SHORTCUT_TYPES = ("projection", "zeros")


# ----------------------------------------------------------------------------
# unit kinds: each described once
# ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class UnitKind:
    """One kind of residual unit: its convolutions, where it down-samples, its widths.

    Attributes
    ----------
    name : str
        The key in :data:`UNIT_KINDS` (``"bottleneck"``).
    kernels : tuple of int
        Kernel size of each convolution of the branch, in order (``(1, 3, 1)``).
    stride_at : int
        Index of the convolution that carries the unit's stride (the 3x3 one).
    expansion : int
        Output width over the unit's width ``w``: the filters are
        ``(w, ..., w, expansion * w)``.
    filters_doc : str
        How the ``filters`` argument reads, for messages (``"[bottleneck, bottleneck, out]"``).
    """

    name: str
    kernels: tuple[int, ...]
    stride_at: int
    expansion: int
    filters_doc: str

    @property
    def n_convs(self) -> int:
        """Number of convolutions on the branch (weighted layers per unit)."""
        return len(self.kernels)

    def widths(self, width: int) -> tuple[int, ...]:
        """The ``filters`` of a unit of width ``width``: ``(w, w, 4w)`` for a bottleneck unit."""
        return (width,) * (self.n_convs - 1) + (self.expansion * width,)

    def depth_form(self, stages: int) -> tuple[int, str]:
        """Weighted layers per unit of a ``stages``-stage network, and its depth formula.

        A stem convolution, ``stages`` stages of ``n`` units, a classifier: depth
        ``stages * n_convs * n + 2`` (``"9n+2"`` for 3 stages of bottleneck units).
        """
        per_n = stages * self.n_convs
        return per_n, f"{per_n}n+2"


#: the unit kinds of He et al. 2015 (Sec. 4.1, Fig. 5) and 2016: the basic unit, two 3x3
#: convolutions; the bottleneck unit, 1x1 (reduce) - 3x3 - 1x1 (expand by 4). The stride sits
#: on the 3x3 convolution: rnpa's choice, the one timm's resnetv2 makes too (its docstring notes
#: that the authors' resnet-pre-act.lua differs there). Add a kind here and every builder takes it.
UNIT_KINDS: dict[str, UnitKind] = {
    "bottleneck": UnitKind(
        "bottleneck",
        kernels=(1, 3, 1),
        stride_at=1,
        expansion=4,
        filters_doc="[bottleneck, bottleneck, out]",
    ),
    "basic": UnitKind("basic", kernels=(3, 3), stride_at=0, expansion=1, filters_doc="[out, out]"),
}
KINDS = tuple(UNIT_KINDS)


def get_unit_kind(kind: Any, name: str = "kind") -> UnitKind:
    """The :class:`UnitKind` called ``kind`` (a key of :data:`UNIT_KINDS`), or raise.

    A :class:`UnitKind` itself is returned as it is.
    """
    if isinstance(kind, UnitKind):
        return kind
    return UNIT_KINDS[check_choice(kind, name, KINDS)]


# ----------------------------------------------------------------------------
# the naming contract: every unit layer is named by layer_name, read back by parse_layer_name
# ----------------------------------------------------------------------------
#: the part letter of each convolution of a unit: conv{L}a, conv{L}b, ...
PARTS = string.ascii_lowercase[: max(k.n_convs for k in UNIT_KINDS.values())]
#: the layers of a unit after (or instead of) its branch: relu{L}out, bn{L}out
OUT = "out"
#: the roles a unit layer can have, and whether it carries a part
ROLES = {
    "bn": True,  # bn{L}a ... (before or after conv a), bn{L}out (after the addition)
    "relu": True,  # relu{L}a ..., relu{L}out
    "conv": True,  # conv{L}a ...
    "proj": False,  # proj{L}: the 1x1 projection shortcut
    "bnproj": False,  # bnproj{L}: its BN
    "down": False,  # down{L}: the zeros shortcut's subsampling
    "pad": False,  # pad{L}: the zeros shortcut's zero channels
    "merge": False,  # merge{L}: the addition
}


class LayerName(NamedTuple):
    """A unit layer's name read back: role, unit label and part (``None`` if it has none)."""

    role: str
    label: str
    part: str | None


# roles without a part are tried first, longest first ("bnproj2" is bnproj + 2)
_NO_PART = re.compile(
    rf"^(?P<role>{'|'.join(sorted((r for r, p in ROLES.items() if not p), key=len, reverse=True))})"
    r"(?P<label>.+)$"
)
_WITH_PART = re.compile(rf"^(?P<role>bn|relu|conv)(?P<label>.+?)(?P<part>{OUT}|[{PARTS}])$")


def _check_label(label: Any) -> str:
    if isinstance(label, bool) or not isinstance(label, (int, str)):
        raise TypeError(f"label must be an int or a str, got {label!r}")
    text = str(label)
    if not re.fullmatch(r"[A-Za-z0-9_]+", text):
        raise ValueError(
            f"label must be a non-empty run of letters, digits and '_' (it goes into layer "
            f"names), got {label!r}"
        )
    return text


def layer_name(role: str, label: int | str, part: str | None = None) -> str:
    """The name of a unit's layer: ``layer_name("bn", "2_1", "a") == "bn2_1a"``.

    Parameters
    ----------
    role : str
        One of :data:`ROLES`: ``"bn"``, ``"relu"``, ``"conv"`` (with a part),
        ``"proj"``, ``"bnproj"``, ``"down"``, ``"pad"``, ``"merge"`` (without).
    label : int or str
        The unit's label (``3``, ``"2_1"``): letters, digits and ``_``.
    part : str, optional
        The convolution's letter (``"a"`` for the first, see :data:`PARTS`) or
        ``"out"`` for the BN/ReLU after the addition (``relu{L}out``).

    Returns
    -------
    str
        ``{role}{label}{part}``; :func:`parse_layer_name` reads it back.

    Raises
    ------
    ValueError
        For a label that would make the name read back otherwise (``bn`` with
        label ``"proj1"`` gives ``"bnproj1a"``, which reads as a ``bnproj`` layer).
    """
    role = check_choice(role, "role", tuple(ROLES))
    text = _check_label(label)
    if not ROLES[role]:
        if part is not None:
            raise ValueError(f"a {role!r} layer has no part, got part={part!r}")
        name = f"{role}{text}"
    else:
        allowed = (*PARTS, OUT) if role != "conv" else tuple(PARTS)
        name = f"{role}{text}{check_choice(part, 'part', allowed)}"
    if parse_layer_name(name) != (role, text, part):
        raise ValueError(
            f"label {label!r} makes the {role} layer's name {name!r} read back as "
            f"{tuple(parse_layer_name(name) or ())!r}; choose another label"
        )
    return name


def conv_part(index: int) -> str:
    """The part letter of a unit's convolution number ``index`` (0 -> ``"a"``)."""
    return PARTS[check_positive_int(index, "index", minimum=0)]


def parse_layer_name(name: str) -> LayerName | None:
    """Read a layer name made by :func:`layer_name` back, or ``None`` for other layers.

    ``parse_layer_name("bnproj2_1") == ("bnproj", "2_1", None)``,
    ``parse_layer_name("relu3out") == ("relu", "3", "out")``; stem and head layers
    (``conv0``, ``bn0``, ``bnF``, ``avg_pool``, ``fc10``) carry no unit and give ``None``.
    Labels are read as ``str``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a layer name (str), got {name!r}")
    match = _NO_PART.match(name) or _WITH_PART.match(name)
    if match is None:
        return None
    groups = match.groupdict()
    if not re.fullmatch(r"[A-Za-z0-9_]+", groups["label"]):
        return None
    return LayerName(groups["role"], groups["label"], groups.get("part"))


def check_filters(filters: Any, kind: str | UnitKind = "bottleneck") -> tuple[int, ...]:
    """Return ``filters`` as a tuple of positive ints of the length ``kind`` needs."""
    unit = get_unit_kind(kind)
    n = unit.n_convs
    if isinstance(filters, (str, bytes)) or not isinstance(filters, Sequence):
        raise TypeError(
            f"filters must be a list of {n} positive ints for a {unit.name} unit, got {filters!r}"
        )
    if len(filters) != n:
        raise ValueError(
            f"filters must have {n} entries for a {unit.name} unit ({unit.filters_doc}), "
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
            f"{name} must be a 4-D tensor (batch, height, width, channels), got shape {shape!r}"
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


def _zeros_shortcut(x: Any, out_channels: int, strides: int, label: int | str) -> Any:
    """Option A of He et al. 2015: ``x[:, ::s, ::s]`` with zero channels appended, no weights.

    A 1x1 average pooling with stride ``s`` keeps every ``s``-th row and column
    (``down{L}``); a ``ZeroPadding2D`` read in ``channels_first`` layout pads the
    last axis, which here holds the channels (``pad{L}``). Both are stock Keras
    layers, so the model saves and loads without custom objects.
    """
    in_channels = int(x.shape[-1])
    if strides != 1:
        x = layers.AveragePooling2D(1, strides=strides, name=layer_name("down", label))(x)
    if out_channels != in_channels:
        x = layers.ZeroPadding2D(
            ((0, 0), (0, out_channels - in_channels)),
            data_format="channels_first",
            name=layer_name("pad", label),
        )(x)
    return x


def residual_unit(
    x: Any,
    filters: Sequence[int],
    label: int | str,
    *,
    kind: str | UnitKind = "bottleneck",
    order: str = "pre",
    strides: int = 1,
    shortcut: bool = True,
    shortcut_type: str = "projection",
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
        ``[out, out]`` for ``kind="basic"`` (:attr:`UnitKind.widths`).
    label : int or str
        Goes into the layer names (letters, digits, ``_``): ``bn{label}a``,
        ``relu{label}a``, ``conv{label}a`` ... ``merge{label}``, ``proj{label}``
        (see :func:`layer_name`).
    kind : {"bottleneck", "basic"} or UnitKind
        A key of :data:`UNIT_KINDS` (three convolutions 1x1-3x3-1x1, or two 3x3)
        or a :class:`UnitKind` of one's own.
    order : {"pre", "post", "bn_after_add", "relu_before_add", "relu_preact"}
        The five orders of He et al. 2016, Fig. 4 (shown for a basic unit):

        * ``"post"`` (a, original): conv-BN-ReLU, conv-BN, add, ReLU;
        * ``"bn_after_add"`` (b): conv-BN-ReLU, conv, add, BN, ReLU;
        * ``"relu_before_add"`` (c): conv-BN-ReLU, conv-BN-ReLU, add;
        * ``"relu_preact"`` (d, ReLU-only pre-activation): ReLU-conv-BN,
          ReLU-conv-BN, add;
        * ``"pre"`` (e, full pre-activation): BN-ReLU-conv, BN-ReLU-conv, add.
    strides : int
        Stride of the 3x3 convolution that down-samples (and of the shortcut).
    shortcut : bool
        Add the shortcut. ``False`` builds the plain unit with the same layers.
    shortcut_type : {"projection", "zeros"}
        The shortcut where the width or the stride changes: a 1x1 convolution
        (option B of He et al. 2015, Sec. 3.3) or the identity subsampled by
        ``strides`` with zero channels appended (option A, parameter free; needs
        ``filters[-1]`` >= the input's channels).
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
    When the width or the stride changes and ``shortcut_type="projection"``,
    the shortcut is a 1x1 convolution. In a pre-activation unit it is
    applied to the pre-activated input, as in the paper's code (with a BN after
    it for ``"relu_preact"``, whose branch also ends in BN); in the other orders
    it is a convolution followed by BN on the raw input, except
    ``"bn_after_add"``, where the BN after the addition normalises it. The paper
    describes these orders for identity shortcuts only; the projections are our
    choice. The ``"zeros"`` shortcut always takes the raw input ``x`` (it is the
    identity path, padded) and has no BN.
    """
    unit = get_unit_kind(kind)
    order = check_choice(order, "order", ORDERS)
    filters = check_filters(filters, unit)
    strides = check_positive_int(strides, "strides")
    reg = check_reg(reg)
    if not isinstance(shortcut, bool):
        raise TypeError(f"shortcut must be True or False, got {shortcut!r}")
    shortcut_type = check_choice(shortcut_type, "shortcut_type", SHORTCUT_TYPES)
    label = _check_label(label)
    in_channels = _channels(x, "x")
    out_channels = filters[-1]
    needs_projection = shortcut and (in_channels != out_channels or strides != 1)
    if order not in PREACT_ORDERS and not preactivate_input:
        raise ValueError(
            f"preactivate_input=False only applies to the pre-activation orders "
            f"{', '.join(map(repr, PREACT_ORDERS))}, not order={order!r}"
        )
    zeros = needs_projection and shortcut_type == "zeros"
    if zeros and out_channels < in_channels:
        raise ValueError(
            f"shortcut_type='zeros' pads channels and cannot drop any: filters[-1] "
            f"({out_channels}) must be >= the input's channels ({in_channels})"
        )

    n = unit.n_convs
    # kernel size and stride of each convolution in the unit, from the kind's description
    conv_strides = [strides if i == unit.stride_at else 1 for i in range(n)]

    def bn(h: Any, part: str | None, role: str = "bn") -> Any:
        return BatchNormalization(name=layer_name(role, label, part))(h)

    def relu(h: Any, part: str) -> Any:
        return layers.Activation("relu", name=layer_name("relu", label, part))(h)

    def conv(h: Any, i: int) -> Any:
        f, k, s = filters[i], unit.kernels[i], conv_strides[i]
        name = layer_name("conv", label, conv_part(i))
        return _conv(f, k, s, reg, last_bias and i == n - 1, name)(h)

    def projection(h: Any) -> Any:
        return _conv(out_channels, 1, strides, reg, False, layer_name("proj", label))(h)

    def merge(branch: Any, skip: Any) -> Any:
        return layers.Add(name=layer_name("merge", label))([branch, skip])

    h = x
    if order in PREACT_ORDERS:
        # activation before each convolution; the first one is shared with the projection
        for i in range(n):
            part = conv_part(i)
            if i == 0 and not preactivate_input:
                pass
            elif order == "pre":
                h = relu(bn(h, part), part)
            else:
                h = relu(h, part)
            if i == 0:
                activated = h
            h = conv(h, i)
            if order == "relu_preact":
                h = bn(h, part)
        if not shortcut:
            return h
        skip = x
        if zeros:
            skip = _zeros_shortcut(x, out_channels, strides, label)
        elif needs_projection:
            # as in the authors' code for He et al. 2016: the projection sees the activated input
            skip = projection(activated)
            if order == "relu_preact":
                skip = bn(skip, None, "bnproj")
        return merge(h, skip)

    # the orders that start with a convolution: post, bn_after_add, relu_before_add
    for i in range(n):
        part = conv_part(i)
        h = conv(h, i)
        last = i == n - 1
        if not (last and order == "bn_after_add"):
            h = bn(h, part)
        if not last or order == "relu_before_add":
            h = relu(h, part)
    if shortcut:
        skip = x
        if zeros:
            skip = _zeros_shortcut(x, out_channels, strides, label)
        elif needs_projection:
            skip = projection(x)
            if order != "bn_after_add":
                skip = bn(skip, None, "bnproj")
        h = merge(h, skip)
    if order == "bn_after_add":
        h = bn(h, OUT)
    if order == "relu_before_add":
        return h
    return relu(h, OUT)


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
    "UNIT_KINDS",
    "UnitKind",
    "get_unit_kind",
    "check_filters",
    "SHORTCUT_TYPES",
    "ROLES",
    "PARTS",
    "LayerName",
    "layer_name",
    "conv_part",
    "parse_layer_name",
    "ORDERS",
    "ORDER_NAMES",
    "PREACT_ORDERS",
]
