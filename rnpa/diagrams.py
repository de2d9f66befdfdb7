"""The course's diagrams, drawn by code with matplotlib.

Five figures, each returned as a :class:`matplotlib.figure.Figure` that is never
shown (so it works inline in JupyterLab and Colab, and headless in tests):

* :func:`unit_comparison`: the original unit (He et al. 2015) beside the full
  pre-activation unit (He et al. 2016);
* :func:`bottleneck_vs_basic`: the bottleneck unit of the course's network
  (128 -> 32 -> 32 -> 128) beside a basic unit of the same width, with channel
  counts on every arrow and the weights of every convolution;
* :func:`network_diagram`: the whole 2017 network, read from
  :func:`rnpa.ResNetPreAct` so the drawing follows the code;
* :func:`gradient_highway`: a stack of pre-activation units, the identity path
  as a highway for the signal forward and the gradient backward (eqs. 4-5);
* :func:`plain_vs_residual`: a plain block beside a residual block, the idea of
  He et al. 2015 (their fig. 2) in the course's style.

:data:`DIAGRAMS` maps a name to each of them, :func:`save_all` writes them as PNG
and SVG (the same bytes on every run), and ``python -m rnpa diagrams images/``
does that from the command line.

References
----------
K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition.
CVPR 2016 (arXiv:1512.03385).
K. He, X. Zhang, S. Ren, J. Sun. Identity Mappings in Deep Residual Networks.
ECCV 2016 (arXiv:1603.05027).
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch

from rnpa._checks import check_positive_int
from rnpa._files import write_atomic
from rnpa.blocks import UNIT_KINDS, parse_layer_name
from rnpa.models import ORIGINAL_FILTERS, ORIGINAL_STEM_FILTERS, ResNetPreAct

#: resolution of the PNG files written by :func:`save_all`
PNG_DPI = 150

# ----------------------------------------------------------------------------
# style: one colour per layer type, used by every diagram
# ----------------------------------------------------------------------------
#: fill and edge colour of each kind of box
PALETTE: dict[str, tuple[str, str]] = {
    "conv": ("#d6e6f7", "#2f6ea8"),
    "bn": ("#fde8c2", "#b7791f"),
    "relu": ("#d8efd5", "#3a8a3f"),
    "add": ("#ffffff", "#3b3b3b"),
    "tensor": ("#efefef", "#6b6b6b"),
    "pool": ("#ebe0f5", "#7a4fa0"),
    "dense": ("#f8dada", "#b23b3b"),
    "unit": ("#f7f9fc", "#8796a8"),
}
_LEGEND_LABELS = {
    "conv": "convolution",
    "bn": "batch norm (BN)",
    "relu": "ReLU",
    "add": "addition",
    "pool": "pooling / flatten",
    "dense": "dense (softmax)",
    "unit": "residual branch",
}
_LINE = "#3b3b3b"  # ordinary arrows
_IDENTITY = "#1b1b1b"  # the identity path, drawn thick
_IDENTITY_LW = 3.2
_REMOVED = "#d6336c"  # the post-addition ReLU that pre-activation removes
_GRADIENT = "#e8590c"  # the gradient flowing back
_NOTE = "#5c5c5c"  # side notes, channel counts
_SCALE = 0.6  # inches per data unit, the same in every diagram

_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "mathtext.fontset": "dejavusans",
    "axes.titlesize": 13.5,
    "axes.titleweight": "bold",
    "axes.titlepad": 12,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.fonttype": "path",
    "svg.hashsalt": "rnpa.diagrams",
    "path.simplify": True,
}


@contextmanager
def _style() -> Iterator[None]:
    """Matplotlib's defaults plus the diagrams' settings, whatever the caller set."""
    with matplotlib.style.context("default"), matplotlib.rc_context(_RC):
        yield


class DiagramFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that also shows itself as PNG in Jupyter.

    The diagrams are made without pyplot, so they never pop up and never pile up
    in pyplot's list of open figures; ``_repr_png_`` lets a notebook show one as
    the value of a cell even where the inline backend is not active yet.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        with _style():
            self.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        return buf.getvalue()


# ----------------------------------------------------------------------------
# drawing helpers shared by the diagrams
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Box:
    """Centre and size of a drawn box (or circle), with its four anchor points."""

    x: float
    y: float
    w: float
    h: float

    @property
    def top(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x, self.y - self.h / 2)

    @property
    def left(self) -> tuple[float, float]:
        return (self.x - self.w / 2, self.y)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)


def _figure(
    panels: Sequence[tuple[float, float, float, float]],
    *,
    top: float = 0.75,
    bottom: float = 0.55,
    gap: float = 0.35,
    side: float = 0.2,
) -> tuple[DiagramFigure, list[Axes]]:
    """A figure with one axes per panel ``(x0, x1, y0, y1)``, all at the same scale.

    Every data unit is ``_SCALE`` inches in every diagram, so boxes and fonts keep
    their proportions from one figure to the next. ``top`` and ``bottom`` are the
    inches kept free for the titles and the legend.
    """
    fig = DiagramFigure(dpi=100, facecolor="white")
    axes = [fig.add_axes((0, 0, 1, 1)) for _ in panels]
    _layout(fig, axes, panels, top=top, bottom=bottom, gap=gap, side=side)
    return fig, axes


def _layout(
    fig: Figure,
    axes: Sequence[Axes],
    panels: Sequence[tuple[float, float, float, float]],
    *,
    top: float,
    bottom: float,
    gap: float,
    side: float,
) -> None:
    """Size ``fig`` and place ``axes`` so each shows its panel at ``_SCALE`` inches a unit."""
    widths = [(x1 - x0) * _SCALE for x0, x1, _, _ in panels]
    heights = [(y1 - y0) * _SCALE for _, _, y0, y1 in panels]
    fig_w = 2 * side + sum(widths) + gap * (len(panels) - 1)
    fig_h = top + max(heights) + bottom
    fig.set_size_inches(fig_w, fig_h)
    left = side
    for ax, (x0, x1, y0, y1), w, h in zip(axes, panels, widths, heights, strict=True):
        ax.set_position((left / fig_w, (fig_h - top - h) / fig_h, w / fig_w, h / fig_h))
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_axis_off()
        left += w + gap


def _box(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    kind: str,
    *,
    w: float = 1.7,
    h: float = 0.48,
    fontsize: float = 11,
    edgecolor: str | None = None,
    lw: float = 1.4,
    linestyle: str = "-",
    weight: str = "normal",
) -> _Box:
    """Draw a rounded box of ``kind``'s colours centred on ``(x, y)``, with ``text``."""
    face, edge = PALETTE[kind]
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0,rounding_size=0.12",
            facecolor=face,
            edgecolor=edgecolor or edge,
            linewidth=lw,
            linestyle=linestyle,
            zorder=2,
        )
    )
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, weight=weight, zorder=3)
    return _Box(x, y, w, h)


def _add(ax: Axes, x: float, y: float, r: float = 0.2) -> _Box:
    """Draw the addition node, a circle with a "+", centred on ``(x, y)``."""
    face, edge = PALETTE["add"]
    ax.add_patch(Circle((x, y), r, facecolor=face, edgecolor=edge, linewidth=1.6, zorder=2))
    ax.text(x, y, "+", ha="center", va="center_baseline", fontsize=15, weight="bold", zorder=3)
    return _Box(x, y, 2 * r, 2 * r)


def _dot(ax: Axes, x: float, y: float, color: str = _IDENTITY) -> None:
    """Draw the small dot where a path splits."""
    ax.add_patch(Circle((x, y), 0.06, facecolor=color, edgecolor=color, zorder=2.5))


def _arrow(
    ax: Axes,
    *points: tuple[float, float],
    color: str = _LINE,
    lw: float = 1.4,
    label: str | None = None,
    label_side: str = "right",
    head: bool = True,
    linestyle: str = "-",
    fontsize: float = 9.5,
    head_size: float | None = None,
    zorder: float = 1,
) -> None:
    """Draw a path through ``points`` ending in an arrow head, optionally labelled.

    The label goes beside the middle of the last segment: right of it (or left,
    with ``label_side="left"``) when the segment is vertical, above it (or below)
    when it is horizontal.
    """
    if len(points) < 2:
        raise ValueError("an arrow needs at least two points")
    if len(points) > 2:
        xs, ys = zip(*points[:-1], strict=True)
        ax.add_line(
            Line2D(
                xs,
                ys,
                color=color,
                linewidth=lw,
                linestyle=linestyle,
                solid_joinstyle="round",
                solid_capstyle="round",
                zorder=zorder,
            )
        )
    (xa, ya), (xb, yb) = points[-2], points[-1]
    ax.add_patch(
        FancyArrowPatch(
            (xa, ya),
            (xb, yb),
            arrowstyle="-|>" if head else "-",
            mutation_scale=head_size or 10 + 2.5 * lw,
            color=color,
            linewidth=lw,
            linestyle=linestyle,
            shrinkA=0,
            shrinkB=0,
            capstyle="round",
            joinstyle="round",
            zorder=zorder,
        )
    )
    if label:
        mx, my = (xa + xb) / 2, (ya + yb) / 2
        if abs(xb - xa) < abs(yb - ya):  # vertical segment
            sign = 1 if label_side == "right" else -1
            ax.text(
                mx + sign * 0.12,
                my,
                label,
                ha="left" if sign > 0 else "right",
                va="center",
                fontsize=fontsize,
                color=_NOTE,
                zorder=3,
            )
        else:
            sign = 1 if label_side in ("right", "above") else -1
            ax.text(
                mx,
                my + sign * 0.1,
                label,
                ha="center",
                va="bottom" if sign > 0 else "top",
                fontsize=fontsize,
                color=_NOTE,
                zorder=3,
            )


def _legend(
    fig: Figure,
    kinds: Sequence[str],
    identity: bool = True,
    gradient: bool = False,
    ncol: int | None = None,
    labels: dict[str, str] | None = None,
) -> None:
    """Put a legend of the box colours (and path styles) at the bottom of ``fig``.

    ``labels`` replaces the usual name of a kind of box, e.g. ``{"conv": "weight layer"}``.
    """
    names = {**_LEGEND_LABELS, **(labels or {})}
    handles: list[Any] = [
        Patch(facecolor=PALETTE[k][0], edgecolor=PALETTE[k][1], label=names[k]) for k in kinds
    ]
    if identity:
        handles.append(Line2D([], [], color=_IDENTITY, lw=_IDENTITY_LW, label="identity path"))
    if gradient:
        handles.append(Line2D([], [], color=_GRADIENT, lw=2.4, label="gradient (backward)"))
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=ncol or len(handles),
        frameon=False,
        fontsize=10.5,
        handlelength=1.6,
        columnspacing=1.4,
    )


def _fmt(n: int) -> str:
    """``4096`` -> ``"4,096"``."""
    return f"{n:,}"


# ----------------------------------------------------------------------------
# 1. the original unit against the full pre-activation unit
# ----------------------------------------------------------------------------
#: residual branch of the original unit (He et al. 2015), top to bottom
_ORIGINAL_BRANCH = (
    ("conv", "conv"),
    ("bn", "BN"),
    ("relu", "ReLU"),
    ("conv", "conv"),
    ("bn", "BN"),
)
#: residual branch of the full pre-activation unit (He et al. 2016, fig. 4e)
_PREACT_BRANCH = (
    ("bn", "BN"),
    ("relu", "ReLU"),
    ("conv", "conv"),
    ("bn", "BN"),
    ("relu", "ReLU"),
    ("conv", "conv"),
)
_STEP = 0.74  # vertical distance between the centres of consecutive boxes
_POST_STEP = 0.95  # the same below the addition, where the identity path is thick


def _unit_panel(ax: Axes, branch: Sequence[tuple[str, str]], rows: int, post_relu: bool) -> None:
    """Draw one residual unit: ``x_l``, the branch ``F``, the addition, ``x_{l+1}``."""
    bx, hx = 0.0, 2.0  # branch column, identity column
    xl = _box(ax, hx, 0.0, "$x_l$", "tensor", w=1.1, fontsize=13)
    split_y = -0.62
    _dot(ax, hx, split_y)
    first_y = -1.25
    ys = [first_y - i * _STEP for i in range(len(branch))]
    boxes = [_box(ax, bx, y, text, kind) for (kind, text), y in zip(branch, ys, strict=True)]
    add_y = first_y - rows * _STEP
    plus = _add(ax, hx, add_y)
    # the residual branch
    _arrow(ax, (hx, split_y), (bx, split_y), boxes[0].top)
    for a, b in zip(boxes[:-1], boxes[1:], strict=True):
        _arrow(ax, a.bottom, b.top)
    _arrow(ax, boxes[-1].bottom, (bx, add_y), plus.left)
    label = r"$\mathcal{F}(x_l)$"
    top_f, bot_f = _branch_frame(ax, bx, boxes[0].top[1], boxes[-1].bottom[1], label)
    # the identity path: a straight line from x_l to the addition
    _arrow(ax, xl.bottom, plus.top, color=_IDENTITY, lw=_IDENTITY_LW)
    _identity_label(ax, hx + 0.16, (split_y + add_y) / 2, "identity", "left")
    out_y = add_y - 2 * _POST_STEP
    out = _box(ax, hx, out_y, "$x_{l+1}$", "tensor", w=1.1, fontsize=13)
    relu_y = add_y - _POST_STEP
    if post_relu:
        relu = _box(ax, hx, relu_y, "ReLU", "relu", w=1.3, edgecolor=_REMOVED, lw=2.6)
        _arrow(ax, plus.bottom, relu.top, color=_IDENTITY, lw=_IDENTITY_LW)
        _arrow(ax, relu.bottom, out.top, color=_IDENTITY, lw=_IDENTITY_LW)
        ax.text(
            hx + 0.85,
            relu_y,
            "ReLU after the addition:\nremoved by pre-activation",
            ha="left",
            va="center",
            fontsize=10,
            color=_REMOVED,
            weight="bold",
        )
        equation = r"$x_{l+1} = \mathrm{ReLU}\,(x_l + \mathcal{F}(x_l))$"
    else:
        _arrow(ax, plus.bottom, out.top, color=_IDENTITY, lw=_IDENTITY_LW)
        ax.text(
            hx + 0.25,
            relu_y,
            "nothing after the addition:\n$x_l$ reaches $x_{l+1}$ unchanged",
            ha="left",
            va="center",
            fontsize=10,
            color=_NOTE,
            style="italic",
        )
        equation = r"$x_{l+1} = x_l + \mathcal{F}(x_l)$"
    ax.text(
        (ax.get_xlim()[0] + ax.get_xlim()[1]) / 2,
        out_y - 0.85,
        equation,
        ha="center",
        va="center",
        fontsize=14,
    )


def _identity_label(ax: Any, x: float, y: float, text: str, ha: str) -> None:
    """The vertical italic label beside an identity path."""
    ax.text(x, y, text, rotation=90, ha=ha, va="center", fontsize=10.5, style="italic",
            color=_IDENTITY)  # fmt: skip


def _branch_frame(ax: Any, cx: float, top: float, bottom: float, label: str) -> tuple[float, float]:
    """Draw the dashed frame around a residual branch F and its name; return its top and bottom."""
    pad = 0.16
    top_f, bot_f = top + pad, bottom - pad
    ax.add_patch(
        FancyBboxPatch(
            (cx - 0.85 - pad, bot_f),
            1.7 + 2 * pad,
            top_f - bot_f,
            boxstyle="round,pad=0,rounding_size=0.18",
            facecolor="none",
            edgecolor="#9aa5b1",
            linestyle=(0, (4, 3)),
            linewidth=1.1,
            zorder=0.5,
        )
    )
    ax.text(cx - 1.15, (top_f + bot_f) / 2, label, ha="right", va="center", fontsize=13)
    return top_f, bot_f


def unit_comparison() -> Figure:
    """Draw the original residual unit beside the full pre-activation unit.

    Left: the unit of He et al. 2015 (conv-BN-ReLU, conv-BN, add, ReLU after the
    addition). Right: the full pre-activation unit of He et al. 2016 (BN-ReLU-conv,
    BN-ReLU-conv, add, nothing after the addition; their fig. 4e). The identity
    path is the thick straight line; the ReLU that pre-activation removes from it
    is outlined in red.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, titled "Original unit (He et al. 2015)" and "Full
        pre-activation unit (He et al. 2016)".
    """
    with _style():
        rows = max(len(_ORIGINAL_BRANCH), len(_PREACT_BRANCH))
        y0 = -1.25 - rows * _STEP - 2 * _POST_STEP - 1.25
        extent = (-2.45, 5.6, y0, 0.45)
        fig, (left, right) = _figure([extent, extent], gap=0.5)
        _unit_panel(left, _ORIGINAL_BRANCH, rows, post_relu=True)
        _unit_panel(right, _PREACT_BRANCH, rows, post_relu=False)
        left.set_title("Original unit (He et al. 2015)")
        right.set_title("Full pre-activation unit (He et al. 2016)")
        _legend(fig, ("conv", "bn", "relu", "add"))
    return fig


# ----------------------------------------------------------------------------
# 2. the bottleneck unit against the basic unit
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvSpec:
    """One convolution of a unit: kernel size, channels in and out, bias or not."""

    kernel: int
    c_in: int
    c_out: int
    bias: bool = False

    @property
    def weights(self) -> int:
        """Kernel weights, ``kernel * kernel * c_in * c_out``."""
        return self.kernel * self.kernel * self.c_in * self.c_out

    @property
    def biases(self) -> int:
        """Bias terms, ``c_out`` if the convolution has a bias, else 0."""
        return self.c_out if self.bias else 0


def _unit_convs(kind: str, widths: Sequence[int], last_bias: bool) -> tuple[ConvSpec, ...]:
    """The convolutions of a unit of ``kind`` (kernels from :data:`rnpa.blocks.UNIT_KINDS`)."""
    kernels = UNIT_KINDS[kind].kernels
    return tuple(
        ConvSpec(k, c_in, c_out, bias=last_bias and i == len(kernels) - 1)
        for i, (k, c_in, c_out) in enumerate(zip(kernels, widths[:-1], widths[1:], strict=True))
    )


def bottleneck_convs() -> tuple[ConvSpec, ...]:
    """The convolutions of the course's bottleneck unit: 1x1, 3x3, 1x1 (last with bias).

    Kernels from ``rnpa.blocks.UNIT_KINDS["bottleneck"]``, widths from
    :data:`rnpa.models.ORIGINAL_FILTERS` and :data:`rnpa.models.ORIGINAL_STEM_FILTERS`:
    128 -> 32 -> 32 -> 128 channels.
    """
    return _unit_convs("bottleneck", (ORIGINAL_STEM_FILTERS, *ORIGINAL_FILTERS), last_bias=True)


def basic_convs() -> tuple[ConvSpec, ...]:
    """The convolutions of a basic unit as wide as the course's: two 3x3, 128 -> 128.

    Kernels and widths from ``rnpa.blocks.UNIT_KINDS["basic"]``.
    """
    c = ORIGINAL_STEM_FILTERS
    return _unit_convs("basic", (c, *UNIT_KINDS["basic"].widths(c)), last_bias=False)


def _conv_unit_panel(ax: Axes, convs: Sequence[ConvSpec], total_y: float) -> tuple[int, _Box]:
    """Draw a pre-activation unit with these convolutions; return its weights and output box."""
    bx, hx = 0.0, -2.3  # branch column, identity column
    c_in = convs[0].c_in
    xl = _box(ax, hx, 0.0, "$x_l$", "tensor", w=1.1, fontsize=13)
    split_y = -0.6
    _dot(ax, hx, split_y)
    # BN, ReLU, conv for every convolution
    layers: list[tuple[str, str, ConvSpec | None]] = []
    for conv in convs:
        layers += [
            ("bn", "BN", None),
            ("relu", "ReLU", None),
            ("conv", f"{conv.kernel}x{conv.kernel} conv", conv),
        ]
    first_y = -1.2
    boxes = []
    channels = c_in
    for i, (kind, text, conv) in enumerate(layers):
        b = _box(ax, bx, first_y - i * _STEP, text, kind)
        if i == 0:
            _arrow(ax, (hx, split_y), (bx, split_y), b.top, label=str(channels))
        else:
            _arrow(ax, boxes[-1].bottom, b.top, label=str(channels))
        if conv is not None:
            channels = conv.c_out
            formula = f"{conv.kernel}×{conv.kernel}×{conv.c_in}×{conv.c_out} = {_fmt(conv.weights)}"
            if conv.biases:
                formula += f"\n+ {_fmt(conv.biases)} bias"
            ax.text(
                bx + 1.05,
                b.y,
                formula,
                ha="left",
                va="center",
                fontsize=10,
                color=PALETTE["conv"][1],
            )
        boxes.append(b)
    add_y = boxes[-1].y - _STEP - 0.05
    plus = _add(ax, bx, add_y)
    _arrow(ax, boxes[-1].bottom, plus.top, label=str(channels))
    _arrow(ax, xl.bottom, (hx, add_y), plus.left, color=_IDENTITY, lw=_IDENTITY_LW)
    _identity_label(ax, hx - 0.16, (split_y + add_y) / 2, f"identity, {c_in} channels", "right")
    out = _box(ax, bx, add_y - _STEP, "$x_{l+1}$", "tensor", w=1.1, fontsize=13)
    _arrow(ax, plus.bottom, out.top, label=str(channels))
    weights = sum(c.weights for c in convs)
    biases = sum(c.biases for c in convs)
    total = f"convolution weights: {_fmt(weights)}"
    if biases:
        total += f" (+ {_fmt(biases)} bias)"
    ax.text(
        sum(ax.get_xlim()) / 2,
        total_y,
        total,
        ha="center",
        va="center",
        fontsize=11.5,
        weight="bold",
    )
    return weights, out


def bottleneck_vs_basic() -> Figure:
    """Draw the course's bottleneck unit beside a basic unit of the same width.

    Left: the pre-activation bottleneck unit of the 2017 network, BN-ReLU-1x1
    conv, BN-ReLU-3x3 conv, BN-ReLU-1x1 conv, 128 -> 32 -> 32 -> 128 channels.
    Right: the basic unit, two 3x3 convolutions at 128 -> 128 -> 128. Every arrow
    carries its channel count and every convolution its weights,
    ``k*k*c_in*c_out``, computed from the shapes (see :func:`bottleneck_convs`).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, titled "Bottleneck unit: ..." and "Basic unit: ...".
    """
    with _style():
        bottleneck, basic = bottleneck_convs(), basic_convs()
        rows = 3 * max(len(bottleneck), len(basic))
        total_y = -1.2 - (rows - 1) * _STEP - 2 * _STEP - 0.05 - 0.85
        extent = (-3.5, 4.5, total_y - 0.45, 0.45)
        fig, (left, right) = _figure([extent, extent], gap=0.5)
        w_bottleneck, _ = _conv_unit_panel(left, bottleneck, total_y)
        w_basic, out = _conv_unit_panel(right, basic, total_y)
        chain = " → ".join(str(c) for c in (bottleneck[0].c_in, *(c.c_out for c in bottleneck)))
        left.set_title(f"Bottleneck unit: {chain}")
        chain = " → ".join(str(c) for c in (basic[0].c_in, *(c.c_out for c in basic)))
        right.set_title(f"Basic unit: {chain}")
        right.text(
            sum(extent[:2]) / 2,
            (out.bottom[1] + total_y) / 2,
            f"the bottleneck unit needs\n{w_basic / w_bottleneck:.0f}× fewer weights\n"
            f"({_fmt(w_bottleneck)} against {_fmt(w_basic)})",
            ha="center",
            va="center",
            fontsize=11.5,
            color=PALETTE["conv"][1],
            bbox={
                "boxstyle": "round,pad=0.5",
                "facecolor": "#f4f8fc",
                "edgecolor": PALETTE["conv"][1],
                "linewidth": 1.0,
            },
        )
        _legend(fig, ("conv", "bn", "relu", "add"))
    return fig


# ----------------------------------------------------------------------------
# 3. the whole network, read from the model
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerInfo:
    """What the network diagram shows of one Keras layer."""

    name: str
    kind: str  # a key of PALETTE
    detail: str  # e.g. "3x3 conv, 128, stride 2"
    shape: str  # output shape without the batch axis, e.g. "16x16x128"


def _shape(shape: Sequence[int | None]) -> str:
    return "x".join(str(d) for d in shape[1:])


def _layer_info(layer: Any) -> LayerInfo:
    """Kind, detail and output shape of a Keras layer of ``ResNetPreAct``."""
    cls = type(layer).__name__
    shape = _shape(layer.output.shape)
    if cls == "InputLayer":
        return LayerInfo(layer.name, "tensor", "", shape)
    if cls == "Conv2D":
        k = "x".join(str(v) for v in layer.kernel_size)
        detail = f"{k} conv, {layer.filters}"
        if tuple(layer.strides) != (1, 1):
            detail += f", stride {'x'.join(str(s) for s in set(layer.strides))}"
        return LayerInfo(layer.name, "conv", detail, shape)
    if cls == "BatchNormalization":
        return LayerInfo(layer.name, "bn", "BN", shape)
    if cls == "Activation":
        act = getattr(layer.activation, "__name__", str(layer.activation))
        return LayerInfo(layer.name, "relu", "ReLU" if act == "relu" else act, shape)
    if cls == "Add":
        return LayerInfo(layer.name, "add", "add", shape)
    if cls in ("AveragePooling2D", "GlobalAveragePooling2D"):
        pool = "x".join(str(p) for p in getattr(layer, "pool_size", ()))
        return LayerInfo(layer.name, "pool", f"{pool} average pool".strip(), shape)
    if cls == "Flatten":
        return LayerInfo(layer.name, "pool", "flatten", shape)
    if cls == "Dense":
        act = getattr(layer.activation, "__name__", str(layer.activation))
        return LayerInfo(layer.name, "dense", f"dense, {layer.units} classes, {act}", shape)
    return LayerInfo(layer.name, "unit", cls, shape)


@dataclass(frozen=True)
class NetworkLayers:
    """The layers of a ``ResNetPreAct`` in the three parts the diagram draws."""

    stem: tuple[LayerInfo, ...]  # input, conv0, bn0, relu0
    units: tuple[tuple[int, tuple[LayerInfo, ...]], ...]  # (number, (bn2a, ..., merge2))
    head: tuple[LayerInfo, ...]  # bnF ... fc10
    params: int  # model.count_params()


def network_layers(num_stages: int = 5) -> NetworkLayers:
    """Read ``rnpa.ResNetPreAct(num_stages=num_stages)`` into stem, units and head.

    Parameters
    ----------
    num_stages : int
        Number of bottleneck units (>= 0).

    Returns
    -------
    NetworkLayers
        Name, kind, detail and output shape of every layer, grouped by the unit
        number in its name (``bn2a`` ... ``merge2`` belong to unit 2), and the
        number of parameters of the model.
    """
    return _network_layers(check_positive_int(num_stages, "num_stages", minimum=0))


@functools.lru_cache(maxsize=8)
def _network_layers(num_stages: int) -> NetworkLayers:
    """:func:`network_layers`, cached: building the model is the slow part."""
    model = ResNetPreAct(num_stages=num_stages)
    stem: list[LayerInfo] = []
    units: dict[int, list[LayerInfo]] = {}
    head: list[LayerInfo] = []
    for layer in model.layers:
        info = _layer_info(layer)
        parsed = parse_layer_name(layer.name)  # the naming contract of rnpa.blocks
        if parsed is not None and parsed.label.isdigit():
            units.setdefault(int(parsed.label), []).append(info)
        elif units:
            head.append(info)
        else:
            stem.append(info)
    return NetworkLayers(
        tuple(stem),
        tuple((n, tuple(layers)) for n, layers in sorted(units.items())),
        tuple(head),
        int(model.count_params()),
    )


def network_diagram(num_stages: int = 5) -> Figure:
    """Draw the whole 2017 network, :func:`rnpa.ResNetPreAct`, layer by layer.

    The names, kinds and output shapes come from the layers of
    ``rnpa.ResNetPreAct(num_stages=num_stages)``, so the drawing follows the code:
    input 32x32x3, conv0 (128, 3x3, stride 2) - bn0 - relu0, the bottleneck units
    (unit 1 without its first BN-ReLU: the stem has just applied it), then bnF -
    reluF - avg_pool - flat - fc10 (softmax).

    Parameters
    ----------
    num_stages : int
        Number of bottleneck units (>= 0), as in :func:`rnpa.ResNetPreAct`.

    Returns
    -------
    matplotlib.figure.Figure
        One panel, titled "ResNetPreAct(num_stages=5): 96,133 parameters" (for
        the default).
    """
    net = network_layers(num_stages)
    with _style():
        main_w, chip_w, chip_gap, chip_h = 4.4, 1.14, 0.28, 0.62
        max_chips = max(
            (sum(1 for i in layers if i.kind != "add") for _, layers in net.units), default=0
        )
        unit_w = max(9.0, max_chips * chip_w + (max_chips - 1) * chip_gap + 0.4)
        step, unit_h, r = 0.7, 1.28, 0.2
        x_shape = unit_w / 2 + 0.45
        x_range = (-unit_w / 2 - 0.75, x_shape + 2.2)
        margins = {"top": 0.75, "bottom": 0.85, "gap": 0.35, "side": 0.2}
        fig, (ax,) = _figure([(*x_range, -1.0, 0.5)], **margins)
        ax.set_title(f"ResNetPreAct(num_stages={num_stages}): {_fmt(net.params)} parameters")
        ax.text(
            x_shape,
            0.0,
            "output shape",
            ha="left",
            va="center",
            fontsize=10.5,
            weight="bold",
            color=_NOTE,
        )

        def shape_label(y: float, shape: str) -> None:
            ax.text(
                x_shape,
                y,
                shape,
                ha="left",
                va="center",
                fontsize=10.5,
                color=_NOTE,
                family="DejaVu Sans Mono",
            )

        def main_box(info: LayerInfo, y: float) -> _Box:
            text = info.name if info.kind == "tensor" else f"{info.name}: {info.detail}"
            b = _box(ax, 0.0, y, text, info.kind, w=main_w, fontsize=10.5)
            shape_label(b.y, info.shape)
            return b

        prev: _Box | None = None
        y = -0.35  # centre of the next box
        for info in net.stem:
            b = main_box(info, y)
            if prev is not None:
                _arrow(ax, prev.bottom, b.top)
            prev, y = b, y - step
        for number, layers in net.units:
            assert prev is not None
            split_y = prev.bottom[1] - 0.3
            _dot(ax, 0.0, split_y)
            top = split_y - 0.32
            container = _Box(0.0, top - unit_h / 2, unit_w, unit_h)
            ax.add_patch(
                FancyBboxPatch(
                    (-unit_w / 2, top - unit_h),
                    unit_w,
                    unit_h,
                    boxstyle="round,pad=0,rounding_size=0.16",
                    facecolor=PALETTE["unit"][0],
                    edgecolor=PALETTE["unit"][1],
                    linewidth=1.3,
                    zorder=1.5,
                )
            )
            _arrow(ax, prev.bottom, container.top)
            chips = [i for i in layers if i.kind != "add"]
            merge = [i for i in layers if i.kind == "add"]
            title = f"unit {number}"
            if not any(i.name in (f"bn{number}a", f"relu{number}a") for i in chips):
                title += "   (no first BN-ReLU: bn0, relu0 have just applied it)"
            ax.text(
                -unit_w / 2 + 0.22,
                top - 0.24,
                title,
                ha="left",
                va="center",
                fontsize=10.5,
                weight="bold",
                zorder=3,
            )
            row_w = len(chips) * chip_w + (len(chips) - 1) * chip_gap
            cx0 = -row_w / 2 + chip_w / 2
            last: _Box | None = None
            for j, info in enumerate(chips):
                text = info.name
                if info.kind == "conv":
                    text += "\n" + info.detail.replace(" conv", "")
                chip = _box(
                    ax,
                    cx0 + j * (chip_w + chip_gap),
                    top - 0.8,
                    text,
                    info.kind,
                    w=chip_w,
                    h=chip_h,
                    fontsize=9.5,
                )
                if last is not None:
                    _arrow(ax, last.right, chip.left, lw=1.0, head_size=8, zorder=1.8)
                last = chip
            add_y = top - unit_h - 0.34 - r
            plus = _add(ax, 0.0, add_y, r)
            _arrow(ax, container.bottom, plus.top)
            skip_x = -unit_w / 2 - 0.38
            _arrow(
                ax,
                (0.0, split_y),
                (skip_x, split_y),
                (skip_x, add_y),
                plus.left,
                color=_IDENTITY,
                lw=_IDENTITY_LW,
            )
            if merge:
                ax.text(0.35, add_y, merge[0].name, ha="left", va="center", fontsize=10.5)
                shape_label(add_y, merge[0].shape)
            prev, y = plus, add_y - r - 0.34 - 0.24
        for info in net.head:
            b = main_box(info, y)
            if prev is not None:
                _arrow(ax, prev.bottom, b.top)
            prev, y = b, y - step
        assert prev is not None
        _layout(fig, [ax], [(*x_range, prev.bottom[1] - 0.25, 0.5)], **margins)
        _legend(fig, ("conv", "bn", "relu", "add", "pool", "dense"), ncol=4 if unit_w > 11 else 3)
    return fig


# ----------------------------------------------------------------------------
# 4. the identity path as a gradient highway
# ----------------------------------------------------------------------------
def _x_label(i: int, n: int) -> str:
    if i == 0:
        return "$x_l$"
    if i == n:
        return "$x_L$"
    return f"$x_{{l+{i}}}$"


def gradient_highway(num_units: int = 4, unit: str = "bottleneck") -> Figure:
    """Draw a stack of pre-activation units with the identity path as a highway.

    ``x_l`` runs straight through ``num_units`` additions to ``x_L``, so
    ``x_L = x_l + sum_i F(x_i)`` (He et al. 2016, eq. 4), and the gradient
    ``dE/dx_L`` comes back along the same line to every earlier unit:
    ``dE/dx_l = dE/dx_L (1 + d/dx_l sum_i F(x_i))`` (eq. 5). The "1" is the
    highway; the sum goes through the residual branches.

    Parameters
    ----------
    num_units : int
        Number of units between ``x_l`` and ``x_L`` (1 to 8).
    unit : str
        The kind of unit (:data:`rnpa.blocks.UNIT_KINDS`): each branch is labelled
        with its number of BN-ReLU-conv steps (3 for bottleneck, 2 for basic units).

    Returns
    -------
    matplotlib.figure.Figure
        One panel, titled "The identity path is a highway ...".
    """
    num_units = check_positive_int(num_units, "num_units")
    if unit not in UNIT_KINDS:
        raise ValueError(f"unit must be one of {', '.join(map(repr, UNIT_KINDS))}; got {unit!r}")
    steps = UNIT_KINDS[unit].n_convs
    if num_units > 8:
        raise ValueError(f"num_units must be an int from 1 to 8, got {num_units!r}")
    with _style():
        tw, span = 1.0, 3.7  # tensor box width, horizontal distance between tensors
        width = num_units * span + tw
        pad = max(0.0, (16.5 - (width + 0.55)) / 2)  # room for the title and equations
        extent = (-0.6 - pad, width - 0.25 + pad, -3.75, 3.05)
        fig, (ax,) = _figure([extent], top=0.7, bottom=0.55)
        ax.set_title("The identity path is a highway, forward and backward (He et al. 2016)")
        tensors = [
            _box(
                ax,
                i * span + tw / 2 - 0.4,
                0.0,
                _x_label(i, num_units),
                "tensor",
                w=tw,
                fontsize=13,
            )
            for i in range(num_units + 1)
        ]
        for i in range(num_units):
            a, b = tensors[i], tensors[i + 1]
            split_x = a.right[0] + 0.45
            plus = _add(ax, b.left[0] - 0.75, 0.0)
            f_x = (split_x + plus.x) / 2
            label = r"$\mathcal{F}(x_l)$" if i == 0 else rf"$\mathcal{{F}}(x_{{l+{i}}})$"
            f_box = _box(ax, f_x, 1.45, "", "unit", w=2.2, h=0.95)
            ax.text(f_x, 1.63, label, ha="center", va="center", fontsize=13, zorder=3)
            ax.text(
                f_x,
                1.2,
                f"(BN-ReLU-conv) ×{steps}",
                ha="center",
                va="center",
                fontsize=9,
                color=_NOTE,
                zorder=3,
            )
            _dot(ax, split_x, 0.0)
            _arrow(ax, (split_x, 0.0), (split_x, f_box.bottom[1]))
            _arrow(ax, (plus.x, f_box.bottom[1]), plus.top)
            _arrow(ax, a.right, plus.left, color=_IDENTITY, lw=_IDENTITY_LW)
            _arrow(ax, plus.right, b.left, color=_IDENTITY, lw=_IDENTITY_LW)
            # the gradient also goes back through the branch: dashed, over F
            ax.add_patch(
                FancyArrowPatch(
                    (plus.x + 0.05, f_box.y + 0.65),
                    (split_x - 0.05, f_box.y + 0.65),
                    connectionstyle="arc3,rad=0.25",
                    arrowstyle="-|>",
                    mutation_scale=12,
                    color=_GRADIENT,
                    linewidth=1.4,
                    linestyle=(0, (4, 2.5)),
                    zorder=1,
                )
            )
        x_first, x_last = tensors[0].x, tensors[-1].x
        # the gradient comes back along the highway, untouched
        _arrow(ax, (x_last, -0.75), (x_first, -0.75), color=_GRADIENT, lw=2.6)
        ax.text(
            (x_first + x_last) / 2,
            -1.0,
            r"$\partial\mathcal{E}/\partial x_L$ flows back to $x_l$ along the identity "
            "path, through no weight and no ReLU: the 1 in eq. (5)",
            ha="center",
            va="top",
            fontsize=11,
            color=_GRADIENT,
        )
        ax.text(
            (x_first + x_last) / 2,
            2.75,
            "dashed: the part of the gradient that goes back through the branches, "
            r"$\partial(\sum\mathcal{F})\,/\,\partial x_l$",
            ha="center",
            va="center",
            fontsize=10.5,
            color=_GRADIENT,
        )
        eq4 = r"$x_L = x_l + \sum_{i=l}^{L-1}\mathcal{F}(x_i)$"
        eq5 = (
            r"$\dfrac{\partial\mathcal{E}}{\partial x_l} = \dfrac{\partial\mathcal{E}}"
            r"{\partial x_L}\left(1 + \dfrac{\partial}{\partial x_l}"
            r"\sum_{i=l}^{L-1}\mathcal{F}(x_i)\right)$"
        )
        mid, quarter = (extent[0] + extent[1]) / 2, (extent[1] - extent[0]) / 4
        ax.text(mid - quarter, -2.3, eq4, ha="center", va="center", fontsize=15)
        ax.text(
            mid - quarter,
            -3.35,
            "(4) forward: the signal",
            ha="center",
            va="center",
            fontsize=10.5,
            color=_NOTE,
        )
        ax.text(mid + quarter, -2.3, eq5, ha="center", va="center", fontsize=15, color=_GRADIENT)
        ax.text(
            mid + quarter,
            -3.35,
            "(5) backward: the gradient",
            ha="center",
            va="center",
            fontsize=10.5,
            color=_NOTE,
        )
        _legend(fig, ("unit", "add"), gradient=True)
    return fig


# ----------------------------------------------------------------------------
# 5. a plain block against a residual block: the residual idea
# ----------------------------------------------------------------------------
def _block_panel(ax: Axes, residual: bool) -> None:
    """Draw a block of two weight layers, plain or with an identity shortcut.

    Both panels share one column and the same rows, so the residual block reads as
    the plain one with the addition (and the shortcut into it) put in.
    """
    cx, hx = 0.0, 1.6  # main column, shortcut column
    first_y = -1.25
    w1_y, relu1_y, w2_y = first_y, first_y - _STEP, first_y - 2 * _STEP
    add_y = w2_y - _STEP
    relu2_y = add_y - _POST_STEP
    out_y = relu2_y - _POST_STEP
    x = _box(ax, cx, 0.0, "$x$", "tensor", w=1.1, fontsize=13)
    w1 = _box(ax, cx, w1_y, "weight layer", "conv")
    relu1 = _box(ax, cx, relu1_y, "ReLU", "relu", w=1.3)
    w2 = _box(ax, cx, w2_y, "weight layer", "conv")
    relu2 = _box(ax, cx, relu2_y, "ReLU", "relu", w=1.3)
    _arrow(ax, x.bottom, w1.top)
    _arrow(ax, w1.bottom, relu1.top)
    _arrow(ax, relu1.bottom, w2.top)
    if residual:
        out = _box(ax, cx, out_y, "$y$", "tensor", w=1.1, fontsize=13)
        plus = _add(ax, cx, add_y)
        _arrow(ax, w2.bottom, plus.top)
        _arrow(ax, plus.bottom, relu2.top)
        _arrow(ax, relu2.bottom, out.top)
        top_f, bot_f = _branch_frame(ax, cx, w1.top[1], w2.bottom[1], r"$\mathcal{F}(x)$")
        # the identity shortcut: from x around the weight layers into the addition
        split_y = (x.bottom[1] + top_f) / 2
        _dot(ax, cx, split_y)
        _arrow(
            ax,
            (cx, split_y),
            (hx, split_y),
            (hx, add_y),
            plus.right,
            color=_IDENTITY,
            lw=_IDENTITY_LW,
        )
        _identity_label(ax, hx + 0.16, (split_y + add_y) / 2, "identity $x$", "left")
        ax.text(cx - 0.35, add_y, r"$\mathcal{F}(x) + x$", ha="right", va="center", fontsize=12)
        equation = r"$\mathcal{H}(x) = \mathcal{F}(x) + x$"
    else:
        out = _box(ax, cx, out_y, r"$\mathcal{H}(x)$", "tensor", w=1.1, fontsize=13)
        _arrow(ax, w2.bottom, relu2.top)
        _arrow(ax, relu2.bottom, out.top)
        equation = r"$\mathcal{H}(x)$ learned directly"
    ax.text(
        (ax.get_xlim()[0] + ax.get_xlim()[1]) / 2,
        out_y - 0.85,
        equation,
        ha="center",
        va="center",
        fontsize=14,
    )


def plain_vs_residual() -> Figure:
    """Draw a plain block beside a residual block: the residual idea.

    Left: two weight layers, each followed by a ReLU, that must learn the wanted
    mapping :math:`\\mathcal{H}(x)` directly. Right: the same layers with an identity
    shortcut from ``x`` (the thick line) added to their output before the last
    ReLU, so they only learn the residual :math:`\\mathcal{F}(x) = \\mathcal{H}(x) - x`
    (the idea of He et al. 2015, fig. 2, drawn in the course's style).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, titled "Plain block" and "Residual block".
    """
    with _style():
        out_y = -1.25 - 3 * _STEP - 2 * _POST_STEP
        extent = (-2.45, 2.6, out_y - 1.25, 0.45)
        fig, (left, right) = _figure([extent, extent], gap=0.5)
        _block_panel(left, residual=False)
        _block_panel(right, residual=True)
        left.set_title("Plain block")
        right.set_title("Residual block")
        _legend(fig, ("conv", "relu", "add"), labels={"conv": "weight layer"})
    return fig


# ----------------------------------------------------------------------------
# all diagrams: registry, files, command line
# ----------------------------------------------------------------------------
#: every diagram by the name of its files
DIAGRAMS: dict[str, Callable[[], Figure]] = {
    "unit_comparison": unit_comparison,
    "bottleneck_vs_basic": bottleneck_vs_basic,
    "network": network_diagram,
    "gradient_highway": gradient_highway,
    "plain_vs_residual": plain_vs_residual,
}


def _check_out_dir(out_dir: Any) -> Path:
    """Return ``out_dir`` as a Path to an existing directory, creating it if missing."""
    if isinstance(out_dir, bytes) or not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a path (str or pathlib.Path), got {out_dir!r}")
    if str(out_dir) == "":
        raise ValueError("out_dir must be a path to a directory, got an empty string")
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"out_dir must be a directory, but {str(path)!r} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"out_dir {str(path)!r} cannot be created: {err}") from err
    return path


def _render(fig: Figure, fmt: str) -> bytes:
    """The bytes of ``fig`` as PNG or SVG, the same on every run."""
    buf = io.BytesIO()
    with _style():
        if fmt == "png":
            fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
        else:
            fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def save_all(out_dir: str | os.PathLike[str] = "images") -> list[Path]:
    """Write every diagram of :data:`DIAGRAMS` as ``{name}.png`` and ``{name}.svg``.

    The files are the same bytes on every run with the same Matplotlib (fixed
    style, DPI and SVG hash salt, no dates in the metadata), and each is written
    to a temporary file first and then renamed, so a reader never sees half a file.

    Parameters
    ----------
    out_dir : str or path-like
        Directory for the files; created if missing.

    Returns
    -------
    list of pathlib.Path
        The files written, PNG then SVG for each diagram.

    Raises
    ------
    TypeError
        If ``out_dir`` is not a path.
    ValueError
        If ``out_dir`` is a file or cannot be created.
    """
    out = _check_out_dir(out_dir)
    written = []
    for name, draw in DIAGRAMS.items():
        fig = draw()
        for fmt in ("png", "svg"):
            path = out / f"{name}.{fmt}"
            write_atomic(path, _render(fig, fmt))
            written.append(path)
    return written


__all__ = [
    "DIAGRAMS",
    "PALETTE",
    "PNG_DPI",
    "ConvSpec",
    "DiagramFigure",
    "LayerInfo",
    "NetworkLayers",
    "basic_convs",
    "bottleneck_convs",
    "network_layers",
    "unit_comparison",
    "bottleneck_vs_basic",
    "network_diagram",
    "gradient_highway",
    "plain_vs_residual",
    "save_all",
]
