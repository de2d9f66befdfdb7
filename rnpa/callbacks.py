"""Callbacks of :func:`rnpa.train.fit`: checkpoints written atomically, resume, NaN stop.

Each is Keras' own callback where Keras has one (``ModelCheckpoint``,
``TerminateOnNaN``, ``BackupAndRestore``), changed only where a run folder needs
more: files written through a temporary file and a rename, a portable saved model,
a backup that never leaves the folder stuck.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import tempfile
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

import keras

#: each saved model's portable twin, built once (a clone costs ~0.7 s, copying weights ~ms)
_TWINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _portable_twin(model: keras.Model) -> keras.Model:
    """``rnpa.layers.portable(model)``, kept and refreshed with the model's current weights."""
    from rnpa.layers import portable

    twin = _TWINS.get(model)
    if twin is None:
        twin = _TWINS[model] = portable(model)
    else:
        twin.set_weights(model.get_weights())
    # a checkpoint taken during training keeps the layers' own momentum, not the training one
    for layer, copy in zip(bn_layers(model), bn_layers(twin), strict=True):
        copy.momentum = getattr(layer, "_rnpa_configured_momentum", layer.momentum)
    return twin


def save_model(model: keras.Model, path: Path) -> None:
    """Save ``model`` to ``path`` (``.keras``) through a temporary file and a rename.

    The file holds Keras' own BatchNormalization (``rnpa.layers.portable``), so
    it loads with plain Keras, without rnpa; it gets mode 0644 like the other
    outputs (a temporary file is created 0600).
    """
    fd, tmp = tempfile.mkstemp(suffix=".keras", dir=path.parent, prefix=f".{path.stem}-")
    os.close(fd)
    try:
        _portable_twin(model).save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras' ``TerminateOnNaN``, which also records where it stopped and says what to do.

    After the stop, ``stopped`` holds ``(epoch, batch, loss)``; :class:`BestCheckpoint`
    saves nothing after it (the weights have diverged).
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stopped: tuple[int, int, float] | None = None
        self.stream = stream
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Remember the epoch for the message."""
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras' check of the running loss, plus the record and the advice."""
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)) or self.stopped is not None:
            return
        self.stopped = (self._epoch, batch, float(loss))
        with contextlib.redirect_stdout(io.StringIO()):  # its own line says less than ours
            super().on_batch_end(batch, logs)
        print(
            f"\nrnpa.train.fit: stopped at epoch {self._epoch + 1}, batch {batch + 1}: "
            f"the loss is {float(loss)}; the weights have diverged. Lower the learning "
            "rate, or check the inputs for NaN.",
            file=self.stream or sys.stderr,
            flush=True,
        )


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ``ModelCheckpoint(save_best_only=True)``, written atomically and portably.

    Keras decides when the monitored value improved (``monitor``, ``mode``,
    ``initial_value_threshold``: a resumed run must beat the best epoch it
    logged before). The file is written through a temporary file and a rename
    (Keras writes in place, so an interruption would leave half a file) and holds
    Keras' own BatchNormalization, so it loads without rnpa (:func:`save_model`).
    Nothing is saved after ``nan_stop`` stopped the run.
    """

    def __init__(
        self,
        path: Path,
        monitor: str = "val_accuracy",
        initial_value_threshold: float | None = None,
        nan_stop: StopOnNaN | None = None,
    ) -> None:
        super().__init__(
            str(path),
            monitor=monitor,
            mode="max" if "acc" in monitor else "min",
            save_best_only=True,
            initial_value_threshold=initial_value_threshold,
        )
        self.nan_stop = nan_stop

    def _save_model(self, epoch: int, batch: Any, logs: dict | None) -> None:
        # Keras' hook (keras/src/callbacks/model_checkpoint.py): its decision, our writer
        if self.nan_stop is not None and self.nan_stop.stopped is not None:
            return
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self._should_save_model(epoch, batch, logs, self.filepath):
            save_model(self.model, Path(self.filepath))


def logged_best(log: Path, monitor: str) -> float:
    """The highest finite ``monitor`` in a CSV log (-inf if none)."""
    import csv

    best = -math.inf
    if log.is_file():
        with open(log, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    value = float(row.get(monitor) or "nan")
                except ValueError:
                    continue
                if math.isfinite(value):
                    best = max(best, value)
    return best


class SetBatchNormMomentum(keras.callbacks.Callback):
    """Set the momentum of every BatchNormalization layer for training, restore it after."""

    def __init__(self, momentum: float):
        super().__init__()
        self.momentum = float(momentum)
        self._saved: list[tuple[Any, float]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Set the momentum."""
        self._saved = [(layer, layer.momentum) for layer in bn_layers(self.model)]
        for layer, momentum in self._saved:
            layer.momentum = self.momentum
            layer._rnpa_configured_momentum = momentum  # what checkpoints save (_portable_twin)

    def on_train_end(self, logs: dict | None = None) -> None:
        """Restore the layers' own momentum (so a saved model keeps its config)."""
        for layer, momentum in self._saved:
            layer.momentum = momentum
            del layer._rnpa_configured_momentum


def bn_layers(model: keras.Model) -> list[Any]:
    return [
        layer for layer in model._flatten_layers()  # noqa: SLF001
        if isinstance(layer, keras.layers.BatchNormalization)
    ]  # fmt: skip


class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` keeping two states, and never stuck on a bad one.

    ``double_checkpoint=True`` keeps the state of the epoch before, which Keras
    restores when the last one cannot be read (a write cut by SIGKILL, an OOM
    kill or a full disk). If neither can be read, the backup is set aside as
    ``backup.unreadable-<time>`` with a warning and training starts from the
    first epoch, instead of failing on every later run.
    """

    def __init__(self, backup_dir: str, log: Path | None = None) -> None:
        super().__init__(backup_dir, double_checkpoint=True)
        self.log = log

    def _trim_log(self) -> None:
        """Keep the log's rows of the epochs the restored state has (no epoch twice)."""
        restored = self.model._initial_epoch  # noqa: SLF001 (None: nothing was restored)
        if restored is None or self.log is None or not self.log.is_file():
            return
        # cut the file in place, one truncate call (Keras' CSVLogger already holds it open
        # for appending, so it must stay the same file)
        with open(self.log, "rb+") as f:
            lines = f.readlines()
            keep = lines[: 1 + restored]  # the header and the epochs done
            if len(keep) < len(lines):
                f.truncate(sum(len(line) for line in keep))

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Restore the last readable state, or set an unreadable backup aside."""
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        saved = [v.numpy() for v in self.model.variables]
        saved_opt = [v.numpy() for v in optimizer.variables] if optimizer is not None else []
        try:
            super().on_train_begin(logs)
        except Exception as err:  # noqa: BLE001 (h5py, json and Keras raise many kinds)
            for v, value in zip(self.model.variables, saved, strict=True):
                v.assign(value)
            if optimizer is not None:
                for v, value in zip(optimizer.variables, saved_opt, strict=True):
                    v.assign(value)
            self.model._initial_epoch = 0  # noqa: SLF001 (where Keras' callback sets it)
            backup = Path(self.backup_dir)
            aside = backup.with_name(f"{backup.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
            backup.rename(aside)
            detail = " ".join(str(err).split())[:160]
            warnings.warn(
                f"the backup in {backup} cannot be read ({type(err).__name__}: "
                f"{detail}); set aside as {aside.name}, training starts from epoch 1",
                stacklevel=2,
            )
        self._trim_log()


__all__ = [
    "BestCheckpoint",
    "SafeBackupAndRestore",
    "SetBatchNormMomentum",
    "StopOnNaN",
    "bn_layers",
    "logged_best",
    "save_model",
]
