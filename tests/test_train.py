"""rnpa.train: fit (learning, resume, NaN stop, seeding, its result)."""

from __future__ import annotations

import csv
import os

import keras
import numpy as np
import pytest

import rnpa
from rnpa import data as rdata
from rnpa import train as rtrain
from rnpa.evaluate import evaluate

#: every test here trains a network
pytestmark = pytest.mark.slow


def _tiny(num_stages: int = 1) -> keras.Model:
    return rnpa.ResNetPreAct(num_stages=num_stages)


# ----------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------
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


def test_fit_returns_a_small_result_not_a_patched_history(tmp_path, small):
    result = rtrain.fit(_tiny(), small, "default", tmp_path, epochs=2, steps_per_epoch=1, verbose=0)
    assert type(result) is rtrain.FitResult and rnpa.fit is rtrain.fit
    assert result.epoch == [0, 1] and result.nan_stop is None and not result.complete
    assert result.out_dir == tmp_path and result.recipe.epochs == 2
    with open(tmp_path / "log.csv", newline="") as f:
        logged = [float(r["val_accuracy"]) for r in csv.DictReader(f)]
    assert result.history["val_accuracy"] == pytest.approx(logged)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(result.history)


def test_label_smoothing_off_uses_sparse_labels(small):
    recipe = rtrain.get_recipe("default", label_smoothing=0.0, bn_momentum=None)
    history = rtrain.fit(_tiny(), small, recipe, None, epochs=1, steps_per_epoch=2, verbose=0)
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


def test_ema_and_step_schedule_options_train(small):
    recipe = rtrain.get_recipe("paper", ema=0.9, epochs=2, label_smoothing=0.1)
    model = _tiny()
    history = rtrain.fit(model, small, recipe, None, steps_per_epoch=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.optimizer.use_ema
