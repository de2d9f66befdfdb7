"""Tests of rnpa.diagrams: what each figure says, the files, the command line."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

import rnpa
from rnpa import diagrams
from rnpa.cli import main

REPO_IMAGES = Path(__file__).resolve().parents[1] / "images"
NAMES = (
    "unit_comparison",
    "bottleneck_vs_basic",
    "network",
    "gradient_highway",
    "plain_vs_residual",
)
FILES = sorted(f"{name}.{ext}" for name in NAMES for ext in ("png", "svg"))


def texts(fig: Figure) -> list[str]:
    """Every string drawn in ``fig``: titles, texts in the axes, figure texts."""
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out.append(ax.get_title())
        out += [t.get_text() for t in ax.texts]
    return out


def positioned(ax) -> list[tuple[str, float, float]]:
    """(text, x, y) of every text in ``ax``, in data coordinates."""
    return [(t.get_text(), *t.get_position()) for t in ax.texts]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh ``save_all`` into a temporary folder, shared by the file tests."""
    out = tmp_path_factory.mktemp("diagrams")
    diagrams.save_all(out)
    return out


# ---------------------------------------------------------------------------
# the figures
# ---------------------------------------------------------------------------
def test_registry_names_the_five_diagrams():
    assert tuple(diagrams.DIAGRAMS) == NAMES
    assert diagrams.DIAGRAMS["network"] is diagrams.network_diagram
    assert diagrams.DIAGRAMS["plain_vs_residual"] is diagrams.plain_vs_residual


@pytest.mark.parametrize("name", NAMES)
def test_each_diagram_is_a_figure_not_shown(name):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = diagrams.DIAGRAMS[name]()
    assert isinstance(fig, Figure)
    assert all(ax.get_title() for ax in fig.axes), "every panel has a title"
    # made without pyplot: nothing to pop up or to pile up in a notebook
    assert plt.get_fignums() == before
    # shows itself in Jupyter even without the inline backend
    assert fig._repr_png_().startswith(b"\x89PNG")


def test_diagrams_ignore_the_callers_style():
    with matplotlib.rc_context({"font.size": 30, "axes.titlesize": 40}):
        fig = diagrams.unit_comparison()
    assert fig.axes[0].title.get_fontsize() == diagrams._RC["axes.titlesize"]


def _branch(ax) -> tuple[list[str], float, list[float]]:
    """Layer labels of the unit's boxes above the addition, top to bottom; the
    addition's height; the heights of the ReLU boxes."""
    items = positioned(ax)
    (add_y,) = [y for text, _, y in items if text == "+"]
    boxes = sorted(
        ((y, text) for text, _, y in items if text in ("conv", "BN", "ReLU") and y > add_y),
        reverse=True,
    )
    relus = [y for text, _, y in items if text == "ReLU"]
    return [text for _, text in boxes], add_y, relus


def _keras_sequence(build) -> list[str]:
    """conv / BN / ReLU labels of a unit built by rnpa.blocks, in order."""
    x = keras.Input((8, 8, 4))
    model = keras.Model(x, build(x, [4, 4], "u"))
    labels = {"Conv2D": "conv", "BatchNormalization": "BN", "Activation": "ReLU"}
    kinds = [type(layer).__name__ for layer in model.layers]
    return [labels[k] for k in kinds if k in labels]


def test_unit_comparison_removes_the_relu_after_the_addition():
    fig = diagrams.unit_comparison()
    original, preact = fig.axes
    assert original.get_title() == "Original unit (He et al. 2015)"
    assert preact.get_title() == "Full pre-activation unit (He et al. 2016)"

    branch, add_y, relus = _branch(original)
    assert branch == ["conv", "BN", "ReLU", "conv", "BN"]
    assert any(y < add_y for y in relus), "the original has a ReLU after the addition"
    # the same order as rnpa's post-activation unit (whose last ReLU follows the add)
    assert _keras_sequence(rnpa.postact_basic) == [*branch, "ReLU"]

    branch, add_y, relus = _branch(preact)
    assert branch == ["BN", "ReLU", "conv", "BN", "ReLU", "conv"]
    assert not any(y < add_y for y in relus), "nothing after the addition in pre-activation"
    assert _keras_sequence(rnpa.preact_basic) == branch


def test_bottleneck_vs_basic_numbers_come_from_the_shapes():
    fig = diagrams.bottleneck_vs_basic()
    bottleneck, basic = fig.axes
    assert bottleneck.get_title() == "Bottleneck unit: 128 → 32 → 32 → 128"
    assert basic.get_title() == "Basic unit: 128 → 128 → 128"
    left = " | ".join(t for t, _, _ in positioned(bottleneck))
    right = " | ".join(t for t, _, _ in positioned(basic))
    # k * k * c_in * c_out, computed here independently of the module
    assert f"= {1 * 1 * 128 * 32:,}" in left  # 4,096
    assert f"= {3 * 3 * 32 * 32:,}" in left  # 9,216
    assert f"1×1×32×128 = {1 * 1 * 32 * 128:,}\n+ 128 bias" in left
    assert f"= {3 * 3 * 128 * 128:,}" in right  # 147,456
    assert "4,096" in left and "9,216" in left and "147,456" in right
    assert f"convolution weights: {4096 + 9216 + 4096:,} (+ 128 bias)" in left
    assert f"convolution weights: {2 * 147456:,}" in right
    # every arrow carries its channel count: 6 arrows inside the bottleneck are 32 wide
    assert [t for t, _, _ in positioned(bottleneck)].count("32") == 6
    assert [t for t, _, _ in positioned(basic)].count("32") == 0


def test_bottleneck_numbers_match_rnpa_blocks():
    x = keras.Input((16, 16, 128))
    model = keras.Model(x, rnpa.residual_block(x, (32, 32, 128), stage=2))
    conv_params = sum(
        layer.count_params() for layer in model.layers if type(layer).__name__ == "Conv2D"
    )
    specs = diagrams.bottleneck_convs()
    assert conv_params == sum(c.weights + c.biases for c in specs) == 17_408 + 128
    assert [(c.kernel, c.c_in, c.c_out) for c in specs] == [(1, 128, 32), (3, 32, 32), (1, 32, 128)]


def test_network_diagram_follows_the_model():
    fig = diagrams.network_diagram()
    strings = texts(fig)
    joined = "\n".join(strings)
    for name in ("input", "conv0", "bn0", "relu0", "merge5", "bnF", "reluF", "avg_pool", "fc10"):
        assert re.search(rf"\b{name}\b", joined), name
    assert "16x16x128" in strings and "32x32x3" in strings and "1x1x128" in strings
    assert "conv0: 3x3 conv, 128, stride 2" in strings
    assert "fc10: dense, 5 classes, softmax" in strings
    assert fig.axes[0].get_title() == "ResNetPreAct(num_stages=5): 96,133 parameters"
    # unit 1 has no first BN-ReLU: the stem applied it
    assert not re.search(r"\b(bn1a|relu1a)\b", joined)
    assert re.search(r"\bbn2a\b", joined)


@pytest.mark.parametrize("num_stages", [0, 2])
def test_network_diagram_names_every_layer(num_stages):
    model = rnpa.ResNetPreAct(num_stages=num_stages)
    fig = diagrams.network_diagram(num_stages)
    joined = "\n".join(texts(fig))
    for layer in model.layers:
        assert re.search(rf"\b{re.escape(layer.name)}\b", joined), layer.name
    assert texts(fig).count("+") == num_stages
    assert f"{model.count_params():,} parameters" in fig.axes[0].get_title()


def test_unit_convolutions_follow_the_unit_kinds_of_rnpa_blocks(monkeypatch):
    """The drawn units read their kernels from rnpa.blocks.UNIT_KINDS, not from constants."""
    import dataclasses

    from rnpa import blocks

    assert [c.kernel for c in diagrams.bottleneck_convs()] == [1, 3, 1]
    assert [c.kernel for c in diagrams.basic_convs()] == [3, 3]
    wider = dict(blocks.UNIT_KINDS)
    wider["bottleneck"] = dataclasses.replace(blocks.UNIT_KINDS["bottleneck"], kernels=(1, 5, 1))
    monkeypatch.setattr(diagrams, "UNIT_KINDS", wider)
    assert [c.kernel for c in diagrams.bottleneck_convs()] == [1, 5, 1]


def test_network_layers_group_the_units_by_the_naming_contract():
    from rnpa.blocks import parse_layer_name

    model = rnpa.ResNetPreAct(num_stages=3)
    layers = diagrams.network_layers(3)
    assert [n for n, _ in layers.units] == [1, 2, 3]
    for number, infos in layers.units:
        expected = [
            la.name
            for la in model.layers
            if (p := parse_layer_name(la.name)) is not None and p.label == str(number)
        ]
        assert [i.name for i in infos] == expected
    assert [i.name for i in layers.stem] == ["input", "conv0", "bn0", "relu0"]
    assert [i.name for i in layers.head] == ["bnF", "reluF", "avg_pool", "flat", "fc10"]


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2.0, TypeError), ("5", TypeError)])
def test_network_diagram_rejects_bad_num_stages(bad, error):
    with pytest.raises(error, match="num_stages"):
        diagrams.network_diagram(bad)


@pytest.mark.parametrize("num_units", [1, 4])
def test_gradient_highway_shows_eqs_4_and_5(num_units):
    fig = diagrams.gradient_highway(num_units)
    strings = texts(fig)
    assert sum(s.startswith(r"$\mathcal{F}(x_") for s in strings) == num_units
    assert strings.count("+") == num_units
    assert "$x_l$" in strings and "$x_L$" in strings
    eq4 = [s for s in strings if s.startswith("$x_L = x_l +")]
    assert len(eq4) == 1 and r"\sum" in eq4[0]
    eq5 = [s for s in strings if r"\partial x_l} = " in s]
    assert len(eq5) == 1 and r"\left(1 + " in eq5[0] and r"\sum" in eq5[0]


@pytest.mark.parametrize("bad, error", [(0, ValueError), (9, ValueError), (True, TypeError)])
def test_gradient_highway_rejects_bad_num_units(bad, error):
    with pytest.raises(error, match="num_units"):
        diagrams.gradient_highway(bad)


def _column(ax) -> list[str]:
    """Labels of the boxes in the main column (x = 0), top to bottom, and "+"."""
    return [text for text, x, _ in sorted(positioned(ax), key=lambda t: -t[2]) if x == 0.0]


def test_plain_vs_residual_adds_only_the_shortcut():
    fig = diagrams.plain_vs_residual()
    plain, residual = fig.axes
    assert plain.get_title() == "Plain block"
    assert residual.get_title() == "Residual block"
    layers = ["$x$", "weight layer", "ReLU", "weight layer"]
    # the plain block: x -> weight -> ReLU -> weight -> ReLU -> H(x), no addition
    assert _column(plain) == [*layers, "ReLU", r"$\mathcal{H}(x)$"]
    assert [t for t, _, _ in positioned(plain)].count("+") == 0
    # the residual block: the same layers, then the addition, then the ReLU
    assert _column(residual) == [*layers, "+", "ReLU", "$y$"]
    strings = [t for t, _, _ in positioned(residual)]
    assert strings.count("+") == 1
    assert r"$\mathcal{F}(x)$" in strings  # the branch
    assert "identity $x$" in strings  # the shortcut
    assert r"$\mathcal{F}(x) + x$" in strings  # at the addition
    # the equations under the panels
    assert r"$\mathcal{H}(x)$ learned directly" in [t for t, _, _ in positioned(plain)]
    assert r"$\mathcal{H}(x) = \mathcal{F}(x) + x$" in strings

    # the identity path is drawn thick, and only in the residual panel
    def thick(ax):
        return [a for a in [*ax.lines, *ax.patches] if a.get_linewidth() == diagrams._IDENTITY_LW]

    assert thick(residual) and not thick(plain)
    # the figure's texts do not run into each other
    renderer = FigureCanvasAgg(fig).get_renderer()
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text() != "+"]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (a, b)


# ---------------------------------------------------------------------------
# files and command line
# ---------------------------------------------------------------------------
def test_save_all_writes_ten_files_and_nothing_else(rendered):
    assert len(FILES) == 10
    assert sorted(p.name for p in rendered.iterdir()) == FILES  # no temporary files left
    png = Image.open(rendered / "network.png")
    assert png.format == "PNG"
    assert "Software" not in png.info  # no version or date in the metadata
    svg = (rendered / "network.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<dc:date>" not in svg


def test_cli_run_writes_the_same_bytes_again(rendered, tmp_path, capsys):
    """A second run (through ``python -m rnpa diagrams``) gives identical bytes."""
    out = tmp_path / "new" / "images"  # created with its parents
    assert main(["diagrams", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in printed) == FILES
    assert all(Path(p).parent == out for p in printed)
    for name in FILES:
        assert (out / name).read_bytes() == (rendered / name).read_bytes(), name


def _svg_matplotlib(svg: str) -> str | None:
    match = re.search(r"Matplotlib v([^,<\s]+)", svg)
    return match.group(1) if match else None


@pytest.mark.parametrize("name", NAMES)
def test_committed_images_are_what_the_code_draws(rendered, name):
    """images/ must be re-rendered whenever a drawing changes.

    With the Matplotlib that drew images/ (its version is in each SVG), the SVG
    text must be identical: SVG keeps text as glyph outlines from Matplotlib's
    own DejaVu fonts and does not depend on the FreeType build or the PNG
    encoder (zlib), so it is exact where exactness is meaningful, and its diff
    is readable. With another Matplotlib the bytes may legitimately differ, so
    the PNGs must have the same size and nearly the same pixels instead.
    """
    fix = "run `python -m rnpa diagrams images/` and commit images/"
    committed_svg = REPO_IMAGES / f"{name}.svg"
    committed_png = REPO_IMAGES / f"{name}.png"
    assert committed_svg.is_file() and committed_png.is_file(), f"missing in images/: {fix}"
    committed = committed_svg.read_text()
    fresh = (rendered / f"{name}.svg").read_text()
    if _svg_matplotlib(committed) == matplotlib.__version__:
        assert committed == fresh, f"images/{name}.svg is out of date: {fix}"
    else:
        old = np.asarray(Image.open(committed_png).convert("RGB"), dtype=float)
        new = np.asarray(Image.open(rendered / f"{name}.png").convert("RGB"), dtype=float)
        assert old.shape == new.shape, f"images/{name}.png has another size: {fix}"
        rms = float(np.sqrt(np.mean((old - new) ** 2)))
        assert rms < 8.0, f"images/{name}.png differs (RMS {rms:.1f}): {fix}"


def test_save_all_rejects_a_file_as_out_dir(tmp_path):
    path = tmp_path / "images"
    path.write_text("not a folder")
    with pytest.raises(ValueError, match="out_dir must be a directory.*is a file"):
        diagrams.save_all(path)
    with pytest.raises(ValueError, match="cannot be created"):
        diagrams.save_all(path / "sub")
    assert path.read_text() == "not a folder"


@pytest.mark.parametrize("bad", [None, 3, b"images"])
def test_save_all_rejects_a_non_path(bad):
    with pytest.raises(TypeError, match="out_dir must be a path"):
        diagrams.save_all(bad)


def test_cli_reports_a_bad_out_dir(tmp_path, capsys):
    path = tmp_path / "file.txt"
    path.write_text("x")
    assert main(["diagrams", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rnpa diagrams: error:" in err and "is a file" in err


def test_gradient_highway_labels_the_branches_of_its_unit_kind():
    for unit, steps in (("bottleneck", 3), ("basic", 2)):
        fig = diagrams.gradient_highway(num_units=2, unit=unit)
        labels = [t.get_text() for t in fig.axes[0].texts if "BN-ReLU-conv" in t.get_text()]
        assert labels == [f"(BN-ReLU-conv) ×{steps}"] * 2, unit
    with pytest.raises(ValueError, match="unit must be one of 'bottleneck', 'basic'"):
        diagrams.gradient_highway(unit="wide")
