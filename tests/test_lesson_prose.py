"""The numbers that lessons 1-4 quote in their prose match the networks rnpa builds.

Each test reads the markdown of a committed notebook, finds the number the prose
states (a parameter count, the number of BN layers, ...), counts it by hand from
the architecture (kernel sizes and widths, as the papers define the networks) and
checks both against the model that rnpa builds. A lesson whose prose drifts from
its network (issue #12: "17 BN layers" where the summary shows 16) fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import rnpa

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def markdown(name: str) -> str:
    """All markdown cells of a committed notebook, joined."""
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def number(text: str) -> int:
    """``"96,133"`` or ``"96{,}133"`` (LaTeX) -> 96133."""
    return int(text.replace("{,}", "").replace(",", ""))


def quoted(text: str, pattern: str) -> list[int]:
    """Every number the first group of ``pattern`` finds in ``text``, its lines joined."""
    found = [number(m) for m in re.findall(pattern, " ".join(text.split()))]
    assert found, f"the prose no longer states {pattern!r}"
    return found


def conv(k: int, c_in: int, c_out: int, bias: bool = False) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


def bn(c: int) -> int:
    return 4 * c  # gamma, beta, moving mean, moving variance


# ----------------------------------------------------------------------------
# the course's network, by hand (the 2017 ResNetPreAct: lesson 4)
# ----------------------------------------------------------------------------
STEM = conv(3, 3, 128) + bn(128)
UNIT = bn(128) + conv(1, 128, 32) + bn(32) + conv(3, 32, 32) + bn(32) + conv(1, 32, 128, bias=True)
UNIT1 = UNIT - bn(128)  # unit 1 uses the stem's BN-ReLU: no bn1a
HEAD = bn(128) + 128 * 5 + 5  # bnF, fc10
TOTAL = STEM + UNIT1 + 4 * UNIT + HEAD
BN_LAYERS = 1 + 2 + 4 * 3 + 1  # bn0, bn1b-c, bn{2..5}a-c, bnF
BN_CHANNELS = 128 + (32 + 32) + 4 * (128 + 32 + 32) + 128


@pytest.fixture(scope="module")
def course_network():
    return rnpa.ResNetPreAct()


def test_the_hand_count_is_rnpas_count(course_network):
    model = course_network
    assert model.count_params() == TOTAL == 96_133
    assert sum(isinstance(lyr, rnpa.layers.BatchNormalization) for lyr in model.layers) == BN_LAYERS
    frozen = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    assert frozen == 2 * BN_CHANNELS


def test_lesson4_parameter_and_bn_counts():
    text = markdown("04_resnetpreact.ipynb")
    assert set(quoted(text, r"\*\*([\d,]+)\*\* parameters")) == {TOTAL}
    assert set(quoted(text, r"parameter count \(([\d,]+)\)")) == {TOTAL}
    assert set(quoted(text, r"\*\*([\d,]+)\*\* are not trained")) == {2 * BN_CHANNELS}
    assert set(quoted(text, r"\(([\d,]+) trained, [\d,]+ statistics")) == {TOTAL - 2 * BN_CHANNELS}
    # every "<n> BN layers" in the lesson, bold or not, is the network's count
    assert set(quoted(text, r"\*{0,2}(\d+)\*{0,2}\s+BN\s+layers")) == {BN_LAYERS}
    assert set(quoted(text, r"unit 1 has ([\d,]+) fewer parameters")) == {bn(128)}
    # the answers to "Check yourself"
    answer = r"\$?96\{?,\}?133 \+ 18\{?,\}?304 = ([\d{},]+)\$? parameters"
    assert TOTAL + UNIT in quoted(text, answer)
    assert TOTAL + bn(128) in quoted(text, r"([\d,]+) in total")


def test_lesson4_answer_numbers_match_rnpa():
    assert rnpa.ResNetPreAct(num_stages=6).count_params() == TOTAL + UNIT == 114_437


def test_lesson3_unit_counts():
    text = markdown("03_bottleneck.ipynb")
    assert UNIT in quoted(text, r"bottleneck unit has \*\*([\d,]+)\*\* parameters")
    basic_128 = 2 * (bn(128) + conv(3, 128, 128))
    assert basic_128 in quoted(text, r"same width\s+has \*\*([\d,]+)\*\* parameters")
    # the conv{s}c biases that never train: 5 units x 128
    assert 5 * 128 in quoted(text, r"([\d,]+) parameters \(5 x 128\)")


def test_lesson3_unit_counts_are_rnpas():
    import keras

    x = keras.Input(shape=(16, 16, 128))
    unit = keras.Model(x, rnpa.residual_block(x, [32, 32, 128], stage=2))
    basic = keras.Model(x, rnpa.preact_basic(x, [128, 128], label="B"))
    assert unit.count_params() == UNIT
    assert basic.count_params() == 2 * (bn(128) + conv(3, 128, 128))


def test_lesson1_option_a_and_b_parameter_counts():
    """Lesson 1: option A adds no parameters, option B adds two 1x1 projections with BN."""
    text = markdown("01_residual_learning.ipynb")
    projections = conv(1, 16, 32) + bn(32) + conv(1, 32, 64) + bn(64)
    assert set(quoted(text, r"would add\s+([\d,]+) parameters")) == {projections}
    shape = {"num_classes": 5, "input_shape": (16, 16, 3)}
    plain = rnpa.plain_network(20, **shape).count_params()
    option_a = rnpa.resnet_original(20, shortcut_type="zeros", **shape).count_params()
    option_b = rnpa.resnet_original(20, **shape).count_params()
    assert option_a == plain
    assert option_b - plain == projections
