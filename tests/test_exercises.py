"""Tests of rnpa.exercises: every check accepts a right answer and names typical wrong ones.

Then the notebooks: the learner's notebooks in notebooks/exercises/ are what
``python -m rnpa exercises build`` makes of notebooks/solutions/ (regenerated
here and compared), and executing one raises only the stubs' NotImplementedError
(nbval executes the solution notebooks themselves: they live under notebooks/).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import keras
import nbformat
import pytest
from keras import layers

import rnpa
from rnpa import exercises

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "notebooks" / "solutions"
EXERCISES = ROOT / "notebooks" / "exercises"


def _run(check, answer, capsys):
    """Run a check; return (its bool, the line it printed)."""
    ok = check(answer)
    out = capsys.readouterr().out
    return ok, out


# ----------------------------------------------------------------------------
# answers: right ones, written here independently of rnpa, and typical wrong ones
# ----------------------------------------------------------------------------
def _bn_relu(h):
    return layers.ReLU()(layers.BatchNormalization()(h))


def preact_unit(x, filters, *, last_bias=True, relu_first=False, shortcut_from=None, add=True):
    f1, f2, f3 = filters
    a = layers.BatchNormalization()(layers.ReLU()(x)) if relu_first else _bn_relu(x)
    h = layers.Conv2D(f1, 1, use_bias=False)(a)
    h = layers.Conv2D(f2, 3, padding="same", use_bias=False)(_bn_relu(h))
    h = layers.Conv2D(f3, 1, use_bias=last_bias)(_bn_relu(h))
    if not add:
        return h
    return layers.Add()([h, a if shortcut_from == "activated" else x])


def original_unit(x, filters, *, relu_after_add=True, relu_before_add=False, bias=False):
    f1, f2, f3 = filters
    h = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(f1, 1, use_bias=bias)(x)))
    h = layers.Conv2D(f2, 3, padding="same", use_bias=bias)(h)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    h = layers.BatchNormalization()(layers.Conv2D(f3, 1, use_bias=bias)(h))
    if relu_before_add:
        h = layers.ReLU()(h)
    h = x + h  # the operator, not a layer: the check must see it too
    return layers.ReLU()(h) if relu_after_add else h


def relu_before_add_unit(x, filters):
    return original_unit(x, filters, relu_after_add=False, relu_before_add=True)


def network(
    input_shape=(32, 32, 3),
    num_classes=5,
    num_stages=5,
    *,
    unit1_bn=False,
    head_bn=True,
    fixed_pool=False,
):
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(128, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = _bn_relu(x)
    for stage in range(1, num_stages + 1):
        if stage == 1 and not unit1_bn:
            h = layers.Conv2D(32, 1, use_bias=False)(x)
            h = layers.Conv2D(32, 3, padding="same", use_bias=False)(_bn_relu(h))
            h = layers.Conv2D(128, 1)(_bn_relu(h))
            x = layers.Add()([h, x])
        else:
            x = preact_unit(x, [32, 32, 128])
    if head_bn:
        x = _bn_relu(x)
    if fixed_pool:
        x = layers.Flatten()(layers.AveragePooling2D((16, 16))(x))
    else:
        x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def unit_params(c_in, c_mid, c_out):
    conv = c_in * c_mid + 3 * 3 * c_mid * c_mid + c_mid * c_out
    return conv + 4 * (c_in + c_mid + c_mid)


def unit_macs(c_in, c_mid, c_out, height, width):
    return height * width * (c_in * c_mid + 9 * c_mid * c_mid + c_mid * c_out)


# ----------------------------------------------------------------------------
# exercise 1: the pre-activation unit
# ----------------------------------------------------------------------------
def test_preact_check_accepts_a_right_answer(capsys):
    ok, out = _run(exercises.check_preact_unit, preact_unit, capsys)
    assert ok is True and out.startswith("correct:")
    assert "BN -> ReLU -> conv -> BN -> ReLU -> conv -> BN -> ReLU -> conv -> Add" in out
    # 4,096 + 9,216 + 4,096 weights + 128 biases + 4 x (128 + 32 + 32) BN numbers
    assert "with 18,304 parameters for filters=[32, 32, 128]" in out


def test_preact_check_accepts_rnpa_itself(capsys):
    ok, _ = _run(
        exercises.check_preact_unit, lambda x, f: rnpa.residual_block(x, f, stage=3), capsys
    )
    assert ok is True


@pytest.mark.parametrize(
    "answer, message",
    [
        (
            lambda x, f: preact_unit(x, f, last_bias=False),
            "expected 4,224 parameters in the last 1x1 conv, found 4,096: did you forget the bias?",
        ),
        (
            lambda x, f: preact_unit(x, f, relu_first=True),
            "your unit applies ReLU before BatchNormalization",
        ),
        (
            lambda x, f: preact_unit(x, f, shortcut_from="activated"),
            "not the unit's input x: the identity shortcut must carry x itself",
        ),
        (
            lambda x, f: preact_unit(x, f, add=False),
            "your unit has no addition: the identity shortcut x + F(x) is missing",
        ),
        (
            lambda x, f: original_unit(x, f),
            "your unit starts with a convolution: a pre-activation unit starts with BatchNormalization",  # noqa: E501
        ),
        (
            lambda x, f: preact_unit(x, [32, 32, 128]),
            "your unit works for filters=[32, 32, 128] on a (16, 16, 128) input, but not for "
            "filters=[8, 8, 32]",
        ),
    ],
    ids=["no bias", "relu-bn", "activated shortcut", "no add", "original order", "fixed numbers"],
)
def test_preact_check_names_the_mistake(answer, message, capsys):
    ok, out = _run(exercises.check_preact_unit, answer, capsys)
    assert ok is False
    assert out.startswith("not yet: ") and message in out


def test_an_answer_that_raises_is_reported_with_the_learners_line(capsys):
    def unpacks_two(x, filters):
        f1, f2 = filters  # the learner's mistake, on this line
        return x

    ok, out = _run(exercises.check_preact_unit, unpacks_two, capsys)
    assert ok is False
    assert "your function raised ValueError at line" in out
    assert "(`f1, f2 = filters  # the learner's mistake, on this line`)" in out
    assert "Traceback" not in out


def test_an_error_inside_keras_is_reported_at_the_learners_line(capsys):
    def bad_add(x, filters):
        h = layers.Conv2D(filters[0], 1)(x)
        return layers.Add()([x, h])  # shapes 128 and 32 channels

    ok, out = _run(exercises.check_preact_unit, bad_add, capsys)
    assert ok is False
    assert "raised ValueError at line" in out and "return layers.Add()([x, h])" in out


def test_a_stub_stops_the_check_with_its_not_implemented_error():
    def stub(x, filters):
        raise NotImplementedError("write the unit")

    with pytest.raises(NotImplementedError, match="write the unit"):
        exercises.check_preact_unit(stub)


def test_a_check_rejects_a_value_instead_of_a_function():
    with pytest.raises(TypeError, match="fn must be your function"):
        exercises.check_preact_unit(3)


def test_an_answer_the_check_cannot_take_apart_is_reported_not_raised(capsys):
    def nested(x, filters):
        inner_in = keras.Input(shape=x.shape[1:])
        inner = keras.Model(inner_in, preact_unit(inner_in, filters))
        return inner(x)  # a whole model as one layer

    ok, out = _run(exercises.check_preact_unit, nested, capsys)
    assert ok is False and out.startswith("not yet: ") and "Traceback" not in out


def test_an_answer_that_returns_no_tensor_is_named(capsys):
    ok, out = _run(exercises.check_preact_unit, lambda x, f: None, capsys)
    assert ok is False and "your unit returned NoneType, expected a Keras tensor" in out


def test_an_extra_layer_is_named_by_its_step(capsys):
    def extra_relu(x, filters):
        f1, f2, f3 = filters
        h = layers.Conv2D(f1, 1, use_bias=False)(_bn_relu(x))
        h = layers.Conv2D(f2, 3, padding="same", use_bias=False)(_bn_relu(h))
        h = layers.Conv2D(f3, 1)(layers.Activation("relu")(_bn_relu(h)))
        return layers.Add()([h, x])

    ok, out = _run(exercises.check_preact_unit, extra_relu, capsys)
    assert ok is False
    assert "step 9 of your unit is ReLU, expected Conv2D" in out


def test_same_layers_that_compute_something_else_are_caught_by_the_outputs(capsys):
    def dilated(x, filters):
        # the same layers, shapes and parameters; the 3x3 convolution looks 2 pixels apart
        f1, f2, f3 = filters
        h = layers.Conv2D(f1, 1, use_bias=False)(_bn_relu(x))
        h = layers.Conv2D(f2, 3, padding="same", dilation_rate=2, use_bias=False)(_bn_relu(h))
        h = layers.Conv2D(f3, 1)(_bn_relu(h))
        return layers.Add()([h, x])

    ok, out = _run(exercises.check_preact_unit, dilated, capsys)
    assert ok is False
    assert (
        "has the right layers in the right order, but with the same weights it computes "
        "something else" in out
    )


# ----------------------------------------------------------------------------
# exercise 2: the original unit
# ----------------------------------------------------------------------------
def test_original_check_accepts_a_right_answer(capsys):
    ok, out = _run(exercises.check_original_unit, original_unit, capsys)
    assert (
        ok is True
        and "conv -> BN -> ReLU -> conv -> BN -> ReLU -> conv -> BN -> Add -> ReLU" in out
    )
    # 17,408 weights, no biases, BN after each convolution: 4 x (32 + 32 + 128)
    assert "with 18,176 parameters for filters=[32, 32, 128]" in out


@pytest.mark.parametrize(
    "answer, message",
    [
        (
            lambda x, f: original_unit(x, f, relu_after_add=False),
            "your unit ends with the addition: the original unit applies a ReLU after the addition",
        ),
        (relu_before_add_unit, "that is 'ReLU before addition' (He et al. 2016, Fig. 4(c))"),
        (preact_unit, "your unit starts with BatchNormalization: that is the pre-activation order"),
        (
            lambda x, f: original_unit(x, f, bias=True),
            "expected 4,096 parameters in the 1st 1x1 conv, found 4,128: it has a bias it does not need",  # noqa: E501
        ),
    ],
    ids=["no final relu", "relu before add", "preact order", "bias"],
)
def test_original_check_names_the_mistake(answer, message, capsys):
    ok, out = _run(exercises.check_original_unit, answer, capsys)
    assert ok is False and message in out


# ----------------------------------------------------------------------------
# exercise 6: ReLU before addition; exercise 7: the plain unit
# ----------------------------------------------------------------------------
def test_relu_before_add_check_accepts_a_right_answer(capsys):
    ok, _ = _run(exercises.check_relu_before_add_unit, relu_before_add_unit, capsys)
    assert ok is True


@pytest.mark.parametrize(
    "answer, message",
    [
        (original_unit, "your unit adds before the last ReLU"),
        (
            lambda x, f: preact_unit(x, f, last_bias=False),
            "your unit starts with BatchNormalization: 'ReLU before addition' keeps the original order",  # noqa: E501
        ),
        (
            lambda x, f: layers.ReLU()(relu_before_add_unit(x, f)),
            "your unit applies a ReLU after the addition as well",
        ),
    ],
    ids=["original", "preact", "relu after too"],
)
def test_relu_before_add_check_names_the_mistake(answer, message, capsys):
    ok, out = _run(exercises.check_relu_before_add_unit, answer, capsys)
    assert ok is False and message in out


def test_plain_check_accepts_a_right_answer_and_rejects_wrong_ones(capsys):
    ok, _ = _run(exercises.check_plain_unit, lambda x, f: preact_unit(x, f, add=False), capsys)
    assert ok is True
    ok, out = _run(exercises.check_plain_unit, preact_unit, capsys)
    assert ok is False and "your unit still adds the shortcut" in out
    ok, out = _run(
        exercises.check_plain_unit,
        lambda x, f: preact_unit(x, f, add=False, last_bias=False),
        capsys,
    )
    assert ok is False and "did you forget the bias?" in out


# ----------------------------------------------------------------------------
# exercise 3: counting
# ----------------------------------------------------------------------------
def test_unit_params_check(capsys):
    ok, out = _run(exercises.check_unit_params, unit_params, capsys)
    assert ok is True
    # 256-64-64-256: 16,384 + 36,864 + 16,384 weights (He et al. 2015, Fig. 5 right)
    assert "69,632 of them in its convolutions" in out


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda a, m, b: a * m + 9 * m * m + m * b, "you counted the convolutions only"),
        (
            lambda a, m, b: unit_params(a, m, b) - 8 * m * m,
            "you counted the 3x3 convolution like a 1x1",
        ),
        (
            lambda a, m, b: a * m + 9 * m * m + m * b + 2 * (a + 2 * m),
            "you counted 2 numbers per BatchNormalization channel",
        ),
        (
            lambda a, m, b: unit_params(a, m, b) + 2 * m + b,
            "you counted a bias in every convolution",
        ),
        (lambda a, m, b: "many", "returned str 'many', expected a number"),
    ],
    ids=["no bn", "3x3 as 1x1", "bn 2", "biases", "text"],
)
def test_unit_params_check_names_the_mistake(answer, message, capsys):
    ok, out = _run(exercises.check_unit_params, answer, capsys)
    assert ok is False and message in out
    assert (
        "for c_in=128, c_mid=32, c_out=128 expected 18,176 parameters" in out
        or "returned str" in out
    )


def test_unit_macs_check(capsys):
    ok, out = _run(exercises.check_unit_macs, unit_macs, capsys)
    assert ok is True
    # 69,632 weights at 56 x 56 = 3,136 positions
    assert f"{69_632 * 3_136:,} multiply-adds" in out


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda *a: 2 * unit_macs(*a), "that is twice the multiply-adds"),
        (lambda a, m, b, h, w: a * m + 9 * m * m + m * b, "that is the number of weights"),
        (
            lambda a, m, b, h, w: h * w * (a * m + m * m + m * b),
            "you counted the 3x3 convolution like a 1x1",
        ),
    ],
    ids=["2x", "weights", "3x3 as 1x1"],
)
def test_unit_macs_check_names_the_mistake(answer, message, capsys):
    ok, out = _run(exercises.check_unit_macs, answer, capsys)
    assert ok is False and message in out
    assert f"expected {256 * 17_408:,} multiply-adds" in out  # 16x16 x (4,096+9,216+4,096)


# ----------------------------------------------------------------------------
# exercises 4 and 5: the network
# ----------------------------------------------------------------------------
def test_network_check_accepts_a_right_answer(capsys):
    ok, out = _run(exercises.check_network, network, capsys)
    assert ok is True and "96,133 parameters" in out


def test_network_check_accepts_rnpa_itself(capsys):
    ok, _ = _run(exercises.check_network, rnpa.ResNetPreAct, capsys)
    assert ok is True


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda: network(unit1_bn=True), "your unit 1 starts with its own BN-ReLU"),
        (lambda: network(head_bn=False), "your network pools right after the last unit"),
        (lambda: network(num_stages=4), "your network has 4 units (additions), expected 5"),
        (lambda: network(num_classes=10), "outputs of shape (10,), expected (5,) (5 classes)"),
        (lambda: rnpa.ResNetPreAct(use_shortcuts=False), "your network has no additions"),
    ],
    ids=["bn1a", "no bnF", "4 units", "10 classes", "no shortcuts"],
)
def test_network_check_names_the_mistake(answer, message, capsys):
    ok, out = _run(exercises.check_network, answer, capsys)
    assert ok is False and message in out


def test_flexible_network_check(capsys):
    ok, _ = _run(exercises.check_flexible_network, network, capsys)
    assert ok is True
    ok, out = _run(
        exercises.check_flexible_network, lambda s, c, n: network(s, c, n, fixed_pool=True), capsys
    )
    assert ok is False
    assert "for 64x64 inputs the pooling of your network" in out and "leaves a 2x2 map" in out
    ok, out = _run(exercises.check_flexible_network, lambda s, c, n: network(s, c), capsys)
    assert ok is False and "has 5 units (additions), expected 6" in out
    ok, out = _run(exercises.check_flexible_network, lambda s, c, n: network(s, 5, n), capsys)
    assert ok is False and "outputs of shape (5,), expected (10,)" in out


def test_params_by_hand_check(capsys):
    # independent count: unit 2..n each 17,536 conv (4,096 + 9,216 + 4,096 + 128 bias)
    # + 768 BN (4 x (128 + 32 + 32)) = 18,304; unit 1 has no bn1a (512 fewer)
    ok, out = _run(exercises.check_params_by_hand, lambda n: 96_133 + (n - 5) * 18_304, capsys)
    assert ok is True and "num_stages=6 has 114,437 parameters, 18,304 more" in out
    ok, out = _run(exercises.check_params_by_hand, lambda n: 96_133 + (n - 5) * 17_536, capsys)
    assert (
        ok is False
        and "each unit after the first adds 18,304 parameters, your count adds 17,536" in out
    )
    ok, out = _run(
        exercises.check_params_by_hand,
        lambda n: 96_133 + (n - 5) * 18_304 + (512 if n == 1 else 0),
        capsys,
    )
    assert ok is False and "unit 1 has 512 fewer parameters" in out


# ----------------------------------------------------------------------------
# exercise 8: the recipe (the checks that fail before training; training is the
# solution notebook's job, under nbval)
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda: rnpa.get_recipe("original", epochs=5), "that is the `original` recipe unchanged"),
        (lambda: rnpa.get_recipe("default"), "your recipe trains 60 epochs; the budget is 5"),
        (lambda: {"lr": 0.1}, "your function returned dict, expected a recipe"),
        (lambda: "fast", "your function returned 'fast', which is not a recipe name"),
    ],
    ids=["original", "too long", "dict", "unknown name"],
)
def test_recipe_check_names_the_mistake_before_training(answer, message, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("the check trained a recipe it should have refused")

    monkeypatch.setattr(exercises, "train_recipe", no_training)
    ok = exercises.check_recipe(answer, epochs=5, target=0.6)
    out = capsys.readouterr().out
    assert ok is False and message in out


def test_recipe_check_compares_the_best_accuracy_with_the_target(capsys, monkeypatch):
    calls = []

    def fake(recipe, epochs, steps_per_epoch=None, seed=0, num_stages=5):
        calls.append((recipe.name, epochs, steps_per_epoch, seed, num_stages))
        return {"val_accuracy": [0.3, 0.55, 0.52], "best": 0.55, "seconds": 1.0}

    monkeypatch.setattr(exercises, "train_recipe", fake)
    recipe = rnpa.get_recipe("default", epochs=3)
    assert exercises.check_recipe(lambda: recipe, epochs=3, target=0.5, steps_per_epoch=4)
    assert "reached 55.0% validation accuracy within 3 epochs" in capsys.readouterr().out
    assert not exercises.check_recipe(lambda: recipe, epochs=3, target=0.6, steps_per_epoch=4)
    assert "below the target 60%" in capsys.readouterr().out
    assert calls == [("default", 3, 4, 0, 5)] * 2


def test_recipe_check_validates_its_own_arguments():
    with pytest.raises(ValueError, match="target must be an accuracy between 0 and 1"):
        exercises.check_recipe(lambda: None, epochs=5, target=60)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        exercises.check_recipe(lambda: None, epochs=0, target=0.6)


def test_train_recipe_trains_and_caches(monkeypatch):
    calls = []

    def fake_fit(model, data, recipe, **kwargs):
        calls.append(dict(kwargs, model=model, data=data, recipe=recipe))
        history = keras.callbacks.History()
        history.history = {"val_accuracy": [0.2, 0.4]}
        return history

    monkeypatch.setattr("rnpa.train.fit", fake_fit)
    monkeypatch.setattr(exercises, "_RECIPE_RESULTS", {})
    recipe = rnpa.get_recipe("default", epochs=2)
    first = exercises.train_recipe(recipe, 2, 3, seed=1, num_stages=1)
    second = exercises.train_recipe(recipe, 2, 3, seed=1, num_stages=1)
    assert first["best"] == 0.4 and first["val_accuracy"] == [0.2, 0.4]
    assert second is first and len(calls) == 1
    assert calls[0]["epochs"] == 2 and calls[0]["steps_per_epoch"] == 3
    assert calls[0]["data"] == "flowers32" and calls[0]["recipe"] is recipe
    # num_stages=1: the 2017 network with one unit
    assert calls[0]["model"].count_params() == rnpa.ResNetPreAct(num_stages=1).count_params()


def test_stack_units_builds_the_frame_of_the_2017_network():
    model = exercises.stack_units(preact_unit, 5)
    # the 2017 network with a BN-ReLU in unit 1 too: 512 more parameters
    assert model.count_params() == rnpa.ResNetPreAct().count_params() + 512
    with pytest.raises(ValueError, match="num_units must be an int >= 0"):
        exercises.stack_units(lambda x, f: x, -1)


# ----------------------------------------------------------------------------
# the notebooks
# ----------------------------------------------------------------------------
SOLUTION_NOTEBOOKS = sorted(SOLUTIONS.glob("ex*.ipynb"))


def test_there_are_solution_notebooks_with_eight_exercises_or_more():
    assert len(SOLUTION_NOTEBOOKS) >= 4
    graded = 0
    for path in SOLUTION_NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            graded += bool(meta.get("grade")) and cell.cell_type == "code"
    assert graded >= 8


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.name)
def test_solution_notebook_marks_its_cells_the_nbgrader_way(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert f"/notebooks/solutions/{path.name})" in nb.cells[0].source
    ids = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        has_region = "### BEGIN SOLUTION" in cell.source
        if has_region:
            assert "### END SOLUTION" in cell.source
            assert meta and meta["solution"] is True and meta["grade"] is False
        if meta is None:
            continue
        assert meta["schema_version"] == 3 and isinstance(meta["grade_id"], str)
        assert set(meta) >= {"grade", "solution", "locked", "grade_id", "schema_version"}
        if meta["grade"]:
            assert meta["points"] > 0
        if meta["grade"] and not meta["solution"]:  # an autograder test: read-only code
            assert meta["locked"] is True and cell.cell_type == "code"
            assert cell.source.startswith("# test cell")
            assert "assert exercises.check_" in cell.source
        if meta["solution"] and cell.cell_type == "markdown":  # a written answer, graded by hand
            assert meta["grade"] is True and meta["locked"] is False
        ids.append(meta["grade_id"])
    assert len(ids) == len(set(ids)), "grade_id must be unique in a notebook"


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.name)
def test_nbgrader_accepts_the_solution_notebook(path):
    from nbgrader.nbgraderformat import MetadataValidator

    nb = nbformat.read(path, as_version=4)
    MetadataValidator().validate_nb(nb)  # raises nbgrader's ValidationError


def test_the_exercise_notebooks_are_up_to_date(tmp_path):
    written = exercises.build(SOLUTIONS, tmp_path)
    assert sorted(p.name for p in written) == [p.name for p in SOLUTION_NOTEBOOKS]
    committed = sorted(p.name for p in EXERCISES.glob("*.ipynb"))
    assert committed == [p.name for p in SOLUTION_NOTEBOOKS]
    for path in written:
        assert path.read_text(encoding="utf-8") == (EXERCISES / path.name).read_text(
            encoding="utf-8"
        ), f"{path.name}: run `python -m rnpa exercises build`"
    assert exercises.build(SOLUTIONS, EXERCISES, check=True) == []


def test_the_build_makes_stubs_with_hints():
    solution = {
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": "[badge](https://colab.research.google.com/github/o/r/blob/main/notebooks/solutions/x.ipynb)",
            },
            {
                "cell_type": "code",
                "metadata": {
                    "nbgrader": {
                        "grade": False,
                        "solution": True,
                        "locked": False,
                        "grade_id": "a",
                        "schema_version": 3,
                    }
                },
                "source": "def f(x):\n    # Hint: return x doubled\n    ### BEGIN SOLUTION\n"
                "    return 2 * x\n    ### END SOLUTION\n\ncheck(f)",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "correct"}],
                "execution_count": 3,
            },
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    nb = exercises.exercise_notebook(solution)
    code = nb.cells[1]
    assert code.source == (
        "def f(x):\n    # Hint: return x doubled\n    # YOUR CODE HERE\n"
        '    raise NotImplementedError("return x doubled")\n\ncheck(f)'
    )
    assert code.outputs == [] and code.execution_count is None
    assert "/notebooks/exercises/x.ipynb" in nb.cells[0].source
    assert solution["cells"][1]["outputs"], "the solution is not changed"


def test_the_build_refuses_a_region_outside_a_solution_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")]
    (tmp_path / "ex09_bad.ipynb").write_text(nbformat.writes(nb), encoding="utf-8")
    with pytest.raises(RuntimeError, match="Solution region detected in a non-solution cell"):
        exercises.build(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_cli_builds_and_checks(tmp_path, capsys):
    from rnpa.cli import main

    assert main(["exercises", "build", "--solutions", str(SOLUTIONS), "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in SOLUTION_NOTEBOOKS]
    assert (
        main(
            ["exercises", "build", "--solutions", str(SOLUTIONS), "--out", str(tmp_path), "--check"]
        )
        == 0
    )
    first = sorted(tmp_path.glob("*.ipynb"))[0]
    first.write_text(first.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert (
        main(
            ["exercises", "build", "--solutions", str(SOLUTIONS), "--out", str(tmp_path), "--check"]
        )
        == 1
    )
    assert f"out of date: {first}" in capsys.readouterr().out
    assert main(["exercises", "build", "--solutions", str(tmp_path / "none")]) == 2


def _execute(path: Path, tmp_path: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return nb


@pytest.mark.parametrize("path", sorted(EXERCISES.glob("ex*.ipynb")), ids=lambda p: p.name)
def test_an_exercise_notebook_raises_only_its_stubs(path, tmp_path):
    nb = _execute(path, tmp_path)
    stub = re.compile(r'^\s*raise NotImplementedError\(("(?:[^"\\]|\\.)*")\)$', re.MULTILINE)
    hints = [ast.literal_eval(m.group(1)) for cell in nb.cells for m in stub.finditer(cell.source)]
    stubs = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        # exercise cells (answers, their tests, read-only cells that use the answers) carry
        # nbgrader metadata; every other cell must run
        is_exercise = "nbgrader" in cell.metadata
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if not is_exercise:
            assert not errors, f"{path.name}: a non-exercise cell failed: {cell.source[:200]}"
            continue
        for error in errors:
            assert error.ename == "NotImplementedError", (
                f"{path.name}: {error.ename}: {error.evalue} in {cell.source[:300]}"
            )
            assert error.evalue in hints, f"{path.name}: not a stub's error: {error.evalue}"
        if "raise NotImplementedError" in cell.source:
            assert errors, f"{path.name}: the stub did not raise: {cell.source[:300]}"
            stubs += 1
    assert stubs >= 1 and stubs == len(hints)


def test_solution_and_exercise_notebooks_are_valid_json_nbformat_4():
    for path in [*SOLUTION_NOTEBOOKS, *sorted(EXERCISES.glob("*.ipynb"))]:
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert nb["nbformat"] == 4
        nbformat.validate(nbformat.from_dict(nb))
