"""rnpa.layers.BatchNormalization: Keras' layer on TensorFlow's fused kernel.

The reference in every test is Keras' own ``keras.layers.BatchNormalization``
with the same weights: outputs, gradients and moving statistics must agree.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import rnpa
from rnpa import layers as rlayers
from rnpa.layers import BatchNormalization


@pytest.fixture(autouse=True, params=["fused", "separate"])
def forward(request, monkeypatch):
    """Every test runs with each training-mode forward pass (``rnpa.layers.FORWARD``)."""
    monkeypatch.setattr(rlayers, "FORWARD", request.param)
    return request.param


def _pair(shape, momentum=0.9, **kwargs):
    """An rnpa layer and a Keras layer, built on ``shape``, with equal random weights."""
    rng = np.random.default_rng(0)
    ours = BatchNormalization(momentum=momentum, **kwargs)
    ref = keras.layers.BatchNormalization(momentum=momentum, **kwargs)
    ours.build(shape)
    ref.build(shape)
    weights = [rng.normal(1.0, 0.3, w.shape).astype("float32") for w in ref.weights]
    weights = [
        np.abs(w) if "variance" in v.path else w for w, v in zip(weights, ref.weights, strict=True)
    ]
    ref.set_weights(weights)
    ours.set_weights(weights)
    return ours, ref


def _x(shape, seed=1):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.normal(0.5, 2.0, shape).astype("float32"))


def test_same_class_name_and_weights_as_keras():
    ours, ref = _pair((None, 8, 8, 6))
    assert type(ours).__name__ == "BatchNormalization"
    assert isinstance(ours, keras.layers.BatchNormalization)
    assert [w.path.split("/")[-1] for w in ours.weights] == [
        w.path.split("/")[-1] for w in ref.weights
    ]
    assert ours.count_params() == ref.count_params() == 4 * 6


@pytest.mark.parametrize("training", [False, True])
def test_outputs_equal_keras(training):
    ours, ref = _pair((None, 8, 8, 6))
    x = _x((16, 8, 8, 6))
    a = ours(x, training=training).numpy()
    b = ref(x, training=training).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    if training:  # normalised per channel: mean beta, std gamma (up to eps)
        np.testing.assert_allclose(a.mean(axis=(0, 1, 2)), ours.beta.numpy(), atol=1e-4)


def test_moving_statistics_follow_keras_rule():
    ours, ref = _pair((None, 4, 4, 3), momentum=0.8)
    x = _x((10, 4, 4, 3))
    old_mean = ours.moving_mean.numpy().copy()
    old_var = ours.moving_variance.numpy().copy()
    for _ in range(3):
        ours(x, training=True)
        ref(x, training=True)
    np.testing.assert_allclose(ours.moving_mean.numpy(), ref.moving_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.moving_variance.numpy(), ref.moving_variance.numpy(), rtol=1e-5)
    # and by the formula: biased batch variance, moving = moving*m + batch*(1-m)
    xs = x.numpy().reshape(-1, 3)
    mean, var = xs.mean(axis=0), xs.var(axis=0)  # numpy's var is the biased one
    m = 0.8
    exp_mean, exp_var = old_mean, old_var
    for _ in range(3):
        exp_mean = exp_mean * m + mean * (1 - m)
        exp_var = exp_var * m + var * (1 - m)
    np.testing.assert_allclose(ours.moving_mean.numpy(), exp_mean, rtol=1e-5)
    np.testing.assert_allclose(ours.moving_variance.numpy(), exp_var, rtol=1e-5)


def test_inference_does_not_touch_moving_statistics():
    ours, _ = _pair((None, 4, 4, 3))
    before = [w.numpy().copy() for w in ours.weights]
    ours(_x((5, 4, 4, 3)), training=False)
    for b, w in zip(before, ours.weights, strict=True):
        np.testing.assert_array_equal(b, w.numpy())


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
def test_gradients_equal_keras(graph):
    # in a tf.function TensorFlow rewrites the kernels to oneDNN's (_MklFusedBatchNormGradV3)
    ours, ref = _pair((None, 6, 6, 5))
    x = _x((8, 6, 6, 5))
    upstream = _x((8, 6, 6, 5), seed=2)
    grads = []
    for layer in (ours, ref):

        def gradients(x, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x, training=True) * upstream)
            return tape.gradient(loss, [x, layer.gamma, layer.beta])

        grads.append((tf.function(gradients) if graph else gradients)(x))
    for g_ours, g_ref in zip(*grads, strict=True):
        np.testing.assert_allclose(g_ours.numpy(), g_ref.numpy(), rtol=1e-3, atol=1e-3)


def test_other_shapes_fall_back_to_keras():
    # 2-D features and channels-first inputs are not for the fused kernel
    ours, ref = _pair((None, 7))
    x = _x((12, 7))
    np.testing.assert_allclose(
        ours(x, training=True).numpy(), ref(x, training=True).numpy(), rtol=1e-5, atol=1e-5
    )
    ours, ref = _pair((None, 3, 4, 4), axis=1)
    x = _x((6, 3, 4, 4))
    np.testing.assert_allclose(
        ours(x, training=True).numpy(), ref(x, training=True).numpy(), rtol=1e-5, atol=1e-5
    )


def test_mixed_bfloat16_output_dtype():
    ours, ref = _pair((None, 4, 4, 3), dtype="mixed_bfloat16")
    x = _x((4, 4, 4, 3))
    y = ours(x, training=True)
    assert y.dtype == tf.bfloat16
    assert ours.moving_mean.dtype == "float32"
    np.testing.assert_allclose(
        tf.cast(y, tf.float32).numpy(),
        tf.cast(ref(x, training=True), tf.float32).numpy(),
        atol=0.05,
    )


def test_models_use_it_and_save_load_round_trip(tmp_path):
    model = rnpa.ResNetPreAct(num_stages=1)
    bns = [lyr for lyr in model.layers if "BatchNormalization" == type(lyr).__name__]
    assert bns and all(isinstance(lyr, BatchNormalization) for lyr in bns)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert all(type(a) is type(b) for a, b in zip(model.layers, loaded.layers, strict=True)), (
        "the custom layer must come back as itself"
    )
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


# ---------------------------------------------------------------------------
# dtype policies: the fused path where it is exact, Keras' computation elsewhere
# ---------------------------------------------------------------------------
def _fused_called(layer, x, training, monkeypatch):
    calls = []
    real = tf.compat.v1.nn.fused_batch_norm

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(tf.compat.v1.nn, "fused_batch_norm", spy)
    y = layer(x, training=training)
    return y, bool(calls)


@pytest.mark.parametrize(
    ("policy", "fused_expected", "atol"),
    [
        ("float32", True, 1e-4),
        ("mixed_float16", True, 2e-2),
        ("mixed_bfloat16", True, 6e-2),
        ("bfloat16", False, 6e-2),
        ("float16", False, 2e-2),
        ("float64", False, 1e-12),
    ],
)
@pytest.mark.parametrize("training", [True, False])
def test_every_dtype_policy_matches_keras(
    policy, fused_expected, atol, training, monkeypatch, forward
):
    ours, ref = _pair((None, 4, 4, 3), dtype=policy)
    x = np.random.default_rng(4).normal(0.5, 2.0, (6, 4, 4, 3))
    x = tf.constant(x.astype(keras.mixed_precision.Policy(policy).compute_dtype))
    y, fused_used = _fused_called(ours, x, training, monkeypatch)
    # the separate forward replaces the fused kernel in training; inference keeps it
    assert fused_used is (fused_expected and not (training and forward == "separate"))
    y_ref = ref(x, training=training)
    assert y.dtype == y_ref.dtype
    np.testing.assert_allclose(
        tf.cast(y, tf.float64).numpy(), tf.cast(y_ref, tf.float64).numpy(), atol=atol
    )
    assert ours.moving_mean.dtype == ref.moving_mean.dtype
    np.testing.assert_allclose(
        np.asarray(ours.moving_variance.numpy(), "float64"),
        np.asarray(ref.moving_variance.numpy(), "float64"),
        rtol=1e-3,
    )


@pytest.mark.parametrize("policy", ["float16", "bfloat16", "float64", "mixed_float16"])
def test_training_steps_under_each_policy(policy):
    """The crash that made this fallback necessary: fit under a pure policy."""
    keras.config.set_dtype_policy(policy)
    try:
        inp = keras.Input((4, 4, 3))
        out = keras.layers.Dense(2, dtype="float32")(
            keras.layers.GlobalAveragePooling2D()(BatchNormalization()(inp))
        )
        model = keras.Model(inp, out)
        model.compile(optimizer="sgd", loss="mse")
        x = np.random.default_rng(0).random((8, 4, 4, 3))
        hist = model.fit(x, np.zeros((8, 2)), epochs=2, verbose=0)
        assert np.all(np.isfinite(hist.history["loss"]))
    finally:
        keras.config.set_dtype_policy("float32")


# ---------------------------------------------------------------------------
# portable files: Keras' own layer in the file, the fused one in training
# ---------------------------------------------------------------------------
def test_portable_and_fused_swap_only_the_class(tmp_path):
    from rnpa.layers import fused, portable

    model = rnpa.ResNetPreAct(num_stages=2)
    plain = portable(model)
    kinds = {type(la) for la in plain.layers if isinstance(la, keras.layers.BatchNormalization)}
    assert kinds == {keras.layers.BatchNormalization}
    assert [la.name for la in plain.layers] == [la.name for la in model.layers]
    back = fused(plain)
    assert {type(la) for la in back.layers if "bn" in la.name} == {BatchNormalization}
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    ref = model.predict(x, verbose=0)
    np.testing.assert_allclose(plain.predict(x, verbose=0), ref, atol=1e-6)
    np.testing.assert_allclose(back.predict(x, verbose=0), ref, atol=1e-6)
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        portable("best.keras")


def test_a_portable_file_loads_in_plain_keras_without_rnpa(tmp_path):
    import json
    import subprocess
    import sys

    from rnpa.layers import portable

    model = rnpa.ResNetPreAct(num_stages=1)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    portable(model).save(tmp_path / "m.keras")
    script = (
        "import sys, json, numpy as np, keras\n"
        "m = keras.models.load_model(sys.argv[1])\n"
        "print(json.dumps({'rnpa': 'rnpa' in sys.modules,"
        " 'y': m.predict(np.load(sys.argv[2]), verbose=0).tolist()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "m.keras"), str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rnpa"] is False
    np.testing.assert_allclose(np.array(result["y"]), model.predict(x, verbose=0), atol=1e-6)


# ---------------------------------------------------------------------------
# the training-mode forward pass: fused kernel, or moments + multiply-add below AVX-512
# ---------------------------------------------------------------------------
def _training_graph_ops(layer, shape):
    """Op types of a traced training step (forward and gradient) through ``layer``."""

    upstream = _x(shape, seed=3)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * upstream)
        return tape.gradient(loss, x)

    graph = step.get_concrete_function(tf.TensorSpec(shape, tf.float32)).graph
    return {op.type for op in graph.get_operations()}


def test_each_forward_runs_the_kernels_it_says(forward):
    ours, _ = _pair((None, 4, 4, 3))
    ops = _training_graph_ops(ours, (2, 4, 4, 3))
    assert "FusedBatchNormGradV3" in ops  # the fused gradient, either way
    if forward == "fused":
        assert "FusedBatchNormV3" in ops and "Mean" not in ops
    else:
        assert "FusedBatchNormV3" not in ops and "Mean" in ops


@pytest.mark.parametrize(
    ("cap", "features", "expected"),
    [
        ("", {"AVX512_SKX": True}, True),
        ("AVX512_CORE", {"AVX512_SKX": True}, True),
        ("avx10_1_512_amx", {"AVX512_SKX": True}, True),
        ("AVX2", {"AVX512_SKX": True}, False),
        ("avx2_vnni", {"AVX512_SKX": True}, False),
        ("", {"AVX2": True, "AVX512_SKX": False}, False),
        ("", {"AVX2": True}, False),
    ],
)
def test_onednn_avx512_reads_the_cpu_and_the_cap(cap, features, expected):
    environ = {"ONEDNN_MAX_CPU_ISA": cap} if cap else {}
    assert rlayers.onednn_avx512(environ, features) is expected


@pytest.mark.parametrize(
    ("machine", "avx512", "expected"),
    [("x86_64", True, "fused"), ("x86_64", False, "separate"), ("AMD64", False, "separate"),
     ("aarch64", False, "fused"), ("arm64", False, "fused")],
)  # fmt: skip
def test_auto_picks_separate_only_on_x86_without_avx512(machine, avx512, expected, monkeypatch):
    import platform

    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(rlayers, "onednn_avx512", lambda: avx512)
    assert rlayers.forward_kind("auto") == expected
    assert rlayers.forward_kind("fused") == "fused"
    assert rlayers.forward_kind("separate") == "separate"


def test_a_bad_forward_setting_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setattr(rlayers, "FORWARD", "fast")
    with pytest.raises(ValueError, match=r"RNPA_BN_FORWARD.*auto, fused, separate.*'fast'"):
        rlayers.forward_kind()


AVX2_CHECK = """
import numpy as np, tensorflow as tf, keras
from rnpa import layers
assert not layers.onednn_avx512(), "ONEDNN_MAX_CPU_ISA=AVX2 must count as below AVX-512"
assert layers.forward_kind() == "separate", layers.forward_kind()
x = tf.constant(np.random.default_rng(1).normal(0.5, 2.0, (16, 8, 8, 32)).astype("float32"))
up = tf.constant(np.random.default_rng(2).normal(size=(16, 8, 8, 32)).astype("float32"))
out = {}
for name, cls in (("ours", layers.BatchNormalization), ("keras", keras.layers.BatchNormalization)):
    layer = cls(momentum=0.9)
    layer.build(x.shape)
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * up)
        return [loss] + tape.gradient(loss, [x, layer.gamma, layer.beta])
    out[name] = [t.numpy() for t in step(x)] + [layer.moving_variance.numpy()]
for a, b in zip(out["ours"], out["keras"]):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
try:  # and bfloat16 is refused up front: oneDNN has no bfloat16 convolution on AVX2
    import rnpa.distribute
    rnpa.distribute.resolve_precision("mixed_bfloat16")
    raise SystemExit("mixed_bfloat16 was not refused under AVX2")
except ValueError as e:
    assert "AVX-512" in str(e), e
print("separate forward under AVX2 agrees with Keras")
"""


@pytest.mark.slow
def test_under_an_avx2_cap_auto_picks_separate_and_agrees_with_keras():
    """In a process whose oneDNN is capped at AVX2 (``ONEDNN_MAX_CPU_ISA``), as on an AVX2-only
    CPU: ``auto`` picks the separate forward, whose loss, gradients and moving variance
    (through oneDNN's AVX2 gradient kernel) equal Keras' layer's."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    env.pop("RNPA_BN_FORWARD", None)
    run = subprocess.run([sys.executable, "-c", AVX2_CHECK], capture_output=True, text=True,
                         env=env, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "agrees with Keras" in run.stdout
