"""rnpa.models: the 2017 network layer by layer, the paper's family, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import rnpa
from rnpa import models
from rnpa.blocks import layer_name, parse_layer_name
from rnpa.models import (
    ResNetPreAct,
    build_model,
    cifar_resnet,
    plain_network,
    preact_resnet,
    resnet_original,
)


def n_params(layer) -> int:
    return int(sum(np.prod(w.shape) for w in layer.weights))


def producer(tensor) -> keras.layers.Layer:
    """The layer that produced a symbolic tensor of a functional model."""
    return tensor._keras_history.operation


def conv_params(k: int, c_in: int, c_out: int, bias: bool) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


def bn_params(c: int) -> int:
    return 4 * c  # gamma, beta (trainable), moving mean, moving variance


def expected_original_layers(num_stages=5, nb_classes=5, final_conv=False, hw=(16, 16)):
    """The 2017 summary, written out by hand: (name, type, output shape, params)."""
    h, w = hw
    rows = [
        ("input", "InputLayer", None, 0),
        ("conv0", "Conv2D", (h, w, 128), conv_params(3, 3, 128, False)),
        ("bn0", "BatchNormalization", (h, w, 128), bn_params(128)),
        ("relu0", "Activation", (h, w, 128), 0),
    ]
    for s in range(1, num_stages + 1):
        if s > 1:
            rows += [
                (f"bn{s}a", "BatchNormalization", (h, w, 128), bn_params(128)),
                (f"relu{s}a", "Activation", (h, w, 128), 0),
            ]
        rows += [
            (f"conv{s}a", "Conv2D", (h, w, 32), conv_params(1, 128, 32, False)),
            (f"bn{s}b", "BatchNormalization", (h, w, 32), bn_params(32)),
            (f"relu{s}b", "Activation", (h, w, 32), 0),
            (f"conv{s}b", "Conv2D", (h, w, 32), conv_params(3, 32, 32, False)),
            (f"bn{s}c", "BatchNormalization", (h, w, 32), bn_params(32)),
            (f"relu{s}c", "Activation", (h, w, 32), 0),
            (f"conv{s}c", "Conv2D", (h, w, 128), conv_params(1, 32, 128, True)),
            (f"merge{s}", "Add", (h, w, 128), 0),
        ]
    rows += [
        ("bnF", "BatchNormalization", (h, w, 128), bn_params(128)),
        ("reluF", "Activation", (h, w, 128), 0),
    ]
    c = 128
    if final_conv:
        rows.append(("convF", "Conv2D", (h, w, 64), conv_params(3, 128, 64, True)))
        c = 64
    rows += [
        ("avg_pool", "AveragePooling2D", (1, 1, c), 0),
        ("flat", "Flatten", (c,), 0),
        ("fc10", "Dense", (nb_classes,), c * nb_classes + nb_classes),
    ]
    return rows


def actual_layers(model):
    rows = []
    for layer in model.layers:
        shape = None if layer.__class__.__name__ == "InputLayer" else tuple(layer.output.shape[1:])
        rows.append((layer.name, layer.__class__.__name__, shape, n_params(layer)))
    return rows


# ---------------------------------------------------------------------------
# the 2017 network
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def original():
    return ResNetPreAct()


def test_default_network_totals_are_the_2017_summary(original):
    # the figures printed by the 2017 notebook's model.summary()
    trainable = sum(int(np.prod(w.shape)) for w in original.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in original.non_trainable_weights)
    assert original.count_params() == 96_133
    assert trainable == 93_957
    assert non_trainable == 2_176
    assert original.name == "rnpa"


def test_default_network_layer_by_layer(original):
    assert actual_layers(original) == expected_original_layers()
    assert original.output_shape == (None, 5)


def test_summary_prints_the_three_totals(original, capsys):
    original.summary()
    out = capsys.readouterr().out
    assert "Total params: 96,133" in out
    assert "Trainable params: 93,957" in out
    assert "Non-trainable params: 2,176" in out


def test_shortcuts_are_identity_and_stage1_skips_the_first_bn_relu(original):
    # merge{s} adds conv{s}c and the unit's input (relu0 for stage 1, merge{s-1} after)
    assert {producer(t).name for t in original.get_layer("merge1").input} == {"conv1c", "relu0"}
    for s in range(2, 6):
        inputs = {producer(t).name for t in original.get_layer(f"merge{s}").input}
        assert inputs == {f"conv{s}c", f"merge{s - 1}"}
    assert producer(original.get_layer("conv1a").input).name == "relu0"


def test_pre_activation_order_on_the_graph(original):
    """Inside each unit every conv is fed by a ReLU that is fed by a BN (BN-ReLU-conv)."""
    for s in range(1, 6):
        for part in "abc":
            if s == 1 and part == "a":
                continue
            relu = producer(original.get_layer(f"conv{s}{part}").input)
            assert isinstance(relu, keras.layers.Activation)
            assert relu.get_config()["activation"] == "relu"
            bn = producer(relu.input)
            assert isinstance(bn, keras.layers.BatchNormalization)
        # the unit's first BN reads the previous unit's sum: nothing between add and BN
        if s > 1:
            assert producer(original.get_layer(f"bn{s}a").input).name == f"merge{s - 1}"
        # the biases: only the last conv of a unit has one
        assert original.get_layer(f"conv{s}c").use_bias
        assert not original.get_layer(f"conv{s}a").use_bias
        assert not original.get_layer(f"conv{s}b").use_bias


def test_head_pools_the_whole_map_and_softmax(original):
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    probs = original.predict(x, verbose=0)
    assert probs.shape == (4, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    relu_f = keras.Model(original.input, original.get_layer("reluF").output)(x).numpy()
    pooled = keras.Model(original.input, original.get_layer("flat").output)(x).numpy()
    np.testing.assert_allclose(pooled, relu_f.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_final_conv():
    model = ResNetPreAct(use_final_conv=True)
    assert actual_layers(model) == expected_original_layers(final_conv=True)
    assert model.count_params() == 96_133 - 645 + conv_params(3, 128, 64, True) + 64 * 5 + 5


@pytest.mark.parametrize("num_stages", [0, 1, 3, 8])
def test_other_num_stages(num_stages):
    model = ResNetPreAct(num_stages=num_stages)
    assert actual_layers(model) == expected_original_layers(num_stages=num_stages)
    assert sum(isinstance(la, keras.layers.Add) for la in model.layers) == num_stages


def test_nb_classes():
    model = ResNetPreAct(nb_classes=10)
    assert actual_layers(model) == expected_original_layers(nb_classes=10)
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize(
    ("input_shape", "hw"),
    [
        ((48, 64, 3), (24, 32)),
        ((64, 64, 3), (32, 32)),
        ((33, 17, 3), (17, 9)),
        ((32, 32, 1), (16, 16)),
    ],
)
def test_non_square_and_larger_inputs(input_shape, hw):
    model = ResNetPreAct(input_shape=input_shape)
    expected = expected_original_layers(hw=hw)
    # conv0's parameters depend on the input channels
    expected[1] = ("conv0", "Conv2D", (*hw, 128), conv_params(3, input_shape[2], 128, False))
    assert actual_layers(model) == expected
    assert model.get_layer("avg_pool").pool_size == hw
    out = model.predict(np.zeros((2, *input_shape), "float32"), verbose=0)
    assert out.shape == (2, 5)


def test_regularisation_losses():
    reg = 0.005
    model = ResNetPreAct(reg=reg, use_final_conv=True)
    convs = [la for la in model.layers if isinstance(la, keras.layers.Conv2D)]
    assert len(convs) == 1 + 5 * 3 + 1  # conv0, three per unit, convF
    assert len(model.losses) == len(convs)
    expected = sum(reg * float(np.sum(np.square(c.kernel.numpy()))) for c in convs)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)
    # no regularisation: no losses
    assert len(ResNetPreAct().losses) == 0


def test_plain_variant_has_no_additions():
    model = ResNetPreAct(use_shortcuts=False)
    assert not any(isinstance(la, keras.layers.Add) for la in model.layers)
    assert model.count_params() == 96_133


def test_few_training_steps_on_flowers32_lower_the_loss():
    rnpa.seed_everything(1)
    data = rnpa.load_flowers32()
    x, y = data.train[0][:256].astype("float32") / 255.0, data.train[1][:256]
    model = ResNetPreAct()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    before = model.evaluate(x, y, verbose=0, batch_size=128)[0]
    hist = model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=True)
    # training loss falls epoch after epoch; and the loss in inference mode falls too
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert hist.history["loss"][-1] < before
    assert np.isfinite(hist.history["loss"]).all()


def test_keras_save_load_round_trip(tmp_path, original):
    x = rnpa.load_flowers32().test[0][:8].astype("float32") / 255.0
    path = tmp_path / "model.keras"
    original.save(path)
    loaded = keras.models.load_model(path)
    assert [la.name for la in loaded.layers] == [la.name for la in original.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), original.predict(x, verbose=0))


# ---------------------------------------------------------------------------
# the paper's CIFAR family
# ---------------------------------------------------------------------------
def trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def stage_outputs(model):
    """Output shape of the last unit of each stage."""
    merges = [la for la in model.layers if la.name.startswith("merge")]
    last = {}
    for la in merges:
        last[la.name[len("merge") :].split("_")[0]] = tuple(la.output.shape[1:])
    return [last[k] for k in sorted(last)]


def test_preact_resnet164():
    model = preact_resnet(164)
    # He et al. 2016, table 3: 1.7M parameters; the widely used reference
    # implementation (osmr/imgclsmob preresnet164bn_cifar10) has 1,703,258
    assert trainable(model) == 1_703_258
    assert trainable(model) == pytest.approx(1.7e6, rel=0.01)
    assert model.output_shape == (None, 10)
    assert stage_outputs(model) == [(32, 32, 64), (16, 16, 128), (8, 8, 256)]
    assert sum(isinstance(la, keras.layers.Add) for la in model.layers) == 3 * 18
    convs = [la for la in model.layers if isinstance(la, keras.layers.Conv2D)]
    # depth counts the weighted layers on the main path: conv0, 3 per unit, fc
    assert len([c for c in convs if not c.name.startswith("proj")]) + 1 == 164


def test_preact_resnet110_basic():
    model = preact_resnet(110, unit="basic")
    # He et al. 2016, table 2: 1.7M (basic units, widths 16/32/64)
    assert trainable(model) == pytest.approx(1.7e6, rel=0.02)
    assert stage_outputs(model) == [(32, 32, 16), (16, 16, 32), (8, 8, 64)]


def test_preact_resnet1001_builds_with_the_papers_size():
    model = preact_resnet(1001)  # built only, never trained in the tests
    # He et al. 2016, table 3 rounds it to 10.2M; the reference implementation
    # (osmr/imgclsmob preresnet1001_cifar10) counts 10,327,706 trainable weights
    assert trainable(model) == 10_327_706
    assert trainable(model) == pytest.approx(10.2e6, rel=0.015)
    convs = [la for la in model.layers if isinstance(la, keras.layers.Conv2D)]
    assert len([c for c in convs if not c.name.startswith("proj")]) + 1 == 1001
    assert model.output_shape == (None, 10)


def test_resnet_original_and_plain_have_the_same_layers():
    res = resnet_original(20)
    plain = plain_network(20)
    # He et al. 2015, table 6: ResNet-20 has 0.27M parameters
    assert res.count_params() == pytest.approx(0.27e6, rel=0.02)
    assert not any(isinstance(la, keras.layers.Add) for la in plain.layers)
    res_convs = [la.name for la in res.layers if isinstance(la, keras.layers.Conv2D)]
    plain_convs = [la.name for la in plain.layers if isinstance(la, keras.layers.Conv2D)]
    assert [c for c in res_convs if not c.startswith("proj")] == plain_convs
    # post-activation: a ReLU after every addition
    for la in res.layers:
        if isinstance(la, keras.layers.Add):
            label = la.name[len("merge") :]
            assert producer(res.get_layer(f"relu{label}out").input).name == la.name


def _weight_shapes(model):
    return [(w.path.split("/")[0], tuple(w.shape)) for w in model.weights]


def test_cifar_resnet_pre_and_post_are_the_named_builders():
    assert _weight_shapes(cifar_resnet(20, order="pre")) == _weight_shapes(
        preact_resnet(20, unit="basic")
    )
    assert _weight_shapes(cifar_resnet(29, order="post", unit="bottleneck")) == _weight_shapes(
        resnet_original(29, unit="bottleneck")
    )
    assert cifar_resnet(20, order="pre").name == "preact_resnet20"
    assert cifar_resnet(20, order="relu_before_add").name == "resnet_relu_before_add_20"
    assert cifar_resnet(20, order="bn_after_add", shortcuts=False).name == "plain_bn_after_add20"


@pytest.mark.parametrize(
    ("order", "stem", "head"),
    [  # the layers between conv0 and the first unit, and between the last addition and pooling
        ("post", ["bn0", "relu0"], ["relu3_3out"]),
        ("bn_after_add", ["bn0", "relu0"], ["bn3_3out", "relu3_3out"]),
        ("relu_before_add", ["bn0", "relu0"], []),
        ("relu_preact", ["bn0"], ["reluF"]),
        ("pre", [], ["bnF", "reluF"]),
    ],
)
def test_cifar_resnet_stem_and_head_of_each_order(order, stem, head):
    model = cifar_resnet(20, order=order)
    layer_names = [la.name for la in model.layers]
    first_unit = next(i for i, n in enumerate(layer_names) if n.endswith("1_1a"))
    assert layer_names[layer_names.index("conv0") + 1 : first_unit] == stem
    pool = layer_names.index("avg_pool")
    last_add = layer_names.index("merge3_3")
    assert layer_names[last_add + 1 : pool] == head
    # ResNet-20's size (He et al. 2015, Table 6: 0.27M) whatever the order
    assert model.count_params() == pytest.approx(0.27e6, rel=0.02)


def test_family_forward_pass():
    for model in (preact_resnet(11), resnet_original(8), plain_network(8, order="pre")):
        out = model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
        assert out.shape == (2, 10)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------------------
# bad input: a clear error, nothing built
# ---------------------------------------------------------------------------
@pytest.fixture
def no_building(monkeypatch):
    """Make building a network fail loudly: validation must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a layer was built before the arguments were validated")

    monkeypatch.setattr(keras, "Input", refuse)
    monkeypatch.setattr(keras.layers, "Conv2D", refuse)


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"input_shape": (32, 32)}, ValueError, "input_shape"),
        ({"input_shape": (1, 32, 32, 3)}, ValueError, "input_shape"),
        ({"input_shape": "32x32"}, TypeError, "input_shape"),
        ({"input_shape": (0, 32, 3)}, ValueError, "input_shape"),
        ({"input_shape": (-4, 32, 3)}, ValueError, "input_shape"),
        ({"input_shape": (2, 2, 3)}, ValueError, "too small"),
        ({"input_shape": (32.0, 32, 3)}, ValueError, "input_shape"),
        ({"nb_classes": 1}, ValueError, "nb_classes"),
        ({"nb_classes": 5.0}, TypeError, "nb_classes"),
        ({"nb_classes": True}, TypeError, "nb_classes"),
        ({"num_stages": -1}, ValueError, "num_stages"),
        ({"reg": -0.1}, ValueError, "reg"),
        ({"reg": float("nan")}, ValueError, "reg"),
        ({"reg": "0.1"}, TypeError, "reg"),
        ({"use_final_conv": "yes"}, TypeError, "use_final_conv"),
    ],
)
def test_resnetpreact_bad_input(kwargs, exc, words, no_building):
    with pytest.raises(exc, match=words):
        ResNetPreAct(**kwargs)


def test_resnetpreact_rejects_unknown_options():
    with pytest.raises(TypeError, match="unexpected keyword"):
        ResNetPreAct(nb_class=5)


@pytest.mark.parametrize(
    ("builder", "args", "kwargs", "exc", "words"),
    [
        (preact_resnet, (165,), {}, ValueError, "9n\\+2"),
        (preact_resnet, (2,), {}, ValueError, "9n\\+2"),
        (preact_resnet, (164.0,), {}, TypeError, "depth"),
        (preact_resnet, (100,), {"unit": "basic"}, ValueError, "6n\\+2"),
        (preact_resnet, (100,), {"bottleneck": False}, ValueError, "6n\\+2"),
        (preact_resnet, (164,), {"unit": "wide"}, ValueError, "unit must be one of"),
        (resnet_original, (20,), {"shortcut_type": "A"}, ValueError, "shortcut_type must be"),
        (cifar_resnet, (20,), {"name": 3}, TypeError, "name must be"),
        (resnet_original, (21,), {}, ValueError, "6n\\+2"),
        (plain_network, (20,), {"order": "middle"}, ValueError, "order"),
        (cifar_resnet, (20,), {"order": "post_pre"}, ValueError, "order"),
        (cifar_resnet, (21,), {"order": "relu_preact"}, ValueError, "6n\\+2"),
        (preact_resnet, (11,), {"num_classes": 1}, ValueError, "num_classes"),
        (preact_resnet, (11,), {"input_shape": (32, 32)}, ValueError, "input_shape"),
        (preact_resnet, (11,), {"reg": -1}, ValueError, "reg"),
        (preact_resnet, (11,), {"bottleneck": 1}, TypeError, "bottleneck"),
        (preact_resnet, (11,), {"width": 2}, TypeError, "unexpected keyword"),
    ],
)
def test_family_bad_input(builder, args, kwargs, exc, words, no_building):
    with pytest.raises(exc, match=words):
        builder(*args, **kwargs)


# ---------------------------------------------------------------------------
# weights files: checked against the network before loading
# ---------------------------------------------------------------------------
def test_weights_of_another_architecture_are_refused_with_the_layer_named(tmp_path):
    five = ResNetPreAct()
    path = str(tmp_path / "five.weights.h5")
    five.save_weights(path)
    # units 4-5 in the file: 6 BN layers of 4 arrays, 6 kernels and the 2 biases of conv4c/conv5c
    with pytest.raises(ValueError, match=r"does not fit.*holds 32 weight array"):
        ResNetPreAct(num_stages=3, weights=path)
    small = ResNetPreAct(num_stages=3)
    small_path = str(tmp_path / "three.weights.h5")
    small.save_weights(small_path)
    with pytest.raises(ValueError, match=r"does not fit.*no weights for layer 'conv4a'"):
        ResNetPreAct(weights=small_path)
    with pytest.raises(
        ValueError,
        match=r"does not fit.*layer 'fc10' has weights of shape "
        r"\(128, 3\), the file \(128, 5\)",
    ):
        ResNetPreAct(nb_classes=3, weights=path)
    # the right file loads, exactly
    again = ResNetPreAct(weights=path)
    for a, b in zip(five.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_junk_weights_file_is_named(tmp_path):
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"this is not HDF5")
    with pytest.raises(ValueError, match=r"junk\.weights\.h5' is not a readable \.weights\.h5"):
        ResNetPreAct(weights=str(junk))


# ---------------------------------------------------------------------------
# the naming contract on whole networks
# ---------------------------------------------------------------------------
def _cifar_labels(n):
    return {f"{s}_{u}" for s in (1, 2, 3) for u in range(1, n + 1)}


@pytest.mark.parametrize(
    ("build", "labels", "others"),
    [
        (
            ResNetPreAct,
            {"1", "2", "3", "4", "5"},
            ["input", "conv0", "bn0", "relu0", "bnF", "reluF", "avg_pool", "flat", "fc10"],
        ),
        (
            lambda: preact_resnet(164),
            _cifar_labels(18),
            ["input", "conv0", "bnF", "reluF", "avg_pool", "fc"],
        ),
        (
            lambda: preact_resnet(110, unit="basic"),
            _cifar_labels(18),
            ["input", "conv0", "bnF", "reluF", "avg_pool", "fc"],
        ),
        (
            lambda: resnet_original(20),
            _cifar_labels(3),
            ["input", "conv0", "bn0", "relu0", "avg_pool", "fc"],
        ),
        (
            lambda: resnet_original(20, shortcut_type="zeros"),
            _cifar_labels(3),
            ["input", "conv0", "bn0", "relu0", "avg_pool", "fc"],
        ),
        (
            lambda: cifar_resnet(20, order="bn_after_add"),
            _cifar_labels(3),
            ["input", "conv0", "bn0", "relu0", "avg_pool", "fc"],
        ),
        (
            lambda: cifar_resnet(29, order="relu_preact", unit="bottleneck"),
            _cifar_labels(3),
            ["input", "conv0", "bn0", "reluF", "avg_pool", "fc"],
        ),
        (
            lambda: plain_network(20, order="pre"),
            _cifar_labels(3),
            ["input", "conv0", "bnF", "reluF", "avg_pool", "fc"],
        ),
    ],
    ids=[
        "ResNetPreAct",
        "preact164",
        "preact110basic",
        "resnet20",
        "resnet20A",
        "bn_after_add20",
        "relu_preact29",
        "plain20pre",
    ],
)
def test_every_layer_name_reads_back_and_remakes_itself(build, labels, others):
    model = build()
    parsed = {la.name: parse_layer_name(la.name) for la in model.layers}
    # every unit layer: layer_name(parse(name)) == name
    for name, p in parsed.items():
        if p is not None:
            assert layer_name(*p) == name
    # the unit labels are those the builder used, and only the stem and head carry none
    assert {p.label for p in parsed.values() if p is not None} == labels
    assert [n for n, p in parsed.items() if p is None] == others


# ---------------------------------------------------------------------------
# option A shortcuts (He et al. 2015, Sec. 3.3 and 4.2)
# ---------------------------------------------------------------------------
def _resnet_option_a_trainable(n: int) -> int:
    """Trainable weights of the 2015 CIFAR ResNet-(6n+2), option A, counted by hand."""
    convs = conv_params(3, 3, 16, False)
    for c_in, c in ((16, 16), (16, 32), (32, 64)):
        convs += conv_params(3, c_in, c, False) + (2 * n - 1) * conv_params(3, c, c, False)
    bn = 2 * (16 + 2 * n * (16 + 32 + 64))  # gamma and beta of bn0 and of 2 BN per unit
    return convs + bn + 64 * 10 + 10


@pytest.mark.parametrize(
    ("depth", "paper"), [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)]
)
def test_option_a_resnets_have_the_sizes_of_table_6(depth, paper):
    model = resnet_original(depth, shortcut_type="zeros")
    n = (depth - 2) // 6
    assert trainable(model) == _resnet_option_a_trainable(n)
    # He et al. 2015, Table 6 (#params, in millions, rounded)
    assert round(trainable(model) / 1e6, 1 if paper >= 1 else 2) == paper
    # the same as the plain network of that depth: the shortcuts add no weights
    assert trainable(model) == trainable(plain_network(depth))


def test_resnet20_option_a_is_269722_and_option_b_adds_the_projections():
    a, b = resnet_original(20, shortcut_type="zeros"), resnet_original(20)
    assert trainable(a) == 269_722
    # option B: a 1x1 projection + BN where the width doubles (stages 2 and 3)
    extra = conv_params(1, 16, 32, False) + 2 * 32 + conv_params(1, 32, 64, False) + 2 * 64
    assert trainable(b) - trainable(a) == extra
    assert not any(
        isinstance(la, keras.layers.Conv2D) and la.name.startswith("proj") for la in a.layers
    )


def test_option_a_network_saves_and_loads(tmp_path):
    model = preact_resnet(20, unit="basic", shortcut_type="zeros")
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    path = tmp_path / "a.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [la.name for la in loaded.layers] == [la.name for la in model.layers]
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )


# ---------------------------------------------------------------------------
# unit kinds instead of bottleneck: bool
# ---------------------------------------------------------------------------
def test_deprecated_bottleneck_keyword_still_builds_the_same_network():
    with pytest.warns(DeprecationWarning, match=r"bottleneck=False\) is deprecated; use unit="):
        old = preact_resnet(20, bottleneck=False)
    assert _weight_shapes(old) == _weight_shapes(preact_resnet(20, unit="basic"))
    with pytest.warns(DeprecationWarning):
        old = resnet_original(29, bottleneck=True)
    assert _weight_shapes(old) == _weight_shapes(resnet_original(29, unit="bottleneck"))
    with pytest.warns(DeprecationWarning):  # the old positional argument
        old = preact_resnet(20, 10, (32, 32, 3), False)
    assert _weight_shapes(old) == _weight_shapes(preact_resnet(20, unit="basic"))
    with pytest.warns(DeprecationWarning):
        assert plain_network(8, bottleneck=False).count_params() == plain_network(8).count_params()


def test_unit_and_bottleneck_that_disagree_are_refused(no_building):
    with pytest.raises(ValueError, match="pass unit= only"):
        resnet_original(29, unit="bottleneck", bottleneck=False)


def test_units_for_depth_reads_the_unit_kind():
    assert models.units_for_depth(164, "bottleneck") == 18
    assert models.units_for_depth(110, "basic") == 18
    assert models.units_for_depth(1001) == 111
    assert models.units_for_depth(20, False) == 3  # the old bool still works


# ---------------------------------------------------------------------------
# the model registry
# ---------------------------------------------------------------------------
def test_registry_lists_the_families():
    assert models.list_models() == [
        "resnetpreact",
        "preact_resnet{depth}",
        "resnet{depth}",
        "resnet_original{depth}",
        "plain{depth}",
        "cifar_resnet{depth}",
    ]
    assert models.MODELS["preact_resnet{depth}"] is preact_resnet
    assert models.MODELS["resnet{depth}"] is models.MODELS["resnet_original{depth}"]


@pytest.mark.parametrize(
    ("name", "direct"),
    [  # every name rnpa.train's --model regex accepted, and the new spellings
        ("resnetpreact", lambda: ResNetPreAct((32, 32, 3), 5)),
        ("ResNetPreAct", lambda: ResNetPreAct((32, 32, 3), 5)),
        ("preact_resnet11", lambda: preact_resnet(11, num_classes=5)),
        ("preact-resnet11", lambda: preact_resnet(11, num_classes=5)),
        ("resnet14", lambda: resnet_original(14, num_classes=5)),
        ("resnet_original8", lambda: resnet_original(8, num_classes=5)),
        ("plain8", lambda: plain_network(8, num_classes=5)),
        ("cifar_resnet8", lambda: cifar_resnet(8, num_classes=5)),
    ],
)
def test_build_model_builds_what_the_builder_builds(name, direct):
    built = build_model(name, input_shape=(32, 32, 3), num_classes=5, reg=0.0, num_stages=None)
    expected = direct()
    assert built.name == expected.name
    assert [la.name for la in built.layers] == [la.name for la in expected.layers]
    assert _weight_shapes(built) == _weight_shapes(expected)


def test_build_model_passes_the_builders_own_arguments():
    m = build_model("resnetpreact", num_classes=3, num_stages=2, use_final_conv=True)
    assert sum(isinstance(la, keras.layers.Add) for la in m.layers) == 2
    assert m.output_shape == (None, 3) and "convF" in [la.name for la in m.layers]
    a = build_model("resnet20", shortcut_type="zeros")
    assert trainable(a) == 269_722
    b = build_model("preact_resnet20", unit="basic", reg=1e-4)
    assert len(b.losses) == sum(isinstance(la, keras.layers.Conv2D) for la in b.layers)


@pytest.mark.parametrize(
    ("name", "kwargs", "exc", "words"),
    [
        (
            "vgg16",
            {},
            ValueError,
            "unknown model 'vgg16'; registered models: resnetpreact, preact_resnet\\{depth\\}",
        ),
        ("resnet", {}, ValueError, "unknown model 'resnet'"),
        ("resnet_110", {}, ValueError, "unknown model"),
        (164, {}, TypeError, "model must be a name"),
        (
            "preact_resnet164",
            {"num_stages": 3},
            TypeError,
            "model 'preact_resnet164' .* takes no argument 'num_stages'",
        ),
        ("resnetpreact", {"depth": 3}, TypeError, "takes no argument 'depth'"),
        ("preact_resnet165", {}, ValueError, "9n\\+2"),
    ],
)
def test_build_model_bad_input(name, kwargs, exc, words, no_building):
    with pytest.raises(exc, match=words):
        build_model(name, **kwargs)


def test_register_model_adds_a_family_and_refuses_bad_names(monkeypatch):
    monkeypatch.setattr(models, "MODELS", dict(models.MODELS))

    @models.register_model("tiny{depth}")
    def tiny(depth, num_classes=10, input_shape=(32, 32, 3), reg=0.0):
        return plain_network(depth, num_classes, input_shape, reg=reg, name=f"tiny{depth}")

    assert build_model("tiny8", num_classes=3).name == "tiny8"
    assert "tiny{depth}" in models.list_models()
    with pytest.raises(ValueError, match="already registered"):
        models.register_model("tiny{depth}")
    for bad in ("Tiny", "tiny-8", "net2{depth}", ""):
        with pytest.raises(ValueError, match="name must be lower-case"):
            models.register_model(bad)


def test_network_modules_import_no_data_module():
    """Arrows run one way: blocks, models, analysis and diagrams never import rnpa.data."""
    import subprocess
    import sys

    code = (
        "import sys; import rnpa.blocks, rnpa.models, rnpa.analysis, rnpa.diagrams; "
        "print(sorted(m for m in sys.modules if m.startswith('rnpa.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = eval(out.strip().splitlines()[-1])  # noqa: S307 (our own printed list)
    assert "rnpa.models" in loaded
    assert not [m for m in loaded if m.startswith(("rnpa.data", "rnpa.train", "rnpa.recipes"))]


# ----------------------------------------------------------------------------
# pretrained weights
# ----------------------------------------------------------------------------
def test_pretrained_flowers32_weights():
    model = rnpa.ResNetPreAct(weights="flowers32")
    from rnpa import data as rdata
    from rnpa.evaluate import evaluate

    data = rdata.load("flowers32", augment="none")
    result = evaluate(model, data, "test")
    assert result.accuracy > 0.70  # 74.1% when made (rnpa/assets/WEIGHTS.md)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"weights": "flowers32", "nb_classes": 10}, ValueError, ["weights", "nb_classes=5"]),
        ({"weights": "flowers32", "input_shape": (64, 64, 3)}, ValueError, ["weights", "32, 32"]),
        ({"weights": "flowers32", "num_stages": 2}, ValueError, ["weights", "num_stages"]),
        ({"weights": "imagenet"}, ValueError, ["weights", "flowers32", ".weights.h5"]),
        ({"weights": 1}, TypeError, ["weights"]),
        ({"weights": "nowhere.weights.h5"}, FileNotFoundError, ["nowhere.weights.h5"]),
    ],
)
def test_weights_argument_is_checked(kwargs, exc, words):
    with pytest.raises(exc) as info:
        rnpa.ResNetPreAct(**kwargs)
    for w in words:
        assert w in str(info.value)


def test_weights_from_a_file_round_trip(tmp_path):
    model = rnpa.ResNetPreAct(num_stages=2)
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    other = rnpa.ResNetPreAct(num_stages=2, weights=path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
