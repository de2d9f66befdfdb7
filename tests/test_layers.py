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
from rnpa.layers import BatchNormalization


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


def test_gradients_equal_keras():
    ours, ref = _pair((None, 6, 6, 5))
    x = _x((8, 6, 6, 5))
    upstream = _x((8, 6, 6, 5), seed=2)
    grads = []
    for layer in (ours, ref):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * upstream)
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
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
def test_every_dtype_policy_matches_keras(policy, fused_expected, atol, training, monkeypatch):
    ours, ref = _pair((None, 4, 4, 3), dtype=policy)
    x = np.random.default_rng(4).normal(0.5, 2.0, (6, 4, 4, 3))
    x = tf.constant(x.astype(keras.mixed_precision.Policy(policy).compute_dtype))
    y, fused_used = _fused_called(ours, x, training, monkeypatch)
    assert fused_used is fused_expected
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
