"""Tests for rnpa.analysis: costs by formula, receptive fields by hand, gradients."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import rnpa
from rnpa import analysis


def _batch(model: keras.Model, n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, *model.inputs[0].shape[1:])).astype("float32")
    y = rng.integers(0, int(model.outputs[0].shape[-1]), n)
    return x, y


@pytest.fixture(scope="module")
def original() -> keras.Model:
    keras.utils.set_random_seed(0)
    return rnpa.ResNetPreAct()


# ----------------------------------------------------------------------------
# formulas
# ----------------------------------------------------------------------------
def test_conv_formulas_by_hand():
    # 3x3, 64 -> 128, stride 2 on 28x28 "same": 14x14 outputs
    assert analysis.conv_macs((28, 28, 64), 128, 3, strides=2) == 14 * 14 * 3 * 3 * 64 * 128
    # "valid", non-square kernel and input: (10-3)//1+1 = 8 rows, (12-5)//1+1 = 8 cols
    assert analysis.conv_macs((10, 12, 4), 6, (3, 5), padding="valid") == 8 * 8 * 3 * 5 * 4 * 6
    # odd size with stride 2 "same": ceil(7/2) = 4
    assert analysis.conv_macs((7, 7, 2), 3, 1, strides=2) == 4 * 4 * 2 * 3
    assert analysis.conv_macs((8, 8, 8), 8, 3, groups=4) == 8 * 8 * 9 * 2 * 8
    assert analysis.conv_params(32, 128, 1, use_bias=True) == 32 * 128 + 128
    assert analysis.conv_params(3, 16, 3, use_bias=False) == 432
    assert analysis.conv_params(8, 8, (3, 1), use_bias=False, groups=2) == 3 * 4 * 8


def test_layer_table_matches_formula_for_a_conv_layer():
    inp = keras.Input((10, 12, 4))
    out = keras.layers.Conv2D(6, (3, 5), strides=(2, 1), padding="valid", name="c")(inp)
    out = keras.layers.Flatten(name="f")(out)
    out = keras.layers.Dense(7, name="d")(out)
    rows = {r.name: r for r in analysis.layer_table(keras.Model(inp, out))}
    # rows: (10-3)//2+1 = 4, cols: (12-5)//1+1 = 8
    assert rows["c"].output_shape == (4, 8, 6)
    assert rows["c"].macs == 4 * 8 * 3 * 5 * 4 * 6
    assert rows["c"].flops == 2 * rows["c"].macs
    assert rows["c"].params == 3 * 5 * 4 * 6 + 6
    assert rows["d"].macs == 4 * 8 * 6 * 7
    assert rows["f"].macs == 0


# ----------------------------------------------------------------------------
# the original network
# ----------------------------------------------------------------------------
def test_layer_table_of_the_original_network(original):
    rows = analysis.layer_table(original)
    assert [r.name for r in rows] == [layer.name for layer in original.layers]
    assert sum(r.params for r in rows) == 96_133  # the 2017 summary's total
    assert sum(r.trainable_params for r in rows) == 93_957
    by_name = {r.name: r for r in rows}
    assert by_name["conv0"].macs == 16 * 16 * 3 * 3 * 3 * 128
    assert by_name["conv0"].output_shape == (16, 16, 128)
    assert by_name["conv2b"].macs == 16 * 16 * 3 * 3 * 32 * 32
    assert by_name["fc10"].macs == 128 * 5
    for name in ("bn2a", "relu2a", "merge2", "avg_pool"):
        assert by_name[name].macs == 0 and by_name[name].flops == 0
    assert all(r.flops == 2 * r.macs for r in rows)


def test_unit_costs_of_the_original_network(original):
    costs = analysis.unit_costs(original)
    assert list(costs) == ["1", "2", "3", "4", "5"]
    # conv a 1x1 128->32, bn b, conv b 3x3 32->32, bn c, conv c 1x1 32->128 with bias
    unit1 = 128 * 32 + 4 * 32 + 9 * 32 * 32 + 4 * 32 + (32 * 128 + 128)
    assert unit1 == 17_792
    assert costs["1"].params == unit1
    for s in "2345":  # plus bn{s}a on 128 channels
        assert costs[s].params == unit1 + 4 * 128 == 18_304
        assert costs[s].output == f"merge{s}"
    assert costs["1"].layers[0] == "conv1a"  # unit 1 has no bn1a/relu1a
    unit_macs = 16 * 16 * (128 * 32 + 9 * 32 * 32 + 32 * 128)
    assert all(c.macs == unit_macs for c in costs.values())

    full = analysis.unit_costs(original, include_stem_head=True)
    assert list(full) == ["stem", "1", "2", "3", "4", "5", "head"]
    assert full["stem"].layers == ("input", "conv0", "bn0", "relu0")
    assert full["head"].layers[0] == "bnF" and full["head"].layers[-1] == "fc10"
    assert sum(c.params for c in full.values()) == original.count_params()
    assert sum(c.macs for c in full.values()) == sum(r.macs for r in analysis.layer_table(original))


def test_unit_outputs_are_the_tensor_leaving_each_unit():
    keras.utils.set_random_seed(0)
    pre = analysis.unit_outputs(rnpa.preact_resnet(20, unit="basic"))
    assert list(pre)[:2] == ["1_1", "1_2"] and len(pre) == 9
    assert all(name == f"merge{label}" for label, name in pre.items())
    post = analysis.unit_outputs(rnpa.resnet_original(20))
    assert all(name == f"relu{label}out" for label, name in post.items())
    plain_pre = analysis.unit_outputs(rnpa.plain_network(20, order="pre"))
    assert all(name == f"conv{label}b" for label, name in plain_pre.items())
    no_shortcut = analysis.unit_outputs(rnpa.ResNetPreAct(num_stages=2, use_shortcuts=False))
    assert no_shortcut == {"1": "conv1c", "2": "conv2c"}
    assert analysis.unit_label("bnproj2_1") == "2_1"
    assert analysis.unit_label("relu3_4out") == "3_4"
    assert analysis.unit_label("bnF") is None and analysis.unit_label("conv0") is None


# ----------------------------------------------------------------------------
# receptive field
# ----------------------------------------------------------------------------
def test_receptive_field_of_the_original_network(original):
    rows = {r.name: r for r in analysis.receptive_field(original)}
    assert (rows["input"].size, rows["input"].jump) == (1, 1)
    assert (rows["conv0"].size, rows["conv0"].jump) == (3, 2)
    for s in range(1, 6):  # each unit's 3x3 conv adds (3-1)*2
        assert rows[f"conv{s}b"].size == 3 + s * 4
        assert rows[f"merge{s}"].size == 3 + s * 4  # the longest path
    assert rows["reluF"].size == 23 and rows["reluF"].jump == 2
    assert rows["avg_pool"].size >= 32  # covers the whole image
    assert "fc10" not in rows and "flat" not in rows


def test_receptive_field_of_a_cifar_network():
    keras.utils.set_random_seed(0)
    rows = {r.name: r for r in analysis.receptive_field(rnpa.preact_resnet(20, unit="basic"))}
    # conv0: 3. stage 1: 6 convs of 3x3 at jump 1: +12 -> 15.
    # stage 2: stride-2 conv at jump 1: +2 -> 17 (jump 2), 5 convs at jump 2: +20 -> 37.
    # stage 3: stride-2 conv at jump 2: +4 -> 41 (jump 4), 5 convs at jump 4: +40 -> 81.
    assert rows["merge1_3"].size == 15
    assert (rows["conv2_1a"].size, rows["conv2_1a"].jump) == (17, 2)
    assert rows["merge2_3"].size == 37
    assert (rows["merge3_3"].size, rows["merge3_3"].jump) == (81, 4)
    assert rows["proj2_1"].size == 15  # the shortcut path alone sees less


# ----------------------------------------------------------------------------
# gradients
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda: rnpa.ResNetPreAct(num_stages=3),
        lambda: rnpa.preact_resnet(20, unit="basic"),
        lambda: rnpa.plain_network(20),
        lambda: rnpa.resnet_original(20),
    ],
    ids=["ResNetPreAct3", "preact20", "plain20", "resnet20"],
)
def test_gradient_norms_one_finite_positive_value_per_unit(build):
    keras.utils.set_random_seed(1)
    model = build()
    x, y = _batch(model)
    labels = list(analysis.unit_outputs(model))
    for where in analysis.WHERE:
        norms = analysis.gradient_norms(model, x, y, where=where)
        assert list(norms) == labels
        assert all(math.isfinite(v) and v > 0 for v in norms.values()), (where, norms)


def test_gradient_norms_agree_with_a_hand_computed_gradient():
    # input -> 1x1 conv (one weight k, named like a unit) -> flatten -> dense softmax
    inp = keras.Input((2, 2, 1))
    h = keras.layers.Conv2D(1, 1, use_bias=False, name="conv1a")(inp)
    out = keras.layers.Dense(3, activation="softmax", name="fc")(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    k = 0.7
    w = np.arange(12, dtype="float32").reshape(4, 3) / 10 - 0.5
    b = np.array([0.1, -0.2, 0.05], dtype="float32")
    model.get_layer("conv1a").set_weights([np.full((1, 1, 1, 1), k, "float32")])
    model.get_layer("fc").set_weights([w, b])
    x = np.arange(12, dtype="float32").reshape(3, 2, 2, 1) / 12
    y = np.array([0, 2, 1])

    flat = k * x.reshape(3, 4)
    z = flat @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(3)[y]) / 3  # mean cross-entropy over a batch of 3
    dh = dz @ w.T  # gradient at the unit's output
    dk = np.sum(dh * x.reshape(3, 4))  # gradient at its one weight

    units = analysis.gradient_norms(model, x, y)
    weights = analysis.gradient_norms(model, x, y, where="weights")
    assert units["1"] == pytest.approx(np.linalg.norm(dh), rel=1e-4)
    assert weights["1"] == pytest.approx(abs(dk), rel=1e-4)
    # a custom loss three times as large triples every norm
    tripled = analysis.gradient_norms(
        model, x, y, loss=lambda t, q: 3 * keras.losses.sparse_categorical_crossentropy(t, q)
    )
    assert tripled["1"] == pytest.approx(3 * np.linalg.norm(dh), rel=1e-4)


def test_gradient_depth_pre_activation_versus_plain():
    # He et al. 2016: the identity path carries the gradient straight to the first
    # units; a plain network of the same depth does not. At initialisation with BN
    # in inference mode (the default), seeds 0-2 gave first/last ~5 for ResNet-56
    # and ~1e-9 for plain-56.
    keras.utils.set_random_seed(0)
    pre = rnpa.preact_resnet(56, unit="basic")
    x, y = _batch(pre, n=4)
    g = list(analysis.gradient_norms(pre, x, y).values())
    assert len(g) == 27
    assert g[0] / g[-1] > 0.5

    keras.utils.set_random_seed(0)
    plain = rnpa.plain_network(56)
    g = list(analysis.gradient_norms(plain, x, y).values())
    assert g[0] / g[-1] < 1e-3


def test_training_mode_uses_batch_statistics_and_leaves_the_model_unchanged(original):
    x, y = _batch(original)
    before = [v.numpy().copy() for v in original.weights]
    inference = analysis.gradient_norms(original, x, y)
    training = analysis.gradient_norms(original, x, y, training=True)
    assert inference.keys() == training.keys()
    assert any(abs(inference[k] - training[k]) > 1e-3 * inference[k] for k in inference)
    analysis.activation_stats(original, x, training=True)
    for var, old in zip(original.weights, before, strict=True):
        np.testing.assert_array_equal(var.numpy(), old, err_msg=var.path)


# ----------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------
def test_activation_stats(original):
    x, _ = _batch(original)
    stats = analysis.activation_stats(original, x)
    assert list(stats) == [f"merge{s}" for s in range(1, 6)]
    chosen = analysis.activation_stats(original, x, ["relu0", "fc10", "conv0"])
    assert list(chosen) == ["relu0", "fc10", "conv0"]
    # softmax rows sum to 1: the mean over 5 classes is 1/5
    assert chosen["fc10"]["mean"] == pytest.approx(1 / 5, rel=1e-5)
    assert 0.1 < chosen["relu0"]["zero_fraction"] < 0.9
    assert chosen["conv0"]["zero_fraction"] < 0.01
    conv0 = keras.Model(original.inputs[0], original.get_layer("conv0").output)(x).numpy()
    assert chosen["conv0"]["std"] == pytest.approx(float(conv0.std()), rel=1e-4)
    assert chosen["conv0"]["mean"] == pytest.approx(float(conv0.mean()), rel=1e-3, abs=1e-6)


# ----------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------
def test_errors_name_the_argument(original):
    x, y = _batch(original)
    with pytest.raises(TypeError, match="model must be a built keras.Model"):
        analysis.layer_table("rnpa")
    with pytest.raises(TypeError, match="model"):
        analysis.gradient_norms(None, x, y)
    with pytest.raises(ValueError, match=r"x must have shape \(batch,\) \+ \(32, 32, 3\)"):
        analysis.gradient_norms(original, x[:, :16], y)
    with pytest.raises(ValueError, match=r"y must have one label per image in x \(4\)"):
        analysis.gradient_norms(original, x, y[:3])
    with pytest.raises(ValueError, match=r"y must be integer class labels .* \[0, 5\)"):
        analysis.gradient_norms(original, x, np.array([0, 1, 2, 5]))
    with pytest.raises(ValueError, match="where must be one of 'units', 'weights'; got 'bias'"):
        analysis.gradient_norms(original, x, y, where="bias")
    with pytest.raises(TypeError, match="training must be True or False"):
        analysis.gradient_norms(original, x, y, training=1)
    with pytest.raises(ValueError, match=r"layer_names .* unknown \['conv9z'\]"):
        analysis.activation_stats(original, x, ["conv0", "conv9z"])
    with pytest.raises(ValueError, match="padding must be 'same' or 'valid', got 'full'"):
        analysis.conv_macs((8, 8, 3), 4, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        analysis.conv_params(3, 4, 0, use_bias=False)
    with pytest.raises(ValueError, match="input_shape must be"):
        analysis.conv_macs((8, 8), 4, 3)
    with pytest.raises(ValueError, match="no layers named like rnpa units"):
        inp = keras.Input((4,))
        tiny = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(inp))
        analysis.gradient_norms(tiny, np.zeros((1, 4)), [0])


# ----------------------------------------------------------------------------
# the naming contract and option A shortcuts
# ----------------------------------------------------------------------------
def test_unit_costs_place_the_bn_after_the_addition_in_its_unit():
    """Order (b) has bn{L}out after merge{L}: part of the unit, not a stray layer."""
    model = rnpa.cifar_resnet(8, order="bn_after_add")
    full = analysis.unit_costs(model, include_stem_head=True)
    assert list(full) == ["stem", "1_1", "2_1", "3_1", "head"]
    assert full["1_1"].layers[-2:] == ("bn1_1out", "relu1_1out")
    assert full["2_1"].params == (
        conv_params_(3, 16, 32)
        + conv_params_(3, 32, 32)
        + 4 * 32  # bn2_1a
        + conv_params_(1, 16, 32)  # proj2_1, no BN in this order
        + 4 * 32
    )  # bn2_1out
    assert sum(c.params for c in full.values()) == model.count_params()


def conv_params_(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out


def test_option_a_shortcut_costs_nothing_and_belongs_to_its_unit():
    model = rnpa.resnet_original(8, shortcut_type="zeros")
    costs = analysis.unit_costs(model)
    assert "down2_1" in costs["2_1"].layers and "pad2_1" in costs["2_1"].layers
    rows = {r.name: r for r in analysis.layer_table(model)}
    for name in ("down2_1", "pad2_1", "down3_1", "pad3_1"):
        assert rows[name].params == 0 and rows[name].macs == 0
    # unit 2_1: conv a 3x3 16->32 at 16x16, BN, conv b 3x3 32->32, BN; nothing for the shortcut
    assert costs["2_1"].params == conv_params_(3, 16, 32) + conv_params_(3, 32, 32) + 2 * 4 * 32
    assert costs["2_1"].macs == 16 * 16 * (conv_params_(3, 16, 32) + conv_params_(3, 32, 32))
    rf = {r.name: r for r in analysis.receptive_field(model)}
    # the subsampling doubles the jump without growing the field (a 1x1 window)
    assert (rf["down2_1"].size, rf["down2_1"].jump) == (rf["relu1_1out"].size, 2)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (lambda: keras.layers.DepthwiseConv2D(3, padding="same", name="odd"), (8, 8, 3)),
        (lambda: keras.layers.SeparableConv2D(4, 3, padding="same", name="odd"), (8, 8, 3)),
        (lambda: keras.layers.Conv2DTranspose(4, 3, padding="same", name="odd"), (8, 8, 3)),
        (lambda: keras.layers.Conv1D(4, 3, name="odd"), (8, 3)),
        (lambda: keras.layers.Conv3D(4, 3, name="odd"), (8, 8, 8, 3)),
        (lambda: keras.layers.MaxPooling1D(2, name="odd"), (8, 3)),
    ],
    ids=["depthwise", "separable", "transposed", "conv1d", "conv3d", "pool1d"],
)
def test_layers_rnpa_networks_do_not_have_are_refused_not_counted_as_zero(layer, shape):
    inp = keras.Input(shape)
    out = keras.layers.Flatten()(layer()(inp))
    model = keras.Model(inp, keras.layers.Dense(2, name="d")(out))
    with pytest.raises(ValueError, match=r"layer 'odd' \(\w+\) is not one rnpa.analysis measures"):
        analysis.layer_table(model)
    with pytest.raises(ValueError, match="layer 'odd'"):
        analysis.receptive_field(model)


def test_unit_label_follows_the_blocks_contract():
    from rnpa.blocks import layer_name

    for role, part in (
        ("bn", "a"),
        ("relu", "out"),
        ("bn", "out"),
        ("conv", "c"),
        ("proj", None),
        ("bnproj", None),
        ("down", None),
        ("pad", None),
        ("merge", None),
    ):
        assert analysis.unit_label(layer_name(role, "3_7", part)) == "3_7"
