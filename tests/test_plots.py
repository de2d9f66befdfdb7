"""Tests of rnpa.plots: the figures hold the data they were given, bad input is refused."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rnpa import evaluate, plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class FakeHistory:
    """Stands in for keras.callbacks.History: only ``.history`` is used."""

    def __init__(self, history):
        self.history = history


def _lines_by_label(ax):
    """The labelled lines of an axis (matplotlib names unlabelled ones ``_child<n>``)."""
    return {
        line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")
    }


# ----------------------------------------------------------------------------
# learning_curves
# ----------------------------------------------------------------------------
def test_learning_curves_draws_each_run_and_metric():
    plain = FakeHistory(
        {
            "loss": [2.0, 1.5, 1.2],
            "accuracy": [0.2, 0.4, 0.5],
            "val_loss": [2.1, 1.7, 1.6],
            "val_accuracy": [0.2, 0.3, 0.4],
        }
    )
    resid = {"loss": [1.8, 1.0, 0.7], "accuracy": [0.3, 0.6, 0.7]}
    fig = plots.learning_curves({"plain": plain, "residual": resid})
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes[:2]
    assert loss_ax.get_title() == "loss" and acc_ax.get_title() == "accuracy"
    lines = _lines_by_label(loss_ax)
    assert set(lines) == {"plain train", "plain val", "residual train"}
    np.testing.assert_allclose(lines["plain train"].get_ydata(), [2.0, 1.5, 1.2])
    np.testing.assert_allclose(lines["plain val"].get_ydata(), [2.1, 1.7, 1.6])
    np.testing.assert_allclose(lines["residual train"].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(
        _lines_by_label(acc_ax)["residual train"].get_ydata(), [0.3, 0.6, 0.7]
    )
    assert lines["plain val"].get_linestyle() == "--"


def test_learning_curves_without_validation_and_one_metric():
    h = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.9]}
    fig = plots.learning_curves({"a": h}, metrics=["loss"], validation=False, title="T")
    assert len(fig.axes) == 1
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["a train"]
    assert fig._suptitle.get_text() == "T"


def test_learning_curves_rejects_bad_input():
    with pytest.raises(TypeError, match="histories"):
        plots.learning_curves([{"loss": [1.0]}])
    with pytest.raises(ValueError, match="histories"):
        plots.learning_curves({})
    with pytest.raises(ValueError, match="metrics.*'accuracy'.*'a'"):
        plots.learning_curves({"a": {"loss": [1.0]}})
    with pytest.raises(TypeError, match="metrics"):
        plots.learning_curves({"a": {"loss": [1.0]}}, metrics="loss")
    with pytest.raises(TypeError, match=r"histories\['a'\]"):
        plots.learning_curves({"a": 3})


# ----------------------------------------------------------------------------
# image_grid
# ----------------------------------------------------------------------------
def test_image_grid_shows_n_images_with_class_names():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 8, 8, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    fig = plots.image_grid(images, labels, ["a", "b", "c"], n=6)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == 6
    assert [ax.get_title() for ax in shown] == ["a", "b", "c", "a", "b", "c"]
    np.testing.assert_array_equal(shown[1].get_images()[0].get_array(), images[1])


def test_image_grid_marks_wrong_predictions():
    images = np.zeros((2, 4, 4, 3), dtype=np.float32)
    fig = plots.image_grid(images, [0, 1], ["x", "y"], n=2, predictions=[0, 0])
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert shown[0].get_title() == "x / x"
    assert shown[1].get_title() == "y / x"
    assert matplotlib.colors.to_hex(shown[1].title.get_color()) == "#c00000"


def test_image_grid_rejects_bad_input():
    images = np.zeros((3, 4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="images"):
        plots.image_grid(np.zeros((3, 4, 4)), [0, 1, 2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="labels"):
        plots.image_grid(images, [0, 1], ["a", "b", "c"])
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        plots.image_grid(images, [0, 1, 2], ["a", "b"])
    with pytest.raises(ValueError, match="n must"):
        plots.image_grid(images, [0, 1, 2], ["a", "b", "c"], n=0)
    with pytest.raises(ValueError, match="predictions"):
        plots.image_grid(images, [0, 1, 2], ["a", "b", "c"], predictions=[0])


# ----------------------------------------------------------------------------
# confusion matrix
# ----------------------------------------------------------------------------
def test_confusion_matrix_counts_match_an_independent_count():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 4, size=200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 4, size=200))
    expected = np.zeros((4, 4), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        expected[t, p] += 1
    np.testing.assert_array_equal(evaluate.confusion_matrix(y_true, y_pred, 4), expected)
    fig = plots.confusion_matrix(expected, ["a", "b", "c", "d"])
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), expected)
    texts = [t.get_text() for t in ax.texts]
    assert texts == [str(v) for v in expected.ravel()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    acc = np.mean(y_true == y_pred)
    assert f"{acc:.1%}" in ax.get_title()


def test_confusion_matrix_normalizes_rows():
    fig = plots.confusion_matrix(np.array([[1, 1], [0, 2]]), ["p", "q"], normalize=True)
    np.testing.assert_allclose(fig.axes[0].get_images()[0].get_array(), [[0.5, 0.5], [0, 1]])


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match=r"counts must be a \(2, 2\) array of counts"):
        plots.confusion_matrix(np.ones((2, 3), dtype=int), ["a", "b"])
    with pytest.raises(ValueError, match="counts must be"):
        plots.confusion_matrix(np.array([[0.5, 0.5], [0, 1]]), ["a", "b"])  # fractions: not counts
    with pytest.raises(ValueError, match="counts must be"):
        plots.confusion_matrix(np.array([[1, -1], [0, 1]]), ["a", "b"])
    with pytest.raises(TypeError, match="class_names"):
        plots.confusion_matrix(np.eye(2, dtype=int), "ab")


# ----------------------------------------------------------------------------
# gradient_flow, metric_vs_depth, bar_comparison
# ----------------------------------------------------------------------------
def test_gradient_flow_one_line_per_network():
    norms = {
        "original": {"1_1": 0.5, "1_2": 0.25, "2_1": 0.125},
        "pre-activation": {"1_1": 1.0, "1_2": 1.0, "2_1": 0.9, "2_2": 0.8},
    }
    fig = plots.gradient_flow(norms)
    ax = fig.axes[0]
    lines = _lines_by_label(ax)
    assert set(lines) == {"original", "pre-activation"}
    np.testing.assert_allclose(lines["original"].get_ydata(), [0.5, 0.25, 0.125])
    np.testing.assert_allclose(lines["pre-activation"].get_xdata(), [1, 2, 3, 4])
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1_1", "1_2", "2_1", "2_2"]
    assert plots.gradient_flow(norms, log=False).axes[0].get_yscale() == "linear"


def test_gradient_flow_rejects_bad_input():
    with pytest.raises(TypeError, match="norms"):
        plots.gradient_flow([1.0, 2.0])
    with pytest.raises(ValueError, match=r"norms\['a'\].*log"):
        plots.gradient_flow({"a": {"u1": 0.0}})
    with pytest.raises(TypeError, match=r"norms\['a'\]"):
        plots.gradient_flow({"a": {"u1": "big"}})
    with pytest.raises(ValueError, match=r"norms\['a'\]"):
        plots.gradient_flow({"a": {}})


def test_metric_vs_depth_sorts_depths():
    results = {"plain": {20: 0.9, 8: 0.6, 32: 1.1}, "residual": {8: 0.6, 20: 0.5, 32: 0.45}}
    fig = plots.metric_vs_depth(results, ylabel="training loss")
    ax = fig.axes[0]
    lines = _lines_by_label(ax)
    np.testing.assert_allclose(lines["plain"].get_xdata(), [8, 20, 32])
    np.testing.assert_allclose(lines["plain"].get_ydata(), [0.6, 0.9, 1.1])
    np.testing.assert_allclose(lines["residual"].get_ydata(), [0.6, 0.5, 0.45])
    assert ax.get_ylabel() == "training loss"
    assert ax.get_title() == "training loss against depth"


def test_metric_vs_depth_rejects_bad_input():
    with pytest.raises(ValueError, match="depths"):
        plots.metric_vs_depth({"a": {"deep": 1.0}}, ylabel="loss")
    with pytest.raises(TypeError, match="ylabel"):
        plots.metric_vs_depth({"a": {8: 1.0}}, ylabel=None)
    with pytest.raises(ValueError, match="results"):
        plots.metric_vs_depth({}, ylabel="loss")


def test_bar_comparison_heights_and_annotations():
    fig = plots.bar_comparison({"basic": 73856, "bottleneck": 16384}, ylabel="parameters")
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [73856, 16384]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["basic", "bottleneck"]
    assert [t.get_text() for t in ax.texts] == ["73,856", "16,384"]
    assert ax.get_ylabel() == "parameters"


def test_bar_comparison_rejects_bad_input():
    with pytest.raises(TypeError, match=r"values\['a'\]"):
        plots.bar_comparison({"a": "x"}, ylabel="y")
    with pytest.raises(TypeError, match="values"):
        plots.bar_comparison([1, 2], ylabel="y")


# ----------------------------------------------------------------------------
# repeated runs: mean_bars, mean_curves, mean_vs_depth
# ----------------------------------------------------------------------------
def _error_segments(collection):
    """(x, low, high) of each vertical error bar in a LineCollection."""
    return [
        (seg[0][0], min(seg[0][1], seg[1][1]), max(seg[0][1], seg[1][1]))
        for seg in collection.get_segments()
    ]


def test_mean_bars_heights_error_bars_and_dots_match_the_runs():
    import statistics

    runs = {"post": [0.50, 0.56, 0.53], "pre": [0.60, 0.58], "one": [0.40]}
    fig = plots.mean_bars(runs, ylabel="test accuracy", title="T")
    ax = fig.axes[0]
    bars = ax.patches
    assert [round(b.get_height(), 12) for b in bars] == [
        round(statistics.mean(v), 12) for v in runs.values()
    ]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["post", "pre", "one"]
    (container,) = [c for c in ax.containers if hasattr(c, "has_yerr")]
    segments = _error_segments(container.lines[2][0])
    for (_x, low, high), values in zip(segments, [runs["post"], runs["pre"]], strict=False):
        sd = statistics.stdev(values)
        assert high - low == pytest.approx(2 * sd)
        assert (low + high) / 2 == pytest.approx(statistics.mean(values))
    # the single run has a zero-length error bar
    assert segments[2][2] - segments[2][1] == pytest.approx(0.0)
    dots = np.concatenate([line.get_ydata() for line in ax.get_lines() if line.get_marker() == "o"])
    np.testing.assert_allclose(sorted(dots), sorted(sum(runs.values(), [])))
    assert ax.get_title() == "T" and ax.get_ylabel() == "test accuracy"
    assert [t.get_text() for t in ax.texts] == ["0.530", "0.590", "0.400"]


def test_mean_bars_rejects_bad_input():
    with pytest.raises(TypeError, match="values"):
        plots.mean_bars([0.5, 0.6], ylabel="y")
    with pytest.raises(ValueError, match=r"values\['a'\].*at least one"):
        plots.mean_bars({"a": []}, ylabel="y")
    with pytest.raises(TypeError, match=r"values\['a'\]"):
        plots.mean_bars({"a": 0.5}, ylabel="y")
    with pytest.raises(ValueError, match="finite"):
        plots.mean_bars({"a": [0.5, float("nan")]}, ylabel="y")
    with pytest.raises(TypeError, match="ylabel"):
        plots.mean_bars({"a": [0.5]}, ylabel=3)


def test_mean_curves_draws_the_mean_over_runs_and_a_min_max_band():
    a = [{"loss": [2.0, 1.0, 0.5]}, FakeHistory({"loss": [1.0, 0.8, 0.3]})]
    b = [{"loss": [1.5, 1.5, 1.5], "accuracy": [0.1, 0.2, 0.3]}]
    fig = plots.mean_curves({"post": a, "pre": b}, metric="loss", title="losses")
    ax = fig.axes[0]
    lines = _lines_by_label(ax)
    assert set(lines) == {"post (2 runs)", "pre (1 run)"}
    np.testing.assert_allclose(lines["post (2 runs)"].get_ydata(), [1.5, 0.9, 0.4])
    np.testing.assert_allclose(lines["post (2 runs)"].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(lines["pre (1 run)"].get_ydata(), [1.5, 1.5, 1.5])
    (band,) = ax.collections  # only the group with two runs has a band
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(0.3) and ys.max() == pytest.approx(2.0)
    assert ax.get_title() == "losses" and ax.get_ylabel() == "loss"


def test_mean_curves_rejects_bad_input():
    with pytest.raises(ValueError, match=r"'val_loss' is not in runs\['a'\]\[0\]"):
        plots.mean_curves({"a": [{"loss": [1.0]}]}, metric="val_loss")
    with pytest.raises(ValueError, match=r"runs\['a'\].*same number of epochs"):
        plots.mean_curves({"a": [{"loss": [1.0, 0.5]}, {"loss": [1.0]}]})
    with pytest.raises(TypeError, match=r"runs\['a'\] must be a list of histories"):
        plots.mean_curves({"a": {"loss": [1.0]}})
    with pytest.raises(ValueError, match=r"runs\['a'\] must hold at least one"):
        plots.mean_curves({"a": []})
    with pytest.raises(ValueError, match="runs"):
        plots.mean_curves({})


def test_mean_vs_depth_sorts_depths_and_draws_mean_and_spread():
    import statistics

    results = {"plain": {20: [0.3, 0.5], 8: [0.6, 0.7, 0.8]}, "residual": {8: [0.7], 20: [0.6]}}
    fig = plots.mean_vs_depth(results, ylabel="accuracy")
    ax = fig.axes[0]
    lines = {c.get_label(): c.lines[0] for c in ax.containers}  # errorbar: the data line
    np.testing.assert_allclose(lines["plain"].get_xdata(), [8, 20])
    np.testing.assert_allclose(lines["plain"].get_ydata(), [0.7, 0.4])
    np.testing.assert_allclose(lines["residual"].get_ydata(), [0.7, 0.6])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["plain", "residual"]
    plain_bars = [c for c in ax.containers if c.get_label() == "plain"][0]
    segments = sorted(_error_segments(plain_bars.lines[2][0]))
    assert segments[0][2] - segments[0][1] == pytest.approx(2 * statistics.stdev([0.6, 0.7, 0.8]))
    assert segments[1][2] - segments[1][1] == pytest.approx(2 * statistics.stdev([0.3, 0.5]))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "20"]
    assert ax.get_title() == "accuracy against depth"


def test_mean_vs_depth_rejects_bad_input():
    with pytest.raises(ValueError, match="depths"):
        plots.mean_vs_depth({"a": {"x": [1.0]}}, ylabel="y")
    with pytest.raises(ValueError, match=r"results\['a'\]\[8\]"):
        plots.mean_vs_depth({"a": {8: []}}, ylabel="y")
    with pytest.raises(TypeError, match="ylabel"):
        plots.mean_vs_depth({"a": {8: [1.0]}}, ylabel=None)


# ----------------------------------------------------------------------------
# image_rows
# ----------------------------------------------------------------------------
def test_image_rows_draws_each_row_with_its_images_and_labels():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    small = rng.random((3, 4, 4, 3))  # floats, another size
    fig = plots.image_rows({"8x8": big, "4x4": small}, titles=["x", "y", "z"])
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert len(axes) == 6
    np.testing.assert_array_equal(axes[1].get_images()[0].get_array(), big[1])
    np.testing.assert_allclose(axes[5].get_images()[0].get_array(), small[2])
    assert axes[0].get_ylabel() == "8x8" and axes[3].get_ylabel() == "4x4"
    assert [ax.get_title() for ax in axes[:3]] == ["x", "y", "z"]
    assert axes[3].get_title() == ""
    assert axes[0].get_images()[0].get_interpolation() == "nearest"


def test_image_rows_rejects_bad_input():
    img = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(TypeError, match="rows must be a dict"):
        plots.image_rows([img])
    with pytest.raises(ValueError, match="rows must not be empty"):
        plots.image_rows({})
    with pytest.raises(ValueError, match=r"rows\['gray'\] must be an array .*\(2, 8, 8\)"):
        plots.image_rows({"gray": img[..., 0]})
    with pytest.raises(ValueError, match=r"same number of images; rows\['b'\] has 1, .* 2"):
        plots.image_rows({"a": img, "b": img[:1]})
    with pytest.raises(ValueError, match="titles must be a list of 2 column titles"):
        plots.image_rows({"a": img}, titles=["one"])
    with pytest.raises(ValueError, match="size must be a number > 0"):
        plots.image_rows({"a": img}, size=0)


# ----------------------------------------------------------------------------
# the conventions every lesson shares: variant colours, chance lines, stages, log axes
# ----------------------------------------------------------------------------
def test_variant_color_finds_the_variant_in_run_names():
    colors = plots.VARIANT_COLORS
    assert len(set(colors.values())) == len(colors)  # one colour per variant
    cases = {
        "original-44": "original",
        "residual-44": "original",  # lesson 1's residual network is the original ResNet
        "original, initialisation": "original",
        "pre-activation, after 10 epochs": "pre-activation",
        "pre-activation (110 layers)": "pre-activation",
        "pre-20": "pre-activation",  # lesson 6's order names
        "post-20": "original",
        "relu_preact-20": "ReLU-only pre-activation",
        "(d) ReLU-only pre-activation": "ReLU-only pre-activation",
        "(b) BN after addition": "BN after addition",
        "bn_after_add-20": "BN after addition",
        "(c) ReLU before addition": "ReLU before addition",
        "(e) full pre-activation": "pre-activation",
        "plain-20": "plain",
        "plain (110 layers)": "plain",
        "bottleneck 128-32-128": "bottleneck",
        "basic, 32 wide": "basic",
    }
    for name, variant in cases.items():
        assert plots.variant_color(name) == colors[variant], name
    assert plots.variant_color("ResNet-50") is None
    assert plots.variant_color("preview") is None  # whole words only: not "pre"
    with pytest.raises(TypeError, match="name"):
        plots.variant_color(3)


def test_the_same_variant_has_the_same_colour_in_every_plot():
    orange = plots.VARIANT_COLORS["original"]
    blue = plots.VARIANT_COLORS["pre-activation"]
    h = {"loss": [1.0, 0.5], "accuracy": [0.3, 0.6]}
    # the order of the runs does not change the colours
    lc = _lines_by_label(plots.learning_curves({"pre-activation-44": h, "original-44": h}).axes[0])
    assert lc["original-44 train"].get_color() == orange
    assert lc["pre-activation-44 train"].get_color() == blue
    md = _lines_by_label(
        plots.metric_vs_depth({"plain": {8: 1.0}, "residual": {8: 0.5}}, ylabel="loss").axes[0]
    )
    assert md["residual"].get_color() == orange
    assert md["plain"].get_color() == plots.VARIANT_COLORS["plain"]
    gf = _lines_by_label(
        plots.gradient_flow(
            {"original (110 layers)": {"1_1": 1.0}, "pre-activation (110 layers)": {"1_1": 2.0}}
        ).axes[0]
    )
    assert gf["original (110 layers)"].get_color() == orange
    assert gf["pre-activation (110 layers)"].get_color() == blue
    bars = plots.bar_comparison({"original": 1.0, "pre-activation": 2.0}, ylabel="y").axes[0]
    assert [matplotlib.colors.to_hex(p.get_facecolor()).upper() for p in bars.patches] == [
        orange.upper(),
        blue.upper(),
    ]


def test_two_runs_of_one_variant_differ_in_line_style_and_others_get_free_colours():
    norms = {
        "original, initialisation": {"1_1": 1.0},
        "original, trained": {"1_1": 2.0},
        "something else": {"1_1": 3.0},
    }
    lines = _lines_by_label(plots.gradient_flow(norms).axes[0])
    a, b = lines["original, initialisation"], lines["original, trained"]
    assert a.get_color() == b.get_color() == plots.VARIANT_COLORS["original"]
    assert a.get_linestyle() != b.get_linestyle()
    assert lines["something else"].get_color() not in plots.VARIANT_COLORS.values()


def test_chance_levels_are_those_of_uniform_guessing():
    levels = plots.chance_levels(5)
    # cross-entropy of the uniform prediction, computed independently
    p = np.full(5, 0.2)
    assert levels["loss"] == pytest.approx(-np.log(p[0]))
    assert levels["loss"] == pytest.approx(1.6094, abs=1e-4)
    assert levels["accuracy"] == pytest.approx(0.2)
    assert levels["val_loss"] == levels["loss"]
    with pytest.raises(ValueError, match="num_classes"):
        plots.chance_levels(1)


def _chance_lines(ax):
    return [line for line in ax.get_lines() if line.get_label().startswith("chance")]


def test_chance_lines_are_drawn_where_asked():
    h = {"loss": [1.8, 1.2], "accuracy": [0.25, 0.5]}
    fig = plots.learning_curves({"a": h}, chance={"loss": np.log(5)})
    loss_ax, acc_ax = fig.axes[:2]
    (line,) = _chance_lines(loss_ax)
    np.testing.assert_allclose(line.get_ydata(), [np.log(5)] * 2)
    assert _chance_lines(acc_ax) == []  # not asked for the accuracy
    fig = plots.learning_curves({"a": h}, chance=plots.chance_levels(5))
    np.testing.assert_allclose(_chance_lines(fig.axes[1])[0].get_ydata(), [0.2, 0.2])
    ax = plots.metric_vs_depth({"plain": {8: 1.0, 20: 1.5}}, ylabel="loss", chance=1.61).axes[0]
    np.testing.assert_allclose(_chance_lines(ax)[0].get_ydata(), [1.61, 1.61])
    assert _chance_lines(plots.metric_vs_depth({"p": {8: 1.0}}, ylabel="loss").axes[0]) == []
    ax = plots.mean_curves({"g": [h, h]}, metric="accuracy", chance=0.2).axes[0]
    np.testing.assert_allclose(_chance_lines(ax)[0].get_ydata(), [0.2, 0.2])
    with pytest.raises(TypeError, match="chance"):
        plots.metric_vs_depth({"p": {8: 1.0}}, ylabel="loss", chance="low")


def test_stage_boundaries_are_marked_between_stages():
    norms = {"pre-activation": {"1_1": 1.0, "1_2": 1.0, "2_1": 0.9, "2_2": 0.8, "3_1": 0.5}}
    ax = plots.gradient_flow(norms).axes[0]
    vertical = [
        line
        for line in ax.get_lines()
        if line.get_label().startswith("_") and np.ptp(line.get_xdata()) == 0
    ]
    assert sorted(float(line.get_xdata()[0]) for line in vertical) == [2.5, 4.5]
    assert {t.get_text() for t in ax.texts} == {"stage 2", "stage 3"}
    # the 2017 network's units "1".."5" have no stages: nothing is marked
    fig, ax = plt.subplots()
    assert plots.mark_stages(ax, ["1", "2", "3"]) == []


def test_per_unit_draws_the_mean_over_seeds_and_a_band():
    values = {"original": {"1_1": [0.1, 0.3], "1_2": [0.2, 0.2], "2_1": [0.0, 0.4]}}
    fig, axes = plt.subplots(1, 2)
    out = plots.per_unit(values, ylabel="fraction zeroed", ax=axes[1])
    assert out is fig and not axes[0].get_lines()
    (line,) = _lines_by_label(axes[1]).values()
    np.testing.assert_allclose(line.get_ydata(), [0.2, 0.2, 0.2])
    (band,) = axes[1].collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(0.0) and ys.max() == pytest.approx(0.4)
    assert axes[1].get_ylabel() == "fraction zeroed"
    with pytest.raises(ValueError, match="log"):
        plots.per_unit(values, log=True)
    with pytest.raises(TypeError, match=r"values\['original'\]"):
        plots.per_unit({"original": {"1_1": "x"}})


def test_bar_comparison_log_scale():
    ax = plots.bar_comparison({"small": 0.1, "large": 10.0}, ylabel="M", log=True).axes[0]
    assert ax.get_yscale() == "log"
    assert [p.get_height() for p in ax.patches] == [0.1, 10.0]
    assert plots.bar_comparison({"a": 1.0}, ylabel="M").axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="log"):
        plots.bar_comparison({"a": 0.0}, ylabel="M", log=True)


def test_plots_import_nothing_of_rnpa():
    """plots draws results it is given: it must not compute them with rnpa (issue #14)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(plots))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not {m for m in imported if m == "rnpa" or m.startswith("rnpa.")}, imported
