"""rnpa.train: recipes, fit (learning, resume, NaN stop, seeding), devices, weights."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import rnpa
from rnpa import data as rdata
from rnpa import train as rtrain
from rnpa.evaluate import confusion_matrix, evaluate


@pytest.fixture(scope="module")
def small():
    """256 training images of flowers32 (all five classes), batch 64."""
    return rdata.load("flowers32", batch_size=64, limit=256, augment="flip")


def _tiny(num_stages: int = 1) -> keras.Model:
    return rnpa.ResNetPreAct(num_stages=num_stages)


# ----------------------------------------------------------------------------
# recipes
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(rtrain.RECIPES))
def test_recipes_build(name):
    recipe = rtrain.get_recipe(name)
    assert recipe.name == name
    opt = rtrain.make_optimizer(recipe, steps_per_epoch=10)
    assert isinstance(opt, keras.optimizers.Optimizer)
    d = recipe.to_dict()
    assert d["epochs"] == recipe.epochs and d["optimizer"] == recipe.optimizer


def test_original_and_paper_recipes_are_the_published_ones():
    original = rtrain.RECIPES["original"]
    assert (original.optimizer, original.learning_rate, original.batch_size, original.reg) == (
        "adam", 1e-4, 32, 0.005,
    )  # fmt: skip
    paper = rtrain.RECIPES["paper"]
    assert (paper.optimizer, paper.momentum, paper.weight_decay, paper.batch_size) == (
        "sgd", 0.9, 1e-4, 128,
    )  # fmt: skip
    assert paper.augment == "crop"
    # lr 0.1, divided by 10 at 50% and 75% of training
    schedule = rtrain.make_schedule(paper.replace(epochs=100), steps_per_epoch=10)
    lrs = [float(schedule(step)) for step in (0, 499, 501, 749, 751, 999)]
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-5)


def test_default_cosine_schedule_warms_up_and_decays():
    recipe = rtrain.get_recipe("default", epochs=10)
    schedule = rtrain.make_schedule(recipe, steps_per_epoch=10)
    lr = [float(schedule(s)) for s in range(100)]
    peak = int(np.argmax(lr))
    assert lr[0] < 0.1 * recipe.learning_rate
    assert abs(max(lr) - recipe.learning_rate) < 1e-6
    assert peak == round(recipe.warmup_epochs * 10)
    assert lr[-1] < 0.01 * recipe.learning_rate


@pytest.mark.parametrize(
    "change, exc, word",
    [
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"label_smoothing": 2.0}, ValueError, "label_smoothing"),
        ({"precision": "float8"}, ValueError, "precision"),
        ({"augment": "mixup"}, ValueError, "augment"),
        ({"mixup": -1.0}, ValueError, "mixup"),
        ({"cutmix": "1"}, TypeError, "cutmix"),
        ({"milestones": (0.5, 1.5)}, ValueError, "milestones"),
        ({"swa": 1.0}, ValueError, "swa"),
        ({"lr_floor": -0.1}, ValueError, "lr_floor"),
        ({"colour": "blue"}, TypeError, "colour"),
    ],
)
def test_recipe_validation(change, exc, word):
    with pytest.raises(exc, match=word):
        rtrain.get_recipe("default", **change)


def test_unknown_recipe_lists_known_ones():
    with pytest.raises(ValueError, match="original, paper, default"):
        rtrain.get_recipe("fast")


def test_fit_rejects_bad_arguments_before_writing(tmp_path, small):
    out = tmp_path / "run"
    with pytest.raises(TypeError, match="model"):
        rtrain.fit("resnet", small, "default", out)
    with pytest.raises(TypeError, match="data"):
        rtrain.fit(_tiny(), np.zeros((4, 32, 32, 3)), "default", out)
    with pytest.raises(ValueError, match="strategy"):
        rtrain.fit(_tiny(), small, "default", out, strategy="gpu-cluster")
    with pytest.raises(ValueError, match="epochs"):
        rtrain.fit(_tiny(), small, "default", out, epochs=0)
    assert not out.exists()


# ----------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------
def test_fit_lifts_accuracy_well_above_chance(tmp_path):
    rtrain.seed_everything(0)
    data = rdata.load("flowers32", batch_size=128, augment="flip")
    model = rnpa.ResNetPreAct(num_stages=1)
    recipe = rtrain.get_recipe("default", epochs=3, warmup_epochs=1)
    history = rtrain.fit(model, data, recipe, tmp_path, verbose=0)
    acc = history.history["val_accuracy"]
    assert len(acc) == 3 and max(acc) > 0.45  # chance is 0.2
    assert history.history["loss"][-1] < history.history["loss"][0]
    for name in ("best.keras", "final.keras", "log.csv", "recipe.json"):
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "backup").exists()  # removed when training ends
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp files left
    # the saved model is the trained one
    reloaded = keras.models.load_model(tmp_path / "final.keras")
    x = next(iter(data.test))[0]
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )
    result = evaluate(model, data, "test")
    assert result.accuracy > 0.4 and result.confusion.sum() == 367


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt("simulated interruption")


def test_resume_continues_from_the_last_finished_epoch(tmp_path, small):
    rtrain.seed_everything(1)
    model = _tiny()
    with pytest.raises(KeyboardInterrupt):
        rtrain.fit(model, small, "default", tmp_path, epochs=4, callbacks=[_Interrupt()], verbose=0)
    assert (tmp_path / "backup").is_dir()
    weights_after_two = [w.copy() for w in model.get_weights()]
    # a fresh process would build a fresh model: the backup restores weights and epoch
    fresh = _tiny()
    history = rtrain.fit(fresh, small, "default", tmp_path, epochs=4, verbose=0)
    assert history.epoch == [2, 3]
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert not (tmp_path / "backup").exists()
    assert not all(
        np.allclose(a, b) for a, b in zip(weights_after_two, fresh.get_weights(), strict=True)
    )
    # resume=False starts over
    again = rtrain.fit(_tiny(), small, "default", tmp_path, epochs=1, resume=False, verbose=0)
    assert again.epoch == [0]


def test_stops_cleanly_on_nan_loss(tmp_path, small, capsys):
    # diverged weights: the classifier's bias is NaN, so the first loss is NaN.
    # (NaN *inputs* would not do: TensorFlow fuses each BN-ReLU pair of the
    # graph into one kernel whose ReLU turns NaN into 0, see rnpa.layers)
    model = _tiny()
    model.get_layer("fc10").bias.assign(np.full(5, np.nan, dtype=np.float32))
    history = rtrain.fit(model, small, "default", tmp_path, epochs=3, verbose=0)
    assert history.nan_stop is not None
    epoch, batch, loss = history.nan_stop
    assert (epoch, batch) == (0, 0) and not np.isfinite(loss)
    assert len(history.epoch) == 1  # stopped in the first epoch
    assert "stopped at epoch 1, batch 1" in capsys.readouterr().err
    assert not (tmp_path / "best.keras").exists() and not (tmp_path / "final.keras").exists()


def _seeded_run() -> dict:
    rtrain.seed_everything(7)
    data = rdata.load("flowers32", batch_size=64, limit=128, augment="default", seed=7)
    history = rtrain.fit(_tiny(), data, "default", None, epochs=2, verbose=0)
    return history.history


def test_seeded_runs_give_the_same_history():
    a = _seeded_run()
    b = _seeded_run()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)


def test_label_smoothing_off_uses_sparse_labels(small):
    recipe = rtrain.get_recipe("default", label_smoothing=0.0, bn_momentum=None)
    history = rtrain.fit(_tiny(), small, recipe, None, epochs=1, steps_per_epoch=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_mixing_feeds_soft_labels_to_training(small):
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(type(self.model.loss).__name__)

    recipe = rtrain.get_recipe("default", label_smoothing=0.0, cutmix=1.0, mixup=0.2)
    history = rtrain.fit(
        _tiny(), small, recipe, None, epochs=1, steps_per_epoch=2, callbacks=[Probe()], verbose=0
    )
    assert seen == ["CategoricalCrossentropy"]
    assert np.isfinite(history.history["loss"][0])


def test_bn_momentum_is_set_for_training_and_restored(small):
    model = _tiny()
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(model.get_layer("bn0").momentum)

    rtrain.fit(model, small, "default", None, epochs=1, steps_per_epoch=1, callbacks=[Probe()],
               verbose=0)  # fmt: skip
    assert seen == [rtrain.RECIPES["default"].bn_momentum]
    assert model.get_layer("bn0").momentum == 0.99


# ----------------------------------------------------------------------------
# weight averaging (SWA) and the best checkpoint of a resumed run
# ----------------------------------------------------------------------------
def test_swa_schedule_reaches_the_floor_when_averaging_starts():
    recipe = rtrain.get_recipe("default", epochs=8, warmup_epochs=1, swa=0.25, lr_floor=0.1)
    assert rtrain.swa_epochs(recipe) == 2
    assert rtrain.swa_epochs(recipe.replace(swa=0.01)) == 1  # at least one epoch
    assert rtrain.swa_epochs(recipe.replace(swa=0.0)) == 0
    lr = np.array([float(rtrain.make_schedule(recipe, 10)(s)) for s in range(80)])
    peak = recipe.learning_rate
    assert int(np.argmax(lr)) == 10 and abs(lr[10] - peak) < 1e-6
    assert np.all(np.diff(lr[10:61]) < 0)  # cosine decay down to the floor...
    np.testing.assert_allclose(lr[60:], 0.1 * peak, rtol=1e-5)  # ...then constant
    assert lr[59] > 0.1 * peak


class _Record(keras.callbacks.Callback):
    """The trainable weights at the end of every epoch."""

    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = [v.numpy().copy() for v in self.model.trainable_weights]


def _mean(*weight_lists):
    return [np.mean(ws, axis=0) for ws in zip(*weight_lists, strict=True)]


def test_swa_averages_the_weights_of_the_last_epochs(small):
    rtrain.seed_everything(3)
    recipe = rtrain.get_recipe("default", epochs=4, swa=0.5, lr_floor=0.5)
    model, record = _tiny(), _Record()
    history = rtrain.fit(model, small, recipe, None, steps_per_epoch=2, callbacks=[record],
                         verbose=0)  # fmt: skip
    assert history.swa_epochs == [2, 3]
    expected = _mean(record.weights[2], record.weights[3])
    assert not np.allclose(expected[0], record.weights[3][0])  # the epochs differ
    for got, want in zip(model.trainable_weights, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    assert 0.0 <= history.swa_val_accuracy <= 1.0
    # without swa nothing is averaged
    plain = rtrain.fit(_tiny(), small, recipe.replace(swa=0.0), None, steps_per_epoch=2, verbose=0)
    assert plain.swa_epochs == [] and plain.swa_val_accuracy is None


class _InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated interruption")


def test_swa_resumes_with_the_epochs_averaged_before_the_interruption(tmp_path, small):
    rtrain.seed_everything(4)
    recipe = rtrain.get_recipe("default", epochs=4, swa=0.5, lr_floor=0.5)
    first = _Record()
    with pytest.raises(KeyboardInterrupt):
        rtrain.fit(_tiny(), small, recipe, tmp_path, steps_per_epoch=2,
                   callbacks=[first, _InterruptAt(3)], verbose=0)  # fmt: skip
    assert (tmp_path / "backup" / "swa.npz").is_file()
    fresh, second = _tiny(), _Record()
    history = rtrain.fit(fresh, small, recipe, tmp_path, steps_per_epoch=2, callbacks=[second],
                         verbose=0)  # fmt: skip
    assert sorted(second.weights) == [3] and history.swa_epochs == [2, 3]
    expected = _mean(first.weights[2], second.weights[3])
    for got, want in zip(fresh.trainable_weights, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "backup").exists()
    reloaded = keras.models.load_model(tmp_path / "final.keras")
    for got, want in zip(reloaded.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_resumed_run_keeps_a_better_checkpoint_from_before(tmp_path, small):
    rtrain.seed_everything(5)
    with pytest.raises(KeyboardInterrupt):
        rtrain.fit(_tiny(), small, "default", tmp_path, epochs=4, steps_per_epoch=2,
                   callbacks=[_InterruptAt(2)], verbose=0)  # fmt: skip
    # pretend that epoch 2 was perfect: no later epoch may replace its checkpoint
    log = tmp_path / "log.csv"
    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    rows[1]["val_accuracy"] = "1.0"
    with open(log, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = (tmp_path / "best.keras").read_bytes()
    rtrain.fit(_tiny(), small, "default", tmp_path, epochs=4, steps_per_epoch=2, verbose=0)
    assert (tmp_path / "best.keras").read_bytes() == before


def test_recompute_batchnorm_averages_the_batch_statistics():
    from rnpa.layers import BatchNormalization

    rng = np.random.default_rng(0)
    inputs = keras.Input((3, 3, 2))
    bn1 = BatchNormalization(momentum=0.9, epsilon=1e-3, name="bn1")
    conv = keras.layers.Conv2D(2, 1, use_bias=False, name="conv")
    bn2 = keras.layers.BatchNormalization(momentum=0.99, name="bn2")  # Keras' own too
    model = keras.Model(inputs, bn2(conv(keras.layers.ReLU()(bn1(inputs)))))
    bn1.gamma.assign([1.5, 0.5])
    bn1.beta.assign([0.2, -0.1])
    kernel = conv.kernel.numpy().copy()
    batches = [rng.normal(loc, scale, (4, 3, 3, 2)).astype("float32")
               for loc, scale in ((0, 1), (2, 3), (-1, 0.5))]  # fmt: skip

    used = rtrain.recompute_batchnorm(model, [(x, np.zeros(4)) for x in batches])

    assert used == 3
    # expected, computed here with NumPy: each layer normalises with its batch statistics
    m1 = [x.mean(axis=(0, 1, 2)) for x in batches]
    v1 = [x.var(axis=(0, 1, 2)) for x in batches]
    h = [np.maximum((x - m) / np.sqrt(v + 1e-3) * [1.5, 0.5] + [0.2, -0.1], 0) @ kernel[0, 0]
         for x, m, v in zip(batches, m1, v1, strict=True)]  # fmt: skip
    np.testing.assert_allclose(bn1.moving_mean.numpy(), np.mean(m1, axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn1.moving_variance.numpy(), np.mean(v1, axis=0), rtol=1e-4)
    m2 = np.mean([x.mean(axis=(0, 1, 2)) for x in h], axis=0)
    v2 = np.mean([x.var(axis=(0, 1, 2)) for x in h], axis=0)
    np.testing.assert_allclose(bn2.moving_mean.numpy(), m2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn2.moving_variance.numpy(), v2, rtol=1e-4, atol=1e-6)
    assert (bn1.momentum, bn2.momentum) == (0.9, 0.99)  # restored
    np.testing.assert_array_equal(conv.kernel.numpy(), kernel)  # nothing else changes
    assert rtrain.recompute_batchnorm(model, [(x, 0) for x in batches], steps=1) == 1
    np.testing.assert_allclose(bn1.moving_mean.numpy(), m1[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="no batches"):
        rtrain.recompute_batchnorm(model, [])


# ----------------------------------------------------------------------------
# devices
# ----------------------------------------------------------------------------
def test_auto_strategy_and_precision_on_this_machine():
    import tensorflow as tf

    strategy = rtrain.get_strategy("auto")
    assert isinstance(strategy, tf.distribute.Strategy)
    if not tf.config.list_logical_devices("GPU"):
        assert strategy.num_replicas_in_sync == 1
        # float32 on every CPU, bf16 units or not (measured slower for this network)
        assert rtrain.resolve_precision("auto") == "float32"
    with pytest.raises(ValueError, match="precision"):
        rtrain.resolve_precision("half")


def test_rebuild_for_mixed_precision_keeps_weights_and_float32_output():
    import tensorflow as tf

    model = _tiny()
    clone = rtrain._rebuild(model, tf.distribute.get_strategy(), "mixed_bfloat16")
    assert clone.get_layer("conv0").compute_dtype == "bfloat16"
    assert clone.get_layer("fc10").compute_dtype == "float32"
    for a, b in zip(model.get_weights(), clone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    assert np.asarray(clone(x)).dtype == np.float32


MIRRORED = textwrap.dedent(
    """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np, rnpa
    from rnpa import data as rdata, train as rtrain
    strategy = rtrain.get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    rtrain.seed_everything(0)
    data = rdata.load("flowers32", batch_size=32, limit=64, augment="flip")
    model = rnpa.ResNetPreAct(num_stages=1)
    before = model.get_layer("conv0").get_weights()[0].copy()
    history = rtrain.fit(model, data, "default", None, epochs=1, strategy=strategy, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(before, model.get_layer("conv0").get_weights()[0])
    print("replicas", strategy.num_replicas_in_sync)
    """
)


def test_mirrored_strategy_on_two_logical_cpus():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True,
                         env=env, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "replicas 2" in run.stdout


# ----------------------------------------------------------------------------
# evaluation and pretrained weights
# ----------------------------------------------------------------------------
def test_confusion_matrix_and_report():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    from rnpa.evaluate import Evaluation

    result = Evaluation("test", ("a", "b", "c"), cm)
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.per_class == pytest.approx({"a": 0.5, "b": 1.0, "c": 2 / 3})
    text = result.report()
    assert "accuracy 66.67% on 6 images" in text and "confusion matrix" in text


def test_pretrained_flowers32_weights():
    model = rnpa.ResNetPreAct(weights="flowers32")
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
    model = _tiny(2)
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    other = rnpa.ResNetPreAct(num_stages=2, weights=path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_ema_and_step_schedule_options_train(small):
    recipe = rtrain.get_recipe("paper", ema=0.9, epochs=2, label_smoothing=0.1)
    model = _tiny()
    history = rtrain.fit(model, small, recipe, None, steps_per_epoch=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.optimizer.use_ema


# ---------------------------------------------------------------------------
# saved models: portable files, readable modes, bad files named
# ---------------------------------------------------------------------------
def test_saved_models_hold_keras_own_batchnorm_and_are_readable(tmp_path):
    import stat

    model = rnpa.ResNetPreAct(num_stages=1)
    path = tmp_path / "m.keras"
    rtrain._atomic_save(model, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    loaded = keras.models.load_model(path)
    bns = {type(la) for la in loaded.layers if isinstance(la, keras.layers.BatchNormalization)}
    assert bns == {keras.layers.BatchNormalization}
    # a second save writes the model's current weights, not the first save's
    model.get_layer("fc10").set_weights([np.ones_like(w) for w in model.get_layer("fc10").weights])
    rtrain._atomic_save(model, path)
    again = keras.models.load_model(path)
    np.testing.assert_array_equal(again.get_layer("fc10").get_weights()[0], 1.0)
    assert not [p for p in tmp_path.iterdir() if p.name != "m.keras"], "temporary files left"


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"])
def test_a_corrupt_keras_file_is_named_as_not_valid(tmp_path, content):
    bad = tmp_path / "best.keras"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=r"best\.keras' is not a valid \.keras file"):
        rtrain.load_model_file(bad)


# ---------------------------------------------------------------------------
# the run folder keeps what it holds (rnpa.run_folder)
# ---------------------------------------------------------------------------
def _snapshot(folder):
    """Every file under ``folder`` with its bytes: to prove that nothing changed."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _log_epochs(folder):
    with open(folder / "log.csv", newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_a_finished_run_asked_again_trains_nothing_and_keeps_its_files(tmp_path, small, capsys):
    rtrain.seed_everything(2)
    first = _tiny()
    rtrain.fit(first, small, "default", tmp_path, epochs=2, steps_per_epoch=2, verbose=0)
    before = _snapshot(tmp_path)
    again = _tiny()  # a new process would build a new, untrained network
    history = rtrain.fit(again, small, "default", tmp_path, epochs=2, steps_per_epoch=2,
                         verbose=1)  # fmt: skip
    assert history.complete is True
    assert "is complete (2 epochs): nothing to train" in capsys.readouterr().out
    assert _snapshot(tmp_path) == before
    assert history.epoch == [0, 1] and len(history.history["val_accuracy"]) == 2
    for a, b in zip(first.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_more_epochs_extend_a_finished_run(tmp_path, small):
    rtrain.seed_everything(3)
    rtrain.fit(_tiny(), small, "default", tmp_path, epochs=2, steps_per_epoch=2, verbose=0)
    history = rtrain.fit(_tiny(), small, "default", tmp_path, epochs=3, steps_per_epoch=2,
                         verbose=0)  # fmt: skip
    assert history.epoch == [2] and history.complete is False
    assert _log_epochs(tmp_path) == [0, 1, 2]
    record = json.loads((tmp_path / "recipe.json").read_text())
    assert record["complete"] is True and record["epochs"] == 3


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"recipe": "original"}, "recipe.name: 'default' in the folder, 'original' now"),
        ({"learning_rate": 0.05}, "recipe.learning_rate: 0.1 in the folder, 0.05 now"),
        ({"num_stages": 2}, "model.parameters"),
    ],
)
def test_another_run_into_an_interrupted_runs_folder_is_refused(tmp_path, small, change, words):
    rtrain.seed_everything(4)
    with pytest.raises(KeyboardInterrupt):
        rtrain.fit(_tiny(), small, "default", tmp_path, epochs=3, steps_per_epoch=2,
                   callbacks=[_InterruptAt(1)], verbose=0)  # fmt: skip
    before = _snapshot(tmp_path)
    recipe = rtrain.get_recipe(change.get("recipe", "default"),
                               learning_rate=change.get("learning_rate"))
    model = _tiny(change.get("num_stages", 1))
    with pytest.raises(ValueError) as info:
        rtrain.fit(model, small, recipe, tmp_path, epochs=3, steps_per_epoch=2, verbose=0)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert f"out_dir {str(tmp_path)!r} holds another run" in message
    assert words in message and "overwrite=True" in message
    assert _snapshot(tmp_path) == before
    # overwrite=True replaces it
    history = rtrain.fit(model, small, recipe, tmp_path, epochs=1, steps_per_epoch=2,
                         overwrite=True, verbose=0)  # fmt: skip
    assert history.epoch == [0] and _log_epochs(tmp_path) == [0]


def test_another_dataset_into_the_folder_is_one_line_and_keeps_the_statistics(tmp_path, small):
    rtrain.fit(_tiny(), small, "default", tmp_path, epochs=1, steps_per_epoch=1, verbose=0)
    saved = (tmp_path / "recipe.json").read_text()
    other = rdata.load("flowers32", batch_size=64, limit=128, augment="flip")
    with pytest.raises(ValueError, match=r"holds another run \(data\.sizes\.train: 256"):
        rtrain.fit(_tiny(), other, "default", tmp_path, epochs=1, steps_per_epoch=1, verbose=0)
    assert (tmp_path / "recipe.json").read_text() == saved


def test_a_folder_of_an_older_run_without_identity_is_refused(tmp_path, small):
    (tmp_path / "best.keras").write_bytes(b"an old run's model")
    with pytest.raises(ValueError, match=r"recorded no identity \(best\.keras"):
        rtrain.fit(_tiny(), small, "default", tmp_path, epochs=1, steps_per_epoch=1, verbose=0)
    assert (tmp_path / "best.keras").read_bytes() == b"an old run's model"


def test_a_truncated_backup_falls_back_to_the_state_before(tmp_path, small):
    """A write cut short (SIGKILL, full disk) leaves a truncated latest.weights.h5."""
    rtrain.seed_everything(6)
    with pytest.raises(KeyboardInterrupt):
        rtrain.fit(_tiny(), small, "default", tmp_path, epochs=4, steps_per_epoch=2,
                   callbacks=[_InterruptAt(3)], verbose=0)  # fmt: skip
    latest = tmp_path / "backup" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:1000])  # truncated mid-write
    history = rtrain.fit(_tiny(), small, "default", tmp_path, epochs=4, steps_per_epoch=2,
                         verbose=0)  # fmt: skip
    # the state of epoch 2 (the one before) was restored: epochs 3 and 4 trained again
    assert history.epoch == [2, 3]
    assert _log_epochs(tmp_path) == [0, 1, 2, 3]


def test_an_unreadable_backup_is_set_aside_and_training_starts_over(tmp_path, small):
    rtrain.seed_everything(7)
    with pytest.raises(KeyboardInterrupt):
        rtrain.fit(_tiny(), small, "default", tmp_path, epochs=3, steps_per_epoch=2,
                   callbacks=[_InterruptAt(1)], verbose=0)  # fmt: skip
    for f in (tmp_path / "backup").iterdir():
        f.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match=r"cannot be read.*set aside as backup\.unreadable-"):
        history = rtrain.fit(_tiny(), small, "default", tmp_path, epochs=3, steps_per_epoch=2,
                             verbose=0)  # fmt: skip
    assert history.epoch == [0, 1, 2]
    assert _log_epochs(tmp_path) == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("backup.unreadable-")]


def test_a_full_disk_while_saving_the_best_model_redoes_that_epoch(tmp_path, small, monkeypatch):
    import errno

    rtrain.seed_everything(8)
    real = rtrain._atomic_save
    calls = []

    def full_once(model, path):
        calls.append(path.name)
        if path.name == "best.keras" and calls.count("best.keras") == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(model, path)

    monkeypatch.setattr(rtrain, "_atomic_save", full_once)
    monkeypatch.setattr(rtrain.BestCheckpoint, "on_epoch_end", _always_improve)
    with pytest.raises(OSError, match="No space left"):
        rtrain.fit(_tiny(), small, "default", tmp_path, epochs=3, steps_per_epoch=2, verbose=0)
    # the backup did not move past the epoch whose checkpoint failed (epoch 2)
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 1
    monkeypatch.setattr(rtrain, "_atomic_save", real)
    history = rtrain.fit(_tiny(), small, "default", tmp_path, epochs=3, steps_per_epoch=2,
                         verbose=0)  # fmt: skip
    assert history.epoch == [1, 2]
    assert _log_epochs(tmp_path) == [0, 1, 2]


def _always_improve(self, epoch, logs=None):
    """BestCheckpoint.on_epoch_end as if every epoch were the best so far."""
    rtrain._atomic_save(self.model, self.path)


def test_checkpoints_keep_the_layers_own_batchnorm_momentum(tmp_path, small):
    """The default recipe trains with BN momentum 0.9; the saved models keep Keras' 0.99."""
    assert rtrain.get_recipe("default").bn_momentum == 0.9
    rtrain.fit(_tiny(), small, "default", tmp_path, epochs=1, steps_per_epoch=1, verbose=0)
    for name in ("best.keras", "final.keras"):
        loaded = keras.models.load_model(tmp_path / name)
        momenta = {la.momentum for la in loaded.layers
                   if isinstance(la, keras.layers.BatchNormalization)}  # fmt: skip
        assert momenta == {0.99}, name
