"""Plots for the lessons: learning curves, images, confusion matrix, gradient flow, comparisons.

Every function returns a :class:`matplotlib.figure.Figure` and never calls
``plt.show()``: in a notebook the figure is displayed because it is the cell's
value (or with ``display(fig)``); in a script, ``fig.savefig(path)``.
Bad input raises ``ValueError``/``TypeError`` naming the argument before
anything is drawn. Plots draw results they are given; they compute nothing of
a model (no rnpa module is imported here).

Conventions shared by every lesson:

* one colour per network variant (:data:`VARIANT_COLORS`, :func:`variant_color`):
  a line or bar whose name contains a variant's name ("original-44",
  "pre-activation, after 10 epochs") gets that variant's colour in every lesson;
  two lines of the same colour in one figure differ in line style;
* chance levels: ``chance=`` draws a grey dotted line where a classifier that
  guesses would be (:func:`chance_levels`: ln k for the loss, 1/k for the accuracy);
* per-unit x axes (unit labels ``"<stage>_<unit>"``) mark where a stage begins;
* ``log=True`` where values span orders of magnitude.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: a colour-blind-safe palette (Okabe-Ito), in the order lines are drawn
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

#: the colour of each network variant, the same in every lesson (Okabe-Ito colours)
VARIANT_COLORS: dict[str, str] = {
    "plain": "#000000",
    "original": "#D55E00",
    "pre-activation": "#0072B2",
    "BN after addition": "#009E73",
    "ReLU before addition": "#CC79A7",
    "ReLU-only pre-activation": "#56B4E9",
    "bottleneck": "#E69F00",
    "basic": "#999999",
}

#: other names of the variants: rnpa's order names and lesson 1's "residual"
#: (the original ResNet)
VARIANT_ALIASES: dict[str, str] = {
    "residual": "original",
    "post": "original",
    "pre": "pre-activation",
    "preact": "pre-activation",
    "full pre-activation": "pre-activation",
    "bn_after_add": "BN after addition",
    "relu_before_add": "ReLU before addition",
    "relu_preact": "ReLU-only pre-activation",
}

_LINESTYLES = ("-", "--", ":", "-.")
_CHANCE_STYLE = {"color": "#777777", "linestyle": ":", "linewidth": 1.4, "zorder": 1}

_METRIC_LABELS = {
    "loss": "loss",
    "accuracy": "accuracy",
    "acc": "accuracy",
    "sparse_categorical_accuracy": "accuracy",
}


# ----------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------
def _check_mapping(value: Any, name: str, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict of {what}, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty (a dict of {what})")
    return value


def _check_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must hold numbers, got {value!r}")
    return float(value)


def _history_dict(history: Any, name: str) -> dict[str, list[float]]:
    """The ``{metric: [value per epoch]}`` dict of a Keras History or a plain dict."""
    data = getattr(history, "history", history)
    if not isinstance(data, Mapping):
        raise TypeError(
            f"{name} must be a keras History or a dict {{metric: [values per epoch]}}, "
            f"got {type(history).__name__}"
        )
    return {str(k): [float(v) for v in vals] for k, vals in data.items()}


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _words(text: str) -> str:
    """Lower-case words separated by single spaces, a leading ``"(a) "`` dropped."""
    text = re.sub(r"^\s*\([a-z]\)\s*", "", str(text).lower())
    return " " + re.sub(r"[^a-z0-9]+", " ", text).strip() + " "


def _variant_of(name: str) -> str | None:
    """The variant (a key of VARIANT_COLORS) whose name, or an alias, is in ``name``."""
    words = _words(name)
    if " plain " in words:  # a plain network of any unit order is plain
        return "plain"
    names = {**{v: v for v in VARIANT_COLORS}, **VARIANT_ALIASES}
    found = [(len(k), v) for k, v in names.items() if _words(k) in words]
    return max(found)[1] if found else None


def variant_color(name: str) -> str | None:
    """The colour of the network variant named in ``name``, or ``None`` if it names none.

    Parameters
    ----------
    name : str
        A run or network name, e.g. ``"original-44"``, ``"pre-activation (110
        layers)"``, ``"(b) BN after addition"``, ``"plain-20"``. Matching ignores
        case, ``-`` and ``_``; the longest variant name (or alias,
        :data:`VARIANT_ALIASES`) found as whole words wins, and ``"plain"`` wins
        over any unit order.

    Returns
    -------
    str or None
        A colour of :data:`VARIANT_COLORS`.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (a run or network name), got {name!r}")
    variant = _variant_of(name)
    return VARIANT_COLORS[variant] if variant else None


def _styles(names: Sequence[str]) -> list[tuple[str, str]]:
    """(colour, line style) per name: variant colours, other names the free palette colours.

    A colour already used in the figure gets the next line style, so two runs
    of one variant (at initialisation and after training) stay apart.
    """
    known = [variant_color(n) for n in names]
    free = [c for c in PALETTE if c not in set(VARIANT_COLORS.values())] + list(PALETTE)
    used: dict[str, int] = {}
    out = []
    for color in known:
        if color is None:
            color = next((c for c in free if c not in used and c not in known), free[0])
        n = used.get(color, 0)
        used[color] = n + 1
        out.append((color, _LINESTYLES[n % len(_LINESTYLES)]))
    return out


def chance_levels(num_classes: int) -> dict[str, float]:
    """Loss and accuracy of a classifier that guesses uniformly among ``num_classes`` classes.

    Parameters
    ----------
    num_classes : int
        Number of classes (>= 2).

    Returns
    -------
    dict of str to float
        ``{"loss": ln k, "accuracy": 1/k}`` (and the same for ``"val_loss"``,
        ``"val_accuracy"``): cross-entropy of the uniform prediction and its
        expected accuracy. For 5 classes ln 5 = 1.609 and 0.2.
    """
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, numbers.Integral)
        or num_classes < 2
    ):
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    loss, acc = math.log(int(num_classes)), 1.0 / int(num_classes)
    return {"loss": loss, "accuracy": acc, "val_loss": loss, "val_accuracy": acc}


def _check_chance(chance: Any, name: str = "chance") -> float | None:
    if chance is None:
        return None
    value = _check_number(chance, name)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (the chance level), got {chance!r}")
    return value


def _draw_chance(ax: Any, value: float | None) -> None:
    if value is not None:
        ax.axhline(value, label=f"chance ({value:.3g})", **_CHANCE_STYLE)


def _stage_of(label: str) -> str | None:
    match = re.fullmatch(r"(\d+)_\d+", str(label))
    return match.group(1) if match else None


def mark_stages(ax: Any, labels: Sequence[str]) -> list[float]:
    """Mark where each stage begins on a per-unit x axis (x = 1, 2, ... for ``labels``).

    Parameters
    ----------
    ax : matplotlib Axes
        The axis whose x positions 1..len(labels) are units.
    labels : sequence of str
        Unit labels ``"<stage>_<unit>"`` (``"2_1"``: stage 2, unit 1), input to
        output. Labels without a stage (the 2017 network's ``"1"``..``"5"``) mark
        nothing.

    Returns
    -------
    list of float
        The x positions of the boundaries drawn (half-way between the last unit
        of a stage and the first of the next), one grey dashed vertical line each,
        with the stage's name at the top.
    """
    stages = [_stage_of(lab) for lab in labels]
    where = [
        i + 0.5
        for i in range(1, len(stages))
        if stages[i] is not None and stages[i - 1] is not None and stages[i] != stages[i - 1]
    ]
    for x in where:
        ax.axvline(x, color="#999999", linestyle="--", linewidth=1.0, zorder=0.5)
        ax.annotate(
            f"stage {stages[int(x - 0.5)]}",
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=7,
            color="#666666",
        )
    return where


# ----------------------------------------------------------------------------
# learning curves
# ----------------------------------------------------------------------------
def learning_curves(
    histories: Mapping[str, Any],
    metrics: Sequence[str] = ("loss", "accuracy"),
    validation: bool = True,
    title: str | None = None,
    chance: Mapping[str, float] | None = None,
) -> Figure:
    """Training (solid) and validation (dashed) curves of several runs, one panel per metric.

    Parameters
    ----------
    histories : dict of str to History or dict
        ``{run name: keras History or {metric: [value per epoch]}}``.
    metrics : sequence of str
        Metrics to plot, one panel each; each must be in every history.
    validation : bool
        Also draw ``val_<metric>`` (dashed) where a history has it.
    title : str, optional
        Title of the figure.
    chance : dict of str to float, optional
        ``{metric: chance level}`` (e.g. :func:`chance_levels`): a grey dotted
        line labelled ``"chance (...)"`` on the panel of each metric it names.

    Returns
    -------
    Figure
        One axis per metric; x is the epoch (1, 2, ...). Each line's label is
        ``"<run> train"`` or ``"<run> val"``; a run's colour is its variant's
        (:func:`variant_color`).
    """
    histories = _check_mapping(histories, "histories", "{run name: History or dict}")
    if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
        raise TypeError(f"metrics must be a non-empty list of metric names, got {metrics!r}")
    data = {str(k): _history_dict(v, f"histories[{k!r}]") for k, v in histories.items()}
    for run, hist in data.items():
        for metric in metrics:
            if metric not in hist:
                raise ValueError(
                    f"metrics: {metric!r} is not in the history of run {run!r} "
                    f"(it has {sorted(hist)})"
                )
    if chance is not None:
        chance = _check_mapping(chance, "chance", "{metric: chance level}")
        levels = {str(k): _check_chance(v, f"chance[{k!r}]") for k, v in chance.items()}
    else:
        levels = {}
    colors = [c for c, _ in _styles(list(data))]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for color, (run, hist) in zip(colors, data.items(), strict=True):
            values = hist[metric]
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, "-", color=color, marker="o", ms=3, label=f"{run} train")
            val_key = f"val_{metric}"
            if validation and val_key in hist:
                vals = hist[val_key]
                ax.plot(np.arange(1, len(vals) + 1), vals, "--", color=color, label=f"{run} val")
        _draw_chance(ax, levels.get(metric))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
        ax.set_title(_METRIC_LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# images
# ----------------------------------------------------------------------------
def image_grid(
    images: Any,
    labels: Any,
    class_names: Sequence[str],
    n: int = 16,
    predictions: Any = None,
    cols: int | None = None,
) -> Figure:
    """The first ``n`` images with their class names as titles.

    Parameters
    ----------
    images : array (N, height, width, 3)
        uint8 in 0..255 or float in 0..1.
    labels : array (N,)
        Integer labels, ``class_names[label]`` is the title.
    class_names : sequence of str
        Name of each class.
    n : int
        How many images (at most ``N``).
    predictions : array (N,), optional
        Predicted labels; a title then reads ``"true / predicted"``, red when wrong.
    cols : int, optional
        Columns of the grid; default ``ceil(sqrt(n))``.

    Returns
    -------
    Figure
        ``n`` image axes (plus hidden ones that fill the last row).
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be an array (N, height, width, 1 or 3), got shape {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"labels must be a 1-D array with one label per image ({len(images)}), "
            f"got shape {labels.shape}"
        )
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise TypeError(f"class_names must be a list of names, got {class_names!r}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    n = min(int(n), len(images))
    if labels[:n].size and (labels[:n].min() < 0 or labels[:n].max() >= len(class_names)):
        raise ValueError(
            f"labels must lie in 0..{len(class_names) - 1} (one per class name), "
            f"got values {labels[:n].min()}..{labels[:n].max()}"
        )
    if predictions is not None:
        predictions = np.asarray(predictions)
        if predictions.shape != labels.shape:
            raise ValueError(
                f"predictions must have the shape of labels {labels.shape}, got {predictions.shape}"
            )
    cols = int(cols) if cols else math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray")
        else:
            ax.imshow(img if img.dtype == np.uint8 else np.clip(img, 0, 1))
        title = class_names[int(labels[i])]
        color = "black"
        if predictions is not None:
            title = f"{title} / {class_names[int(predictions[i])]}"
            color = "black" if predictions[i] == labels[i] else "#C00000"
        ax.set_title(title, fontsize=8, color=color)
    fig.tight_layout()
    return fig


def image_rows(
    rows: Mapping[str, Any],
    titles: Sequence[str] | None = None,
    size: float = 1.3,
) -> Figure:
    """Rows of images, one row per entry, e.g. the same photos under several transforms.

    Parameters
    ----------
    rows : dict of str to array (N, height, width, 3)
        ``{row label: images}``; every row has the same number ``N`` of images
        (their sizes may differ). uint8 in 0..255 or float in 0..1 (clipped).
    titles : sequence of str, optional
        One title per column, shown above the first row.
    size : float
        Width and height of one image, in inches.

    Returns
    -------
    Figure
        ``len(rows) x N`` image axes, drawn without interpolation (each pixel
        a visible square); the first axis of each row carries its label.
    """
    rows = _check_mapping(rows, "rows", "{row label: images (N, height, width, 3)}")
    arrays = {str(k): np.asarray(v) for k, v in rows.items()}
    n = None
    for label, images in arrays.items():
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
            raise ValueError(
                f"rows[{label!r}] must be an array (N >= 1, height, width, 3), "
                f"got shape {images.shape}"
            )
        if n is not None and len(images) != n:
            raise ValueError(
                f"every row must hold the same number of images; rows[{label!r}] has "
                f"{len(images)}, the first row {n}"
            )
        n = len(images) if n is None else n
    assert n is not None
    if titles is not None and (isinstance(titles, str) or len(titles) != n):
        raise ValueError(f"titles must be a list of {n} column titles, got {titles!r}")
    if isinstance(size, bool) or not isinstance(size, numbers.Real) or size <= 0:
        raise ValueError(f"size must be a number > 0 (inches), got {size!r}")
    fig, axes = plt.subplots(
        len(arrays), n, figsize=(size * n + 1.0, size * len(arrays) + 0.3), squeeze=False
    )
    for r, (label, images) in enumerate(arrays.items()):
        for c in range(n):
            ax = axes[r, c]
            img = images[c]
            ax.imshow(img if img.dtype == np.uint8 else np.clip(img, 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
            if r == 0 and titles is not None:
                ax.set_title(str(titles[c]), fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(counts: Any, class_names: Sequence[str], normalize: bool = False) -> Figure:
    """The confusion matrix as an annotated heat map (rows: true class, columns: predicted).

    Parameters
    ----------
    counts : array (num_classes, num_classes)
        ``counts[true, predicted]``, e.g. ``rnpa.evaluate.confusion_matrix(y_true, y_pred, k)``
        or an evaluation's ``.confusion``: this function draws results, it computes none.
    class_names : sequence of str
        Name of each class.
    normalize : bool
        Show each row as fractions of its true class instead of counts.

    Returns
    -------
    Figure
        The image's array holds the counts (or row fractions); each cell is
        annotated with its value.
    """
    if isinstance(class_names, str) or not isinstance(class_names, Sequence) or not class_names:
        raise TypeError(f"class_names must be a non-empty list of names, got {class_names!r}")
    k = len(class_names)
    counts = np.asarray(counts)
    if counts.shape != (k, k) or not np.issubdtype(counts.dtype, np.integer) or counts.min() < 0:
        raise ValueError(
            f"counts must be a ({k}, {k}) array of counts >= 0 (one row and column per class "
            f"name), got {counts.dtype} {counts.shape}"
        )
    values: np.ndarray = counts.astype(float)
    if normalize:
        values = values / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.75 * k
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(values, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {accuracy:.1%})")
    threshold = values.max() / 2 if values.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{values[i, j]:.2f}" if normalize else f"{counts[i, j]:d}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if values[i, j] > threshold else "black",
            )
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# gradient flow and comparisons
# ----------------------------------------------------------------------------
def gradient_flow(
    norms: Mapping[str, Mapping[str, float]],
    log: bool = True,
    title: str = "gradient norm at each unit",
    ylabel: str = "gradient norm",
) -> Figure:
    """Several networks' per-unit gradient norms on one axis, input (left) to output (right).

    Parameters
    ----------
    norms : dict of str to dict of str to float
        ``{network name: {unit label: norm}}``, units in input-to-output order
        (as ``rnpa.analysis.gradient_norms`` returns them). Networks may have
        different numbers of units; x is the unit's position.
    log : bool
        Logarithmic y axis (norms span orders of magnitude in deep plain networks).
    title, ylabel : str
        Axis title and y label.

    Returns
    -------
    Figure
        One line per network; line ``i`` has x = 1..len(units), y = the norms;
        colours by variant (:func:`variant_color`), stage boundaries marked
        (:func:`mark_stages`).
    """
    return _per_unit(norms, "norms", log=log, title=title, ylabel=ylabel, ax=None)


def per_unit(
    values: Mapping[str, Mapping[str, Any]],
    log: bool = False,
    title: str | None = None,
    ylabel: str = "value",
    ax: Any = None,
) -> Figure:
    """A per-unit quantity of several networks, input (left) to output (right), stages marked.

    Parameters
    ----------
    values : dict of str to dict of str to float or list of float
        ``{network name: {unit label: value}}``, units in input-to-output order.
        A list of values (one per seed) draws their mean as the line and a band
        from their minimum to their maximum.
    log : bool
        Logarithmic y axis (every value must then be > 0).
    title : str, optional
        Axis title.
    ylabel : str
        Label of the y axis.
    ax : matplotlib Axes, optional
        Draw into this axis (a panel of a larger figure) instead of a new figure.

    Returns
    -------
    Figure
        The figure of the axis. Line ``i`` has x = 1..len(units) and y the
        values (their means); colours by variant (:func:`variant_color`), stage
        boundaries marked (:func:`mark_stages`) from the longest network's labels.
    """
    return _per_unit(values, "values", log=log, title=title, ylabel=ylabel, ax=ax)


def _per_unit(values: Any, arg: str, log: bool, title: str | None, ylabel: str, ax: Any) -> Figure:
    """:func:`per_unit`, with ``arg`` the argument's name in error messages."""
    values = _check_mapping(values, arg, "{network: {unit: value}}")
    series = {}
    for net, units in values.items():
        units = _check_mapping(units, f"{arg}[{net!r}]", "{unit label: value}")
        rows = []
        for v in units.values():
            runs = v if isinstance(v, Sequence | np.ndarray) and not isinstance(v, str) else [v]
            rows.append(_check_runs(list(np.ravel(runs)), f"{arg}[{net!r}]"))
        if log and any((r <= 0).any() for r in rows):
            raise ValueError(
                f"{arg}[{net!r}] has a value <= 0, which a log axis cannot show; pass log=False"
            )
        series[str(net)] = ([str(u) for u in units], rows)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4))
    else:
        fig = ax.figure
    longest: list[str] = []
    for (color, style), (net, (labels, rows)) in zip(
        _styles(list(series)), series.items(), strict=True
    ):
        x = np.arange(1, len(rows) + 1)
        ax.plot(
            x, [r.mean() for r in rows], linestyle=style, marker="o", ms=3.5, color=color, label=net
        )
        if any(len(r) > 1 for r in rows):
            ax.fill_between(
                x, [r.min() for r in rows], [r.max() for r in rows], color=color, alpha=0.15, lw=0
            )
        if len(labels) > len(longest):
            longest = labels
    if log:
        ax.set_yscale("log")
    if len(longest) <= 24:
        ax.set_xticks(range(1, len(longest) + 1), longest, rotation=60, fontsize=7)
    mark_stages(ax, longest)
    ax.set_xlabel("unit (input → output)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _sorted_depths(per_depth: Mapping, family: Any) -> list[int]:
    """The keys of ``per_depth`` as sorted depths, or raise if one is not an int >= 1."""
    for depth in per_depth:
        if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
            raise ValueError(f"results[{family!r}] keys must be depths (ints >= 1), got {depth!r}")
    return sorted(int(d) for d in per_depth)


def _depth_axes(
    fig: Figure, ax: Any, depths: set[int], ylabel: str, title: str | None, level: float | None
) -> Figure:
    """Finish a plot against depth: chance line, one tick per depth, labels, grid, legend."""
    _draw_chance(ax, level)
    ax.set_xticks(sorted(depths))
    ax.set_xlabel("depth (weighted layers)")
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else f"{ylabel} against depth")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def metric_vs_depth(
    results: Mapping[str, Mapping[int, float]],
    ylabel: str,
    title: str | None = None,
    chance: float | None = None,
) -> Figure:
    """A metric against network depth, one line per family (e.g. plain and residual).

    Parameters
    ----------
    results : dict of str to dict of int to float
        ``{family: {depth: value}}``.
    ylabel : str
        Label of the y axis (the metric).
    title : str, optional
        Axis title; default ``"<ylabel> against depth"``.
    chance : float, optional
        The metric's chance level (:func:`chance_levels`), drawn as a grey dotted line.

    Returns
    -------
    Figure
        One line per family, x the depths in increasing order, colours by
        variant (:func:`variant_color`).
    """
    results = _check_mapping(results, "results", "{family: {depth: value}}")
    if not isinstance(ylabel, str):
        raise TypeError(f"ylabel must be a str, got {ylabel!r}")
    level = _check_chance(chance)
    fig, ax = plt.subplots(figsize=(6, 4))
    all_depths: set[int] = set()
    styles = _styles([str(f) for f in results])
    for (color, style), (family, per_depth) in zip(styles, results.items(), strict=True):
        per_depth = _check_mapping(per_depth, f"results[{family!r}]", "{depth: value}")
        depths = _sorted_depths(per_depth, family)
        values = [_check_number(per_depth[d], f"results[{family!r}]") for d in depths]
        all_depths.update(depths)
        ax.plot(depths, values, marker="o", linestyle=style, color=color, label=str(family))
    return _depth_axes(fig, ax, all_depths, ylabel, title, level)


def bar_comparison(
    values: Mapping[str, float],
    ylabel: str,
    title: str | None = None,
    fmt: str = "{:,.0f}",
    log: bool = False,
) -> Figure:
    """One bar per item, each annotated with its value.

    Parameters
    ----------
    values : dict of str to float
        ``{item: value}``, drawn left to right in the dict's order.
    ylabel : str
        Label of the y axis.
    title : str, optional
        Axis title.
    fmt : str
        Format of the annotation (``"{:,.0f}"``: 96,133).
    log : bool
        Logarithmic y axis, for values that span orders of magnitude (every
        value must then be > 0).

    Returns
    -------
    Figure
        Bars with heights equal to the values, x tick labels the keys, colours
        by variant (:func:`variant_color`; bars of one variant after the first
        are hatched).
    """
    values = _check_mapping(values, "values", "{item: number}")
    heights = [_check_number(v, f"values[{k!r}]") for k, v in values.items()]
    if not isinstance(ylabel, str):
        raise TypeError(f"ylabel must be a str, got {ylabel!r}")
    if not isinstance(log, bool):
        raise TypeError(f"log must be True or False, got {log!r}")
    if log and any(h <= 0 for h in heights):
        raise ValueError(f"values must all be > 0 on a log axis (log=True), got {heights}")
    names = [str(k) for k in values]
    styles = _styles(names)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(names) + 1.5), 3.8))
    bars = ax.bar(names, heights, color=[c for c, _ in styles])
    for bar, (_, style) in zip(bars, styles, strict=True):
        if style != "-":
            bar.set_hatch("//")
            bar.set_edgecolor("white")
    if log:
        ax.set_yscale("log")
    for bar, h in zip(bars, heights, strict=True):
        ax.annotate(
            fmt.format(h),
            (bar.get_x() + bar.get_width() / 2, h),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.margins(y=0.15)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# repeated runs: mean and spread over seeds (lesson 6)
# ----------------------------------------------------------------------------
def _check_runs(values: Any, name: str) -> np.ndarray:
    """A non-empty sequence of finite numbers (one per run) as a float array."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a list of numbers (one per run), got {values!r}")
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one number (one per run), got an empty list")
    out = np.array([_check_number(v, name) for v in values], dtype=float)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must hold finite numbers, got {list(values)!r}")
    return out


def _spread(values: np.ndarray) -> float:
    """Sample standard deviation (``ddof=1``); 0 for a single run."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def mean_bars(
    values: Mapping[str, Sequence[float]],
    ylabel: str,
    title: str | None = None,
    fmt: str = "{:.3f}",
    chance: float | None = None,
) -> Figure:
    """One bar per item at the mean of its runs, error bars of one std, the runs as dots.

    Parameters
    ----------
    values : dict of str to list of float
        ``{item: [value of each run]}`` (e.g. one value per seed), drawn left
        to right in the dict's order.
    ylabel : str
        Label of the y axis.
    title : str, optional
        Axis title.
    fmt : str
        Format of the mean written above each bar.
    chance : float, optional
        The metric's chance level (:func:`chance_levels`), a grey dotted line.

    Returns
    -------
    Figure
        Bar ``i`` has height ``mean(values[i])``; its error bar spans plus and
        minus the sample standard deviation (``ddof=1``, none for one run);
        each run is a black dot at its value.
    """
    values = _check_mapping(values, "values", "{item: [value of each run]}")
    if not isinstance(ylabel, str):
        raise TypeError(f"ylabel must be a str, got {ylabel!r}")
    runs = {str(k): _check_runs(v, f"values[{k!r}]") for k, v in values.items()}
    level = _check_chance(chance)
    names = list(runs)
    means = [float(r.mean()) for r in runs.values()]
    spreads = [_spread(r) for r in runs.values()]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(names) + 1.5), 3.8))
    x = np.arange(len(names))
    bars = ax.bar(
        x,
        means,
        yerr=spreads,
        capsize=5,
        alpha=0.85,
        color=[c for c, _ in _styles(names)],
        error_kw={"lw": 1.2},
    )
    _draw_chance(ax, level)
    for i, r in enumerate(runs.values()):
        jitter = np.linspace(-0.12, 0.12, len(r)) if len(r) > 1 else np.zeros(1)
        ax.plot(x[i] + jitter, r, "o", color="black", ms=3.5, zorder=3)
    for bar, m, s in zip(bars, means, spreads, strict=True):
        ax.annotate(
            fmt.format(m),
            (bar.get_x() + bar.get_width() / 2, m + s),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_xticks(x, names)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.margins(y=0.15)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def mean_curves(
    runs: Mapping[str, Sequence[Any]],
    metric: str = "loss",
    ylabel: str | None = None,
    title: str | None = None,
    chance: float | None = None,
) -> Figure:
    """Per-epoch mean of a metric over repeated runs, one line per group, the band from min to max.

    Parameters
    ----------
    runs : dict of str to list of History or dict
        ``{group: [history of each run]}``; every history of a group must
        have ``metric`` for the same number of epochs.
    metric : str
        The history key to draw (``"loss"``, ``"val_accuracy"``, ...).
    ylabel, title : str, optional
        Axis label (default: the metric) and title.
    chance : float, optional
        The metric's chance level (:func:`chance_levels`), a grey dotted line.

    Returns
    -------
    Figure
        Line ``"<group> (n runs)"`` has x = 1..epochs and y = the mean over the
        runs at each epoch; a shaded band spans the runs' minimum to maximum.
    """
    runs = _check_mapping(runs, "runs", "{group: [history of each run]}")
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a history key (a str), got {metric!r}")
    series = {}
    for group, group_runs in runs.items():
        if isinstance(group_runs, (str, bytes, Mapping)) or not isinstance(group_runs, Sequence):
            raise TypeError(
                f"runs[{group!r}] must be a list of histories (one per run), "
                f"got {type(group_runs).__name__}"
            )
        if not group_runs:
            raise ValueError(f"runs[{group!r}] must hold at least one history")
        curves = []
        for i, h in enumerate(group_runs):
            hist = _history_dict(h, f"runs[{group!r}][{i}]")
            if metric not in hist:
                raise ValueError(
                    f"metric {metric!r} is not in runs[{group!r}][{i}] (it has {sorted(hist)})"
                )
            curves.append(hist[metric])
        if len({len(c) for c in curves}) != 1:
            raise ValueError(
                f"runs[{group!r}]: every run must have the same number of epochs, "
                f"got {[len(c) for c in curves]}"
            )
        series[str(group)] = np.array(curves, dtype=float)
    level = _check_chance(chance)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for (color, style), (group, curves) in zip(_styles(list(series)), series.items(), strict=True):
        epochs = np.arange(1, curves.shape[1] + 1)
        n = curves.shape[0]
        ax.plot(
            epochs,
            curves.mean(axis=0),
            marker="o",
            linestyle=style,
            ms=3,
            color=color,
            label=f"{group} ({n} run{'s' if n != 1 else ''})",
        )
        if n > 1:
            ax.fill_between(
                epochs, curves.min(axis=0), curves.max(axis=0), color=color, alpha=0.15, lw=0
            )
    _draw_chance(ax, level)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel if ylabel is not None else _METRIC_LABELS.get(metric, metric))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def mean_vs_depth(
    results: Mapping[str, Mapping[int, Sequence[float]]],
    ylabel: str,
    title: str | None = None,
    chance: float | None = None,
) -> Figure:
    """A metric against depth, one line per family at the mean over runs, error bars of one std.

    Parameters
    ----------
    results : dict of str to dict of int to list of float
        ``{family: {depth: [value of each run]}}``.
    ylabel : str
        Label of the y axis (the metric).
    title : str, optional
        Axis title; default ``"<ylabel> against depth"``.
    chance : float, optional
        The metric's chance level (:func:`chance_levels`), a grey dotted line.

    Returns
    -------
    Figure
        One line per family through the means at increasing depths, error bars
        of plus and minus the sample standard deviation (``ddof=1``), and each
        run as a small dot.
    """
    results = _check_mapping(results, "results", "{family: {depth: [value of each run]}}")
    if not isinstance(ylabel, str):
        raise TypeError(f"ylabel must be a str, got {ylabel!r}")
    level = _check_chance(chance)
    fig, ax = plt.subplots(figsize=(6, 4))
    all_depths: set[int] = set()
    colors = [c for c, _ in _styles([str(f) for f in results])]
    for color, (family, per_depth) in zip(colors, results.items(), strict=True):
        per_depth = _check_mapping(per_depth, f"results[{family!r}]", "{depth: [values]}")
        depths = _sorted_depths(per_depth, family)
        runs = [_check_runs(per_depth[d], f"results[{family!r}][{d}]") for d in depths]
        all_depths.update(depths)
        ax.errorbar(
            np.array(depths, dtype=float),
            np.array([r.mean() for r in runs]),
            yerr=np.array([_spread(r) for r in runs]),
            fmt="-o",
            capsize=4,
            color=color,
            label=str(family),
        )
        for d, r in zip(depths, runs, strict=True):
            ax.plot([d] * len(r), r, ".", color=color, alpha=0.5)
    return _depth_axes(fig, ax, all_depths, ylabel, title, level)


__all__ = [
    "PALETTE",
    "VARIANT_ALIASES",
    "VARIANT_COLORS",
    "bar_comparison",
    "chance_levels",
    "confusion_matrix",
    "gradient_flow",
    "image_grid",
    "image_rows",
    "learning_curves",
    "mark_stages",
    "mean_bars",
    "mean_curves",
    "mean_vs_depth",
    "metric_vs_depth",
    "per_unit",
    "variant_color",
]
