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


# ---------------------------------------------------------------------------
# the five orders of He et al. 2016, Fig. 4 (a)-(e)
# ---------------------------------------------------------------------------
def branch_sequence(model) -> list[str]:
    """The layer kinds from the input to the output along the residual branch.

    Walks back from the output, at an addition following the input that does not
    come straight from the unit's input (the branch, not the shortcut).
    """
    kinds = {keras.layers.Conv2D: "conv", keras.layers.Add: "add",
             keras.layers.Activation: "relu", keras.layers.BatchNormalization: "bn"}
    seq, layer = [], producer(model.output)
    while layer.name != "x":
        seq.append(next(v for k, v in kinds.items() if isinstance(layer, k)))
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        previous = [producer(t) for t in inputs]
        layer = next((p for p in previous if p.name != "x"), previous[0])
    return seq[::-1]


@pytest.mark.parametrize(
    ("order", "expected"),
    [  # basic unit, identity shortcut: what the paper's Fig. 4 draws
        ("post", ["conv", "bn", "relu", "conv", "bn", "add", "relu"]),
        ("bn_after_add", ["conv", "bn", "relu", "conv", "add", "bn", "relu"]),
        ("relu_before_add", ["conv", "bn", "relu", "conv", "bn", "relu", "add"]),
        ("relu_preact", ["relu", "conv", "bn", "relu", "conv", "bn", "add"]),
        ("pre", ["bn", "relu", "conv", "bn", "relu", "conv", "add"]),
    ],
)
def test_each_order_puts_bn_relu_and_addition_where_the_paper_does(order, expected):
    m = unit_model(residual_unit, filters=[16, 16], label=1, kind="basic", order=order)
    assert branch_sequence(m) == expected
    # the shortcut is the unit's input itself
    merge = m.get_layer("merge1")
    assert "x" in {producer(t).name for t in merge.input}


@pytest.mark.parametrize("order", ["relu_before_add", "relu_preact"])
def test_orders_with_nothing_after_the_addition_pass_x_through_a_zero_branch(order):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 8, 16)).astype("float32")
    m = unit_model(residual_unit, filters=[16, 16], label=1, kind="basic", order=order)
    bn = m.get_layer("bn1b")  # the branch's last BN: gamma = beta = 0 makes F = 0
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([np.zeros_like(gamma), np.zeros_like(beta), mean, var])
    np.testing.assert_array_equal(m(x, training=False).numpy(), x)


def test_bn_after_addition_normalises_the_stream_itself():
    """With a zero branch, order (b) still changes x: ReLU(BN(x)), computed here by hand."""
    rng = np.random.default_rng(2)
    x = rng.normal(1.0, 3.0, size=(2, 8, 8, 16)).astype("float32")
    m = unit_model(residual_unit, filters=[16, 16], label=1, kind="basic", order="bn_after_add")
    _zero_last_conv(m, 1, "b")
    bn = m.get_layer("bn1out")
    gamma = rng.uniform(0.5, 2, 16).astype("float32")
    beta, mean = rng.normal(size=16).astype("float32"), rng.normal(size=16).astype("float32")
    var = rng.uniform(0.5, 4, 16).astype("float32")
    bn.set_weights([gamma, beta, mean, var])
    expected = np.maximum(gamma * (x - mean) / np.sqrt(var + bn.epsilon) + beta, 0)
    np.testing.assert_allclose(m(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_relu_before_addition_makes_the_stream_only_grow():
    """Order (c): the branch is non-negative, so every unit's output is >= its input."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 8, 8, 16)).astype("float32")
    m = unit_model(residual_unit, filters=[16, 16], label=1, kind="basic", order="relu_before_add")
    out = m(x, training=False).numpy()
    assert np.all(out >= x - 1e-6)
    assert np.any(out > x + 1e-3)


@pytest.mark.parametrize(
    ("order", "projection_input", "projection_bn"),
    [
        ("post", "x", True),
        ("bn_after_add", "x", False),
        ("relu_before_add", "x", True),
        ("relu_preact", "relu1a", True),
        ("pre", "relu1a", False),
    ],
)
def test_projection_shortcut_of_each_order(order, projection_input, projection_bn):
    m = unit_model(
        residual_unit, (8, 8, 16), filters=[8, 8, 32], label=1, kind="bottleneck",
        order=order, strides=2,
    )
    assert producer(m.get_layer("proj1").input).name == projection_input
    names_ = names(m)
    assert ("bnproj1" in names_) is projection_bn
    assert m.output_shape == (None, 4, 4, 32)
    assert m.get_layer("conv1b").strides == (2, 2)


def test_relu_preact_can_skip_its_first_relu_and_post_orders_cannot():
    m = unit_model(
        residual_unit, filters=[16, 16], label=1, kind="basic", order="relu_preact",
        preactivate_input=False,
    )
    assert branch_sequence(m) == ["conv", "bn", "relu", "conv", "bn", "add"]
    for order in ("post", "bn_after_add", "relu_before_add"):
        with pytest.raises(ValueError, match="preactivate_input=False only applies"):
            residual_unit(keras.Input(shape=(8, 8, 16)), [16, 16], 1, kind="basic",
                          order=order, preactivate_input=False)


def test_order_names_follow_the_paper():
    from rnpa.blocks import ORDER_NAMES, ORDERS

    assert set(ORDER_NAMES) == set(ORDERS)
    assert ORDER_NAMES["post"] == "original" and ORDER_NAMES["pre"] == "full pre-activation"
