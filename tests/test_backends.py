"""Keras 3's JAX backend: rnpa's models, pipelines, fit, evaluate and analysis run on it.

The backend is fixed when Keras is imported, so one short script runs in a subprocess
with ``KERAS_BACKEND=jax`` and saves what it computed; each test compares a part of
it with the same computation here, on the TensorFlow backend (the independent
reference: another framework's kernels and autodiff).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import rnpa
from rnpa import analysis, evaluate
from rnpa import data as rdata

# it trains a network and starts a process: conftest.py's `slow` marker
pytestmark = pytest.mark.slow

LOAD = {"limit": 128, "batch_size": 32, "seed": 0}  # the default augmentation: flip + crop

JAX_SCRIPT = """
import json, sys
from pathlib import Path

import keras
import numpy as np

import rnpa
from rnpa import analysis, evaluate, layers
from rnpa import data as rdata

out, load = Path(sys.argv[1]), json.loads(sys.argv[2])
res = {"backend": keras.backend.backend()}
numpy = keras.ops.convert_to_numpy

# the training pipeline, default augmentation (tf.data with Keras' random layers and
# PadAndCrop), one epoch and a second one
rnpa.seed_everything(0)
d = rdata.load("flowers32", **load)
res["augment"] = d.augment
np.save(out / "epoch.npy", np.concatenate([x.numpy() for x, _ in d.train]))
np.save(out / "second.npy", np.concatenate([x.numpy() for x, _ in d.train]))
# outside tf.data: the backend's arrays out; a JAX seed generator refused (tf.data
# could not advance it: every epoch would get the same crops)
ones = np.ones((2, 32, 32, 3), "float32")
res["eager_type"] = type(rdata.make_augmentation("crop", 32, seed=0)(ones)).__module__
try:
    rdata.pad_and_crop(ones, seed=keras.random.SeedGenerator(1))
    res["seed_generator"] = "accepted"
except TypeError as err:
    res["seed_generator"] = str(err)

# the shipped weights
arr = rdata.load_flowers32()
x, y = d.normalize(arr.test[0][:8]), arr.test[1][:8]
shipped = rnpa.ResNetPreAct(weights="flowers32")
np.save(out / "shipped.npy", np.asarray(shipped.predict(x, verbose=0)))

# fit, then evaluate and the gradient norms of the fitted network
model = rnpa.ResNetPreAct(num_stages=2)
before = [numpy(w) for w in model.trainable_weights]
result = rnpa.fit(model, d, epochs=1, steps_per_epoch=2, seed=0, verbose=0)
res["loss"] = result.history["loss"]
res["changed"] = sum(not np.array_equal(numpy(w), b)
                     for w, b in zip(model.trainable_weights, before))
res["weights"] = len(before)
model.save_weights(out / "fitted.weights.h5")
res["confusion"] = evaluate.evaluate(model, d, "val").confusion.tolist()
stats = [numpy(v) for v in model.non_trainable_variables]
res["units"] = analysis.gradient_norms(model, x, y)
res["weights_training"] = analysis.gradient_norms(model, x, y, where="weights", training=True)
res["stats_kept"] = all(np.array_equal(numpy(v), s)
                        for v, s in zip(model.non_trainable_variables, stats))

# rnpa's BatchNormalization is Keras' own here: same outputs and moving statistics
rng = np.random.default_rng(0)
xb = rng.normal(2.0, 3.0, size=(4, 5, 5, 6)).astype("float32")
ours = layers.BatchNormalization(momentum=0.5)
theirs = keras.layers.BatchNormalization(momentum=0.5)
ours.build(xb.shape), theirs.build(xb.shape)
gamma, beta = rng.normal(size=(2, 6)).astype("float32")
theirs.set_weights([gamma, beta, np.zeros(6, "float32"), np.ones(6, "float32")])
ours.set_weights(theirs.get_weights())
res["bn_fused"] = bool(ours._fused_applies(xb, None))
def gap(a, b):
    return float(np.abs(numpy(a) - numpy(b)).max())
res["bn_train"] = gap(ours(xb, training=True), theirs(xb, training=True))
res["bn_stats"] = max(gap(a, b) for a, b in zip(ours.get_weights(), theirs.get_weights()))
res["bn_infer"] = gap(ours(xb), theirs(xb))
res["bn_moved"] = gap(ours.moving_mean, np.zeros(6))  # the training call updated it
(out / "results.json").write_text(json.dumps(res))
"""


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """Run :data:`JAX_SCRIPT` on the JAX backend; its folder and results."""
    out = tmp_path_factory.mktemp("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2",
           "JAX_PLATFORMS": "cpu"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, str(out), json.dumps(LOAD)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def tf_data():
    assert keras.backend.backend() == "tensorflow", "the reference runs on TensorFlow"
    rnpa.seed_everything(0)  # as the JAX script: the shuffle depends on the global seed
    d = rdata.load("flowers32", **LOAD)
    arr = rdata.load_flowers32()
    return d, d.normalize(arr.test[0][:8]), arr.test[1][:8]


@pytest.fixture(scope="module")
def fitted(jax_run):
    """The network trained on JAX, loaded here on TensorFlow."""
    model = rnpa.ResNetPreAct(num_stages=2)
    model.load_weights(jax_run[0] / "fitted.weights.h5")
    return model


def test_the_script_ran_on_jax(jax_run):
    assert jax_run[1]["backend"] == "jax"


def test_default_augmentation_runs_in_tf_data_and_makes_the_same_crops(jax_run, tf_data):
    out, res = jax_run
    epoch = np.load(out / "epoch.npy")
    assert res["augment"] == "crop" and epoch.shape == (128, 32, 32, 3)
    # the same seed gives the same flips and crops as on TensorFlow, to the bit
    here = np.concatenate([x.numpy() for x, _ in tf_data[0].train])
    np.testing.assert_array_equal(epoch, here)
    assert not np.allclose(np.load(out / "second.npy"), epoch)  # new ones each epoch


def test_augmentation_outside_tf_data_gives_jax_arrays(jax_run):
    res = jax_run[1]
    assert res["eager_type"].split(".")[0] in ("jax", "jaxlib")  # a jax.Array
    assert res["seed_generator"].startswith("seed must be an int or None on the jax backend")


def test_shipped_weights_predict_as_on_tensorflow(jax_run, tf_data):
    _, x, _ = tf_data
    expected = rnpa.ResNetPreAct(weights="flowers32").predict(x, verbose=0)
    np.testing.assert_allclose(np.load(jax_run[0] / "shipped.npy"), expected, atol=1e-4)


def test_fit_trains_on_jax(jax_run):
    res = jax_run[1]
    assert len(res["loss"]) == 1 and np.isfinite(res["loss"][0])
    assert res["changed"] == res["weights"] > 0  # every trainable weight moved


def test_evaluate_on_jax_agrees_with_tensorflow(jax_run, tf_data, fitted):
    cm = np.asarray(jax_run[1]["confusion"])
    expected = evaluate.evaluate(fitted, tf_data[0], "val").confusion
    assert cm.sum() == expected.sum() == tf_data[0].sizes["val"]
    assert np.abs(cm - expected).sum() <= 2  # at most one image on a float tie


def test_gradient_norms_on_jax_agree_with_tensorflow(jax_run, tf_data, fitted):
    res = jax_run[1]
    _, x, y = tf_data
    cases = {"units": {}, "weights_training": {"where": "weights", "training": True}}
    for key, kwargs in cases.items():
        expected = analysis.gradient_norms(fitted, x, y, **kwargs)
        assert list(res[key]) == list(expected)
        np.testing.assert_allclose(list(res[key].values()), list(expected.values()), rtol=1e-3)
    assert res["stats_kept"]  # training=True left the BN statistics as they were


def test_batchnorm_is_keras_own_off_tensorflow(jax_run):
    res = jax_run[1]
    assert res["bn_fused"] is False
    assert res["bn_train"] == res["bn_stats"] == res["bn_infer"] == 0.0
    assert res["bn_moved"] > 0.1  # mean 2 at momentum 0.5: the statistics moved by ~1
