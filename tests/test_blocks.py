"""rnpa.blocks: the 2017 unit and the generalised units, on built graphs and numbers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnpa.blocks import (
    postact_basic,
    postact_bottleneck,
    preact_basic,
    preact_bottleneck,
    residual_block,
    residual_unit,
)


def producer(tensor) -> keras.layers.Layer:
    return tensor._keras_history.operation


def unit_model(fn, input_shape=(8, 8, 16), **kwargs) -> keras.Model:
    inp = keras.Input(shape=input_shape, name="x")
    return keras.Model(inp, fn(inp, **kwargs))


def names(model) -> list[str]:
    return [la.name for la in model.layers]


# ---------------------------------------------------------------------------
# the 2017 residual_block
# ---------------------------------------------------------------------------
def test_residual_block_stage1_and_later_stages():
    m1 = unit_model(residual_block, (16, 16, 128), filters=[32, 32, 128], stage=1)
    assert names(m1) == [
        "x", "conv1a", "bn1b", "relu1b", "conv1b", "bn1c", "relu1c", "conv1c", "merge1",
    ]
    m3 = unit_model(residual_block, (16, 16, 128), filters=[32, 32, 128], stage=3)
    assert names(m3) == [
        "x", "bn3a", "relu3a", "conv3a", "bn3b", "relu3b", "conv3b", "bn3c", "relu3c",
        "conv3c", "merge3",
    ]
    # kernel sizes, biases, shapes
    assert m3.get_layer("conv3a").kernel.shape == (1, 1, 128, 32)
    assert m3.get_layer("conv3b").kernel.shape == (3, 3, 32, 32)
    assert m3.get_layer("conv3c").kernel.shape == (1, 1, 32, 128)
    assert [m3.get_layer(f"conv3{p}").use_bias for p in "abc"] == [False, False, True]
    assert m3.output_shape == (None, 16, 16, 128)


def test_residual_block_adds_its_input():
    m = unit_model(residual_block, (16, 16, 128), filters=[32, 32, 128], stage=2)
    assert {producer(t).name for t in m.get_layer("merge2").input} == {"conv2c", "x"}


def test_residual_block_without_shortcut_is_plain():
    m = unit_model(
        residual_block, (16, 16, 128), filters=[32, 32, 64], stage=2, use_shortcuts=False
    )
    assert not any(isinstance(la, keras.layers.Add) for la in m.layers)
    assert m.output_shape == (None, 16, 16, 64)


def test_residual_block_regularises_every_kernel():
    m = unit_model(residual_block, (16, 16, 128), filters=[32, 32, 128], stage=2, reg=0.01)
    kernels = [m.get_layer(f"conv2{p}").kernel.numpy() for p in "abc"]
    assert len(m.losses) == 3
    assert float(sum(m.losses)) == pytest.approx(
        sum(0.01 * float(np.sum(k**2)) for k in kernels), rel=1e-5
    )


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"filters": [32, 32]}, ValueError, "filters"),
        ({"filters": [32, 0, 128]}, ValueError, "filters"),
        ({"filters": [32, -3, 128]}, ValueError, "filters"),
        ({"filters": "32"}, TypeError, "filters"),
        ({"filters": [32, 32, 64]}, ValueError, "filters\\[2\\] must equal"),
        ({"stage": 0}, ValueError, "stage"),
        ({"stage": "1"}, TypeError, "stage"),
        ({"reg": -1.0}, ValueError, "reg"),
        ({"use_shortcuts": "no"}, TypeError, "use_shortcuts"),
    ],
)
def test_residual_block_bad_input(kwargs, exc, words):
    args = {"filters": [32, 32, 128], "stage": 2} | kwargs
    inp = keras.Input(shape=(16, 16, 128))
    with pytest.raises(exc, match=words):
        residual_block(inp, **args)


def test_residual_block_rejects_a_tensor_of_the_wrong_rank():
    with pytest.raises(ValueError, match="4-D"):
        residual_block(keras.Input(shape=(128,)), [32, 32, 128], stage=2)


# ---------------------------------------------------------------------------
# generalised units
# ---------------------------------------------------------------------------
def test_preact_projection_sees_the_preactivated_input():
    m = unit_model(preact_bottleneck, (8, 8, 16), filters=[8, 8, 32], label="u", strides=2)
    proj = m.get_layer("proju")
    assert producer(proj.input).name == "reluua"  # He et al. 2016: shared BN-ReLU
    assert proj.strides == (2, 2)
    assert proj.kernel.shape == (1, 1, 16, 32)
    # the stride is in the 3x3 convolution
    assert m.get_layer("convub").strides == (2, 2)
    assert m.get_layer("convua").strides == (1, 1)
    assert m.output_shape == (None, 4, 4, 32)
    assert {producer(t).name for t in m.get_layer("mergeu").input} == {"convuc", "proju"}


def test_preact_basic_unit():
    m = unit_model(preact_basic, (8, 8, 16), filters=[16, 16], label=7)
    assert names(m) == ["x", "bn7a", "relu7a", "conv7a", "bn7b", "relu7b", "conv7b", "merge7"]
    assert m.get_layer("conv7a").kernel.shape == (3, 3, 16, 16)
    assert {producer(t).name for t in m.get_layer("merge7").input} == {"conv7b", "x"}


def test_postact_units_have_relu_after_the_addition():
    m = unit_model(postact_basic, (8, 8, 16), filters=[16, 16], label=1)
    assert names(m) == [
        "x", "conv1a", "bn1a", "relu1a", "conv1b", "bn1b", "merge1", "relu1out",
    ]
    m2 = unit_model(postact_bottleneck, (8, 8, 16), filters=[8, 8, 32], label=2, strides=2)
    # projection (conv + BN) on the raw input, option B of He et al. 2015
    assert producer(m2.get_layer("proj2").input).name == "x"
    assert producer(m2.get_layer("bnproj2").input).name == "proj2"
    assert m2.output_shape == (None, 4, 4, 32)
    assert m2.layers[-1].name == "relu2out"


def test_plain_units_have_no_addition_but_the_same_convolutions():
    for order in ("pre", "post"):
        res = unit_model(residual_unit, filters=[16, 16], label=1, kind="basic", order=order)
        plain = unit_model(
            residual_unit, filters=[16, 16], label=1, kind="basic", order=order, shortcut=False
        )
        assert not any(isinstance(la, keras.layers.Add) for la in plain.layers)
        conv_names = [la.name for la in res.layers if isinstance(la, keras.layers.Conv2D)]
        assert conv_names == [la.name for la in plain.layers if isinstance(la, keras.layers.Conv2D)]


def _zero_last_conv(model, label, last):
    conv = model.get_layer(f"conv{label}{last}")
    conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])


def test_preact_unit_with_a_zero_branch_is_exactly_the_identity():
    """Nothing after the addition: with F = 0 the unit passes x through unchanged."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 8, 8, 16)).astype("float32")  # negative values included
    m = unit_model(preact_bottleneck, (8, 8, 16), filters=[8, 8, 16], label=1)
    _zero_last_conv(m, 1, "c")
    np.testing.assert_array_equal(m(x, training=False).numpy(), x)


def test_postact_unit_with_a_zero_branch_is_relu_of_the_input():
    """The original unit's ReLU after the addition changes the identity path."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 8, 8, 16)).astype("float32")
    m = unit_model(postact_basic, (8, 8, 16), filters=[16, 16], label=1)
    bn = m.get_layer("bn1b")  # F = BN(conv(.)) is zero when gamma = beta = 0
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([np.zeros_like(gamma), np.zeros_like(beta), mean, var])
    out = m(x, training=False).numpy()
    np.testing.assert_allclose(out, np.maximum(x, 0), atol=1e-6)
    assert not np.allclose(out, x)


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"kind": "wide"}, ValueError, "kind"),
        ({"order": "sideways"}, ValueError, "order"),
        ({"filters": [8, 8, 8]}, ValueError, "2 entries"),
        ({"strides": 0}, ValueError, "strides"),
        ({"shortcut": 1}, TypeError, "shortcut"),
        ({"reg": -0.5}, ValueError, "reg"),
        ({"order": "post", "preactivate_input": False}, ValueError, "preactivate_input"),
    ],
)
def test_residual_unit_bad_input(kwargs, exc, words):
    args = {"filters": [16, 16], "label": 1, "kind": "basic"} | kwargs
    with pytest.raises(exc, match=words):
        residual_unit(keras.Input(shape=(8, 8, 16)), **args)
