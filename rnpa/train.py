"""Training: :func:`fit`, a model trained with a recipe into a run folder.

The rooms it draws on: :mod:`rnpa.recipes` (how to train), :mod:`rnpa.distribute`
(strategy, precision, workers), :mod:`rnpa.callbacks` (checkpoints, resume, NaN
stop) and :mod:`rnpa.run_folder` (what run a folder holds: new, resume, extend,
complete or refuse). The names that used to live here (``get_recipe``,
``RECIPES``, ``get_strategy``, ...) are imported from those rooms, so
``rnpa.train.get_recipe`` keeps working.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from rnpa import run_folder
from rnpa._checks import check_positive_int
from rnpa.callbacks import (
    BestCheckpoint,
    SafeBackupAndRestore,
    SetBatchNormMomentum,
    StopOnNaN,
    logged_best,
    save_model,
)
from rnpa.distribute import (
    STRATEGIES,
    KerasMultiWorkerFixes,
    average_over_workers,
    get_strategy,
    rebuild,
    resolve_precision,
    worker_role,
)
from rnpa.recipes import (
    OPTIMIZERS,
    PRECISIONS,
    RECIPES,
    SCHEDULES,
    Recipe,
    get_recipe,
    make_optimizer,
    make_schedule,
)


def seed_everything(seed: int = 0, deterministic: bool = False) -> int:
    """Seed Python, NumPy and TensorFlow; optionally make TF ops deterministic.

    Parameters
    ----------
    seed : int
        Seed >= 0.
    deterministic : bool
        Also call ``tf.config.experimental.enable_op_determinism()`` (slower;
        two seeded runs then give identical results on the same machine).

    Returns
    -------
    int
        The seed.
    """
    seed = check_positive_int(seed, "seed", minimum=0)
    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return seed


@dataclass
class FitResult:
    """What :func:`fit` returns: the per-epoch log (as ``History.history``) and how it ended."""

    history: dict[str, list[float]]
    epoch: list[int]
    recipe: Recipe
    out_dir: Path | None = None
    nan_stop: tuple[int, int, float] | None = None
    complete: bool = False
    message: str = ""


@dataclass
class _Paths:
    """Where a call of :func:`fit` writes: the run folder, or a worker's own copies."""

    out: Path | None
    files: Path | None = None
    backup: Path | None = None
    workers: int = 1

    @classmethod
    def of(cls, out_dir: Any, strategy: Any) -> _Paths:
        if out_dir is None:
            return cls(None)
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"out_dir must be a folder, got the file {str(out)!r}")
        out.mkdir(parents=True, exist_ok=True)
        # under MultiWorkerMirroredStrategy only the chief writes the run's files
        # (TensorFlow's advice); the others write into a temporary folder and keep a
        # backup of their own (backup-worker1, ...) so that a restarted cluster resumes
        workers, chief, task = worker_role(strategy)
        if chief:
            return cls(out, out, out / "backup", workers)
        return cls(
            out, Path(tempfile.mkdtemp(prefix=f"rnpa-{task}-")), out / f"backup-{task}", workers
        )

    def close(self) -> None:
        if self.files is not None and self.files != self.out:
            shutil.rmtree(self.files, ignore_errors=True)  # a worker's copies, not the run's


def _check_model(model: Any) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    if len(model.outputs or []) != 1:
        raise ValueError("model must have exactly one output (class probabilities)")
    return model


def _check_data(data: Any, recipe: Recipe, seed: int | None) -> Any:
    from rnpa import data as rdata

    if isinstance(data, str):
        return rdata.load(data, batch_size=recipe.batch_size, augment=recipe.augment, seed=seed)
    if not isinstance(data, rdata.Data):
        raise TypeError(
            "data must be a dataset name or an rnpa.data.Data (from rnpa.data.load), "
            f"got {type(data).__name__}"
        )
    return data


def _check_flags(steps_per_epoch: Any, resume: Any, overwrite: Any, tensorboard: Any) -> None:
    if steps_per_epoch is not None:
        check_positive_int(steps_per_epoch, "steps_per_epoch")
    for name, flag in (("resume", resume), ("overwrite", overwrite)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(
            "tensorboard=True needs the tensorboard package (pip install tensorboard); "
            "log.csv is written without it"
        )


def _loss_and_data(recipe: Recipe, data: Any) -> tuple[Any, Any, Any]:
    """The loss, and the training and validation pipelines it needs."""
    if not recipe.label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy(), data.train, data.val
    # Keras' sparse cross-entropy has no label smoothing: one-hot labels instead
    import tensorflow as tf

    def one_hot(x: Any, y: Any) -> tuple[Any, Any]:
        return x, tf.one_hot(y, data.num_classes)

    loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
    return loss, data.train.map(one_hot), data.val.map(one_hot)


def _callbacks(
    paths: _Paths, plan: Any, recipe: Recipe, nan_stop: StopOnNaN, tensorboard: bool, extra: Any
) -> list[keras.callbacks.Callback]:
    """NaN stop, BN momentum, then (with a folder) best checkpoint, log, backup; then ``extra``."""
    cbs: list[keras.callbacks.Callback] = [nan_stop]
    if recipe.bn_momentum is not None:
        cbs.append(SetBatchNormMomentum(recipe.bn_momentum))
    if paths.out is not None:
        files, resumed = paths.files, plan.action != "new"
        # a resumed or extended run must beat the best epoch logged before too
        floor = logged_best(files / "log.csv", "val_accuracy") if resumed else None
        cbs.append(
            BestCheckpoint(files / "best.keras", initial_value_threshold=floor, nan_stop=nan_stop)
        )
        cbs.append(keras.callbacks.CSVLogger(str(files / "log.csv"), append=resumed))
        if tensorboard:
            cbs.append(keras.callbacks.TensorBoard(str(files / "tensorboard")))
        # the backup moves to an epoch only after its checkpoint and log row are written:
        # a failure there (a full disk) makes the next run redo that epoch
        cbs.append(SafeBackupAndRestore(str(paths.backup), log=files / "log.csv"))
    return cbs + list(extra or [])


def _compiled(
    model: keras.Model, strategy: Any, policy: str, recipe: Recipe, steps: int, loss: Any
) -> keras.Model:
    """``model`` (or its clone under ``strategy`` and ``policy``), compiled with the recipe."""
    import tensorflow as tf

    plain = strategy is tf.distribute.get_strategy() and policy == "float32"
    train_model = model if plain else rebuild(model, strategy, policy)
    with strategy.scope():  # keywords: a positional compile binds metrics to loss_weights
        train_model.compile(
            optimizer=make_optimizer(recipe, steps),
            loss=loss,
            metrics=["accuracy"],
            jit_compile=recipe.jit_compile,
        )
    return train_model


def _record(recipe: Recipe, data: Any, policy: str, seed: int | None) -> dict[str, Any]:
    """What ``recipe.json`` keeps beside the run's identity (normalisation included)."""
    return {
        "recipe": recipe.to_dict(),
        "dataset": data.name,
        "batch_size": data.batch_size,
        "augment": data.augment,
        "precision": policy,
        "seed": seed,
        "mean": data.mean.tolist(),
        "std": data.std.tolist(),
    }


def fit(
    model: keras.Model,
    data: Any = "flowers32",
    recipe: str | Recipe = "default",
    out_dir: str | os.PathLike[str] | None = None,
    *,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    strategy: Any = "auto",
    resume: bool = True,
    overwrite: bool = False,
    tensorboard: bool = False,
    callbacks: list[keras.callbacks.Callback] | None = None,
    seed: int | None = None,
    verbose: Any = "auto",
) -> FitResult:
    """Compile and train ``model`` with a recipe; write checkpoints and logs.

    Parameters
    ----------
    model : keras.Model
        An uncompiled (or compiled) model with softmax outputs, e.g.
        ``rnpa.ResNetPreAct()``. After the call it holds the final weights.
    data : rnpa.data.Data or str
        Pipelines from :func:`rnpa.data.load` (their batch size and
        augmentation are used as they are), or a dataset name, loaded with the
        recipe's batch size and augmentation.
    recipe : str or Recipe
        A name in :data:`RECIPES` or a :class:`Recipe`.
    out_dir : path, optional
        Where to write ``best.keras`` (the epoch of best validation accuracy), ``final.keras``,
        ``log.csv``, ``recipe.json``, ``backup/`` (removed when training ends)
        and ``tensorboard/``. ``None`` writes nothing and cannot resume.
    epochs : int, optional
        Override the recipe's number of epochs (the schedule follows).
    steps_per_epoch : int, optional
        Batches per epoch (default: one pass over the training split).
    strategy : str or tf.distribute.Strategy
        See :func:`get_strategy`; with anything but the default strategy, or a
        precision other than float32, the model is cloned under it and the
        trained weights are copied back. With MultiWorkerMirroredStrategy over
        several machines, each runs the same call (build the model with the
        same seed on each): only the chief writes ``out_dir``'s files, the other
        workers keep only their backup there (``backup-worker1``, ...), and at
        the end every worker holds the same weights (the BatchNormalization
        statistics averaged over the workers).
    resume : bool
        Continue an interrupted run from ``out_dir/backup`` (the last finished
        epoch); ``False`` starts the same run over. ``recipe.json`` records what
        defines the run (``rnpa.run_folder``): the same call on a complete run
        trains nothing and gives ``model`` the run's final weights
        (``result.complete`` is True), more ``epochs`` extend it from its final
        weights, and another run is refused before anything changes.
    overwrite : bool
        Replace whatever run ``out_dir`` holds (its files are removed first).
    tensorboard : bool
        Also write TensorBoard logs.
    callbacks : list of keras.callbacks.Callback, optional
        Extra callbacks.
    seed : int, optional
        Call :func:`seed_everything` first.
    verbose : "auto", 0, 1 or 2
        Keras' progress output.

    Returns
    -------
    FitResult
        ``result.history`` per epoch (loss, accuracy, val_loss, val_accuracy,
        learning_rate) of the epochs this call trained, ``result.epoch`` (those
        epochs, from 0; a complete run asked again gives the whole run's log),
        ``result.nan_stop`` (``None`` or ``(epoch, batch, loss)``),
        ``result.out_dir``, ``result.recipe`` and ``result.complete``.
    """
    recipe = get_recipe(recipe)
    if epochs is not None:
        recipe = recipe.replace(epochs=check_positive_int(epochs, "epochs"))
    model = _check_model(model)
    _check_flags(steps_per_epoch, resume, overwrite, tensorboard)
    if seed is not None:
        seed_everything(seed)
    strategy = get_strategy(strategy)
    policy = resolve_precision(recipe.precision)
    data = _check_data(data, recipe, seed)
    paths = _Paths.of(out_dir, strategy)
    # what the folder holds decides what to do, before anything is built or compiled
    plan, ident = run_folder.Plan("new"), None
    if paths.out is not None:
        ident = run_folder.identity(model, data, recipe, seed, steps_per_epoch)
        plan = run_folder.prepare(
            paths.files, ident, recipe.epochs, resume=resume, overwrite=overwrite
        )
        if plan.action == "complete":
            return _complete(model, paths, plan, recipe, verbose)
    steps = steps_per_epoch or data.steps_per_epoch
    loss, train_ds, val_ds = _loss_and_data(recipe, data)
    train_model = _compiled(model, strategy, policy, recipe, steps, loss)
    if plan.action == "extend":  # from the final weights, on the longer run's schedule
        train_model.set_weights(load_model_file(paths.files / "final.keras").get_weights())
        train_model.optimizer.iterations.assign(plan.done * steps)
    nan_stop = StopOnNaN()
    cbs = _callbacks(paths, plan, recipe, nan_stop, tensorboard, callbacks)
    record = _record(recipe, data, policy, seed)
    if paths.out is not None:
        run_folder.write_record(paths.files, ident, recipe.epochs, False, record)
    fixes = KerasMultiWorkerFixes(train_model, strategy) if paths.workers > 1 else None
    with fixes or contextlib.nullcontext():
        history = train_model.fit(
            train_ds.repeat() if steps_per_epoch else train_ds,
            epochs=recipe.epochs,
            initial_epoch=plan.done if plan.action == "extend" else 0,
            steps_per_epoch=steps_per_epoch,
            validation_data=val_ds,
            callbacks=cbs,
            verbose=verbose,
            shuffle=False,  # the pipeline shuffles
        )
    if paths.workers > 1:
        average_over_workers(train_model, strategy)
    if train_model is not model:
        model.set_weights(train_model.get_weights())
    if paths.out is not None and nan_stop.stopped is None:
        save_model(model, paths.files / "final.keras")
        run_folder.write_record(paths.files, ident, recipe.epochs, True, record)
    paths.close()
    return FitResult(
        dict(history.history), list(history.epoch), recipe, paths.out, nan_stop.stopped
    )


def _complete(
    model: keras.Model, paths: _Paths, plan: Any, recipe: Recipe, verbose: Any
) -> FitResult:
    """A complete run asked again: nothing trained; ``model`` gets its final weights."""
    model.set_weights(load_model_file(paths.files / "final.keras").get_weights())
    if verbose:
        print(plan.message)
    log = run_folder.history_from_log(paths.files)
    return FitResult(
        dict(log.history), list(log.epoch), recipe, paths.out, complete=True, message=plan.message
    )


def load_model_file(path: str | os.PathLike[str]) -> keras.Model:
    """Load a ``.keras`` file (uncompiled), or raise one ValueError that names it.

    An empty, truncated or foreign file makes Keras raise anything from
    ``BadZipFile`` to ``KeyError``; here it is "not a valid .keras file".
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if path.suffix != ".keras":
        raise ValueError(f"model must be a .keras file (from train), got {str(path)!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{str(path)!r} is not a valid .keras file (not a zip archive: "
            "empty, truncated or another format)"
        )
    try:
        return keras.models.load_model(path, compile=False)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as err:
        detail = " ".join(str(err).split())[:200]
        raise ValueError(f"{str(path)!r} is not a valid .keras file ({detail})") from None


__all__ = [
    "FitResult",
    "OPTIMIZERS",
    "PRECISIONS",
    "RECIPES",
    "Recipe",
    "SCHEDULES",
    "STRATEGIES",
    "BestCheckpoint",
    "StopOnNaN",
    "fit",
    "get_recipe",
    "get_strategy",
    "load_model_file",
    "make_optimizer",
    "make_schedule",
    "resolve_precision",
    "seed_everything",
    "worker_role",
]
