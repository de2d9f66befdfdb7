"""The run folder keeps what it holds (rnpa.run_folder), and the callbacks that keep it safe
(rnpa.callbacks): portable atomic checkpoints, resume, unreadable backups, a full disk."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

import rnpa
from rnpa import callbacks as rcallbacks
from rnpa import data as rdata
from rnpa import train as rtrain

#: every test here trains a network or writes its files
pytestmark = pytest.mark.slow


def _tiny(num_stages: int = 1) -> keras.Model:
    return rnpa.ResNetPreAct(num_stages=num_stages)


class _InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated interruption")


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


# ---------------------------------------------------------------------------
# saved models: portable files, readable modes, bad files named
# ---------------------------------------------------------------------------
def test_saved_models_hold_keras_own_batchnorm_and_are_readable(tmp_path):
    import stat

    model = rnpa.ResNetPreAct(num_stages=1)
    path = tmp_path / "m.keras"
    rcallbacks.save_model(model, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    loaded = keras.models.load_model(path)
    bns = {type(la) for la in loaded.layers if isinstance(la, keras.layers.BatchNormalization)}
    assert bns == {keras.layers.BatchNormalization}
    # a second save writes the model's current weights, not the first save's
    model.get_layer("fc10").set_weights([np.ones_like(w) for w in model.get_layer("fc10").weights])
    rcallbacks.save_model(model, path)
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
    recipe = rtrain.get_recipe(
        change.get("recipe", "default"), learning_rate=change.get("learning_rate")
    )
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
    real = rcallbacks.save_model
    calls = []

    def full_once(model, path):
        calls.append(path.name)
        if path.name == "best.keras" and calls.count("best.keras") == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(model, path)

    monkeypatch.setattr(rcallbacks, "save_model", full_once)
    monkeypatch.setattr(rcallbacks.BestCheckpoint, "_should_save_model", _always_improve)
    with pytest.raises(OSError, match="No space left"):
        rtrain.fit(_tiny(), small, "default", tmp_path, epochs=3, steps_per_epoch=2, verbose=0)
    # the backup did not move past the epoch whose checkpoint failed (epoch 2)
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 1
    monkeypatch.setattr(rcallbacks, "save_model", real)
    history = rtrain.fit(_tiny(), small, "default", tmp_path, epochs=3, steps_per_epoch=2,
                         verbose=0)  # fmt: skip
    assert history.epoch == [1, 2]
    assert _log_epochs(tmp_path) == [0, 1, 2]


def _always_improve(self, *args):
    """Keras' ModelCheckpoint decision, as if every epoch were the best so far."""
    return True


def test_checkpoints_keep_the_layers_own_batchnorm_momentum(tmp_path, small):
    """The default recipe trains with BN momentum 0.9; the saved models keep Keras' 0.99."""
    assert rtrain.get_recipe("default").bn_momentum == 0.9
    rtrain.fit(_tiny(), small, "default", tmp_path, epochs=1, steps_per_epoch=1, verbose=0)
    for name in ("best.keras", "final.keras"):
        loaded = keras.models.load_model(tmp_path / name)
        momenta = {la.momentum for la in loaded.layers
                   if isinstance(la, keras.layers.BatchNormalization)}  # fmt: skip
        assert momenta == {0.99}, name
