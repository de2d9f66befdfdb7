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
        "x",
        "conv1a",
        "bn1b",
        "relu1b",
        "conv1b",
        "bn1c",
        "relu1c",
        "conv1c",
        "merge1",
    ]
    m3 = unit_model(residual_block, (16, 16, 128), filters=[32, 32, 128], stage=3)
    assert names(m3) == [
        "x",
        "bn3a",
        "relu3a",
        "conv3a",
        "bn3b",
        "relu3b",
        "conv3b",
        "bn3c",
        "relu3c",
        "conv3c",
        "merge3",
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
        "x",
        "conv1a",
        "bn1a",
        "relu1a",
        "conv1b",
        "bn1b",
        "merge1",
        "relu1out",
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
    kinds = {
        keras.layers.Conv2D: "conv",
        keras.layers.Add: "add",
        keras.layers.Activation: "relu",
        keras.layers.BatchNormalization: "bn",
    }
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
        residual_unit,
        (8, 8, 16),
        filters=[8, 8, 32],
        label=1,
        kind="bottleneck",
        order=order,
        strides=2,
    )
    assert producer(m.get_layer("proj1").input).name == projection_input
    names_ = names(m)
    assert ("bnproj1" in names_) is projection_bn
    assert m.output_shape == (None, 4, 4, 32)
    assert m.get_layer("conv1b").strides == (2, 2)


def test_relu_preact_can_skip_its_first_relu_and_post_orders_cannot():
    m = unit_model(
        residual_unit,
        filters=[16, 16],
        label=1,
        kind="basic",
        order="relu_preact",
        preactivate_input=False,
    )
    assert branch_sequence(m) == ["conv", "bn", "relu", "conv", "bn", "add"]
    for order in ("post", "bn_after_add", "relu_before_add"):
        with pytest.raises(ValueError, match="preactivate_input=False only applies"):
            residual_unit(
                keras.Input(shape=(8, 8, 16)),
                [16, 16],
                1,
                kind="basic",
                order=order,
                preactivate_input=False,
            )


def test_order_names_follow_the_paper():
    from rnpa.blocks import ORDER_NAMES, ORDERS

    assert set(ORDER_NAMES) == set(ORDERS)
    assert ORDER_NAMES["post"] == "original" and ORDER_NAMES["pre"] == "full pre-activation"


# ---------------------------------------------------------------------------
# unit kinds: described once
# ---------------------------------------------------------------------------
def test_unit_kinds_describe_the_papers_units():
    from rnpa.blocks import KINDS, UNIT_KINDS

    assert KINDS == ("bottleneck", "basic")
    bottleneck, basic = UNIT_KINDS["bottleneck"], UNIT_KINDS["basic"]
    # He et al. 2015, Fig. 5: 1x1-3x3-1x1 expanding 4x; two 3x3
    assert (bottleneck.kernels, bottleneck.n_convs, bottleneck.widths(16)) == (
        (1, 3, 1),
        3,
        (16, 16, 64),
    )
    assert (basic.kernels, basic.n_convs, basic.widths(16)) == ((3, 3), 2, (16, 16))
    # three stages: depth 9n+2 and 6n+2
    assert bottleneck.depth_form(3) == (9, "9n+2")
    assert basic.depth_form(3) == (6, "6n+2")


@pytest.mark.parametrize("kind", ["bottleneck", "basic"])
def test_residual_unit_builds_what_the_kind_describes(kind):
    from rnpa.blocks import UNIT_KINDS

    desc = UNIT_KINDS[kind]
    m = unit_model(
        residual_unit, (8, 8, 16), filters=list(desc.widths(8)), label=1, kind=kind, strides=2
    )
    convs = [
        la
        for la in m.layers
        if isinstance(la, keras.layers.Conv2D) and not la.name.startswith("proj")
    ]
    assert [c.kernel_size[0] for c in convs] == list(desc.kernels)
    assert [c.strides[0] for c in convs] == [
        2 if i == desc.stride_at else 1 for i in range(desc.n_convs)
    ]
    assert [c.filters for c in convs] == list(desc.widths(8))


def test_unit_kind_is_frozen():
    import dataclasses

    from rnpa.blocks import UNIT_KINDS

    with pytest.raises(dataclasses.FrozenInstanceError):
        UNIT_KINDS["basic"].expansion = 2


# ---------------------------------------------------------------------------
# the naming contract
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("bn", "2_1", "a"), "bn2_1a"),
        (("relu", 3, "out"), "relu3out"),
        (("bn", "1_1", "out"), "bn1_1out"),
        (("conv", 5, "c"), "conv5c"),
        (("proj", "2_1"), "proj2_1"),
        (("bnproj", "u"), "bnproju"),
        (("down", "3_1"), "down3_1"),
        (("pad", "3_1"), "pad3_1"),
        (("merge", 4), "merge4"),
    ],
)
def test_layer_name_and_parse_layer_name(args, name):
    from rnpa.blocks import layer_name, parse_layer_name

    assert layer_name(*args) == name
    role, label, *part = args
    assert parse_layer_name(name) == (role, str(label), part[0] if part else None)


@pytest.mark.parametrize(
    "name",
    [
        "input",
        "conv0",
        "bn0",
        "relu0",
        "bnF",
        "reluF",
        "convF",
        "avg_pool",
        "flat",
        "fc10",
        "fc",
        "conv2d",
        "dense_1",
    ],
)
def test_stem_head_and_keras_names_are_no_unit_layers(name):
    from rnpa.blocks import parse_layer_name

    assert parse_layer_name(name) is None


@pytest.mark.parametrize(
    ("args", "exc", "words"),
    [
        (("bn", "proj1", "a"), ValueError, "read back as"),  # would read as bnproj + "1a"
        (("conv", 1, "out"), ValueError, "part must be one of"),
        (("merge", 1, "a"), ValueError, "has no part"),
        (("bn", 1, None), ValueError, "part must be one of"),
        (("bn", "x-y", "a"), ValueError, "label must be"),
        (("bn", "", "a"), ValueError, "label must be"),
        (("bn", True, "a"), TypeError, "label must be"),
        (("fc", 1, None), ValueError, "role must be one of"),
    ],
)
def test_layer_name_refuses_what_would_not_read_back(args, exc, words):
    from rnpa.blocks import layer_name

    with pytest.raises(exc, match=words):
        layer_name(*args)


def test_residual_unit_refuses_a_label_that_cannot_name_layers():
    with pytest.raises(ValueError, match="label must be"):
        residual_unit(keras.Input(shape=(8, 8, 16)), [16, 16], "a b", kind="basic")


# ---------------------------------------------------------------------------
# option A: the zero-padding shortcut
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["post", "pre"])
@pytest.mark.parametrize("hw", [8, 7])
def test_zeros_shortcut_is_the_subsampled_input_with_zero_channels(order, hw):
    """He et al. 2015, Sec. 3.3 option A: identity, subsampled, extra channels zero."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, hw, hw, 16)).astype("float32")
    m = unit_model(
        residual_unit,
        (hw, hw, 16),
        filters=[32, 32],
        label=1,
        kind="basic",
        order=order,
        strides=2,
        shortcut_type="zeros",
    )
    assert not any(la.name.startswith(("proj", "bnproj")) for la in m.layers)
    merge = m.get_layer("merge1")
    skip = next(t for t in merge.input if producer(t).name == "pad1")
    out = keras.Model(m.input, skip)(x).numpy()
    expected = np.concatenate(
        [x[:, ::2, ::2], np.zeros((2, (hw + 1) // 2, (hw + 1) // 2, 16), "float32")], axis=-1
    )
    np.testing.assert_array_equal(out, expected)
    # parameter free: the unit has exactly the weights of its branch
    branch = sum(
        int(np.prod(w.shape))
        for la in m.layers
        if la.name.startswith(("conv", "bn"))
        for w in la.weights
    )
    assert m.count_params() == branch
    # the zero shortcut takes the raw input, before any pre-activation
    assert producer(m.get_layer("down1").input).name == "x"


def test_zeros_shortcut_with_the_same_size_is_the_identity():
    m = unit_model(
        residual_unit, (8, 8, 16), filters=[16, 16], label=1, kind="basic", shortcut_type="zeros"
    )
    assert {producer(t).name for t in m.get_layer("merge1").input} == {"conv1b", "x"}


def test_zeros_shortcut_pads_without_subsampling_at_stride_1():
    m = unit_model(
        residual_unit,
        (8, 8, 16),
        filters=[8, 8, 32],
        label=1,
        kind="bottleneck",
        shortcut_type="zeros",
    )
    assert "down1" not in names(m) and "pad1" in names(m)
    x = np.random.default_rng(5).normal(size=(1, 8, 8, 16)).astype("float32")
    padded = keras.Model(m.input, m.get_layer("pad1").output)(x).numpy()
    np.testing.assert_array_equal(padded[..., :16], x)
    np.testing.assert_array_equal(padded[..., 16:], 0)


def test_zeros_shortcut_cannot_drop_channels_and_type_is_checked():
    with pytest.raises(ValueError, match=r"shortcut_type='zeros' pads channels .* \(8\)"):
        residual_unit(keras.Input(shape=(8, 8, 16)), [8, 8], 1, kind="basic", shortcut_type="zeros")
    with pytest.raises(ValueError, match="shortcut_type must be one of 'projection', 'zeros'"):
        residual_unit(keras.Input(shape=(8, 8, 16)), [16, 16], 1, kind="basic", shortcut_type="A")


def test_a_unit_kind_of_ones_own_builds_from_its_description():
    """A new kind is one description: here three 3x3 convolutions, stride on the last."""
    from rnpa.blocks import UnitKind

    deep = UnitKind("deep", kernels=(3, 3, 3), stride_at=2, expansion=2, filters_doc="[w, w, 2w]")
    m = unit_model(
        residual_unit,
        (8, 8, 16),
        filters=list(deep.widths(8)),
        label=1,
        kind=deep,
        order="post",
        strides=2,
    )
    assert [m.get_layer(f"conv1{p}").strides for p in "abc"] == [(1, 1), (1, 1), (2, 2)]
    assert [m.get_layer(f"conv1{p}").kernel.shape[0] for p in "abc"] == [3, 3, 3]
    assert m.output_shape == (None, 4, 4, 16)
    assert deep.depth_form(3) == (9, "9n+2")
