"""Training: recipes, ``fit`` with its callbacks, devices, precision and seeding.

A :class:`Recipe` is everything about *how* a network is trained (optimizer,
learning-rate schedule, regularisation, label smoothing, epochs, batch size,
augmentation, precision, XLA), kept apart from the network and the data.
:data:`RECIPES` holds the named ones:

* ``original``: the 2017 notebook's (Adam 1e-4, batch 32, L2 0.005 in the
  network, the notebook's zoom/shear/flip augmentation);
* ``paper``: He et al. 2016 on CIFAR (SGD momentum 0.9, weight decay 1e-4,
  batch 128, lr 0.1 divided by 10 at 50% and 75% of training, pad-4 crop + flip);
* ``default``: a short schedule tuned for flowers32 on a laptop CPU.

:func:`fit` trains a model with a recipe and writes into ``out_dir`` the best
checkpoint, a backup to resume an interrupted run, a CSV log and optionally
TensorBoard logs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import math
import numbers
import os
import shutil
import sys
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from rnpa import run_folder
from rnpa._files import write_atomic
from rnpa._checks import check_choice, check_positive_int

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "default", "mirrored", "tpu", "multiworker")


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


# ----------------------------------------------------------------------------
# recipes
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """How to train: optimizer, schedule, regularisation, epochs, precision.

    Attributes
    ----------
    name : str
        Name of the recipe.
    optimizer : {"sgd", "adam", "adamw"}
        The optimizer (SGD with ``momentum`` and ``nesterov``).
    learning_rate : float
        Peak learning rate.
    schedule : {"constant", "cosine", "step"}
        ``cosine`` decays to 0 over training; ``step`` divides by 10 at each of
        ``milestones`` (fractions of training).
    warmup_epochs : float
        Linear warm-up from 0 to ``learning_rate`` (``cosine`` only).
    milestones : tuple of float
        Fractions of training where ``step`` divides the rate by 10.
    momentum, nesterov : float, bool
        SGD momentum.
    weight_decay : float
        Decoupled weight decay applied by the optimizer (0: none).
    reg : float
        L2 factor to build the network with (``ResNetPreAct(reg=...)``); a
        built network keeps its own, so :func:`fit` only reports it.
    label_smoothing : float
        Label smoothing of the cross-entropy, 0 to 1.
    mixup, cutmix : float
        Alpha of MixUp / CutMix of the training batches (``rnpa.data.make_mixing``;
        0: off; both on: one or the other per batch).
    epochs, batch_size : int
        Length of training and images per batch.
    augment : str
        Augmentation of the training split (``rnpa.data.AUGMENTATIONS``).
    bn_momentum : float or None
        Momentum of every BatchNormalization layer during training (Keras'
        default 0.99 adapts too slowly when an epoch is only ~20 steps).
    ema : float or None
        Keep an exponential moving average of the weights with this momentum
        and use it as the final weights (``None``: off).
    swa : float
        Stochastic weight averaging (Izmailov et al. 2018): the fraction of
        training, at its end, whose end-of-epoch weights are averaged into the
        final weights; the BatchNormalization statistics are then recomputed
        for them on the training split (:func:`recompute_batchnorm`). 0: off.
    lr_floor : float
        ``cosine`` only: the schedule decays to ``lr_floor * learning_rate``
        and stays there; with ``swa`` it gets there when averaging starts.
    precision : {"auto", "float32", "mixed_float16", "mixed_bfloat16"}
        ``auto``: mixed_float16 on a GPU, float32 on a CPU (mixed_bfloat16
        was slower on a CPU with AMX, see ``bench/README.md``; ask for it by name).
    jit_compile : bool or "auto"
        XLA; ``auto`` is Keras' choice (on with a GPU, off on a CPU, where it
        is slower for this network).
    tta_flip : bool
        Evaluate on each image and its mirror image (test-time augmentation).
    """

    name: str
    optimizer: str
    learning_rate: float
    epochs: int
    batch_size: int
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    milestones: tuple[float, ...] = (0.5, 0.75)
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    reg: float = 0.0
    label_smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    augment: str = "default"
    bn_momentum: float | None = None
    ema: float | None = None
    swa: float = 0.0
    lr_floor: float = 0.0
    precision: str = "float32"
    jit_compile: bool | str = "auto"
    tta_flip: bool = False

    def __post_init__(self) -> None:
        """Validate every field (raises ValueError/TypeError naming it)."""
        from rnpa.data import AUGMENTATIONS

        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.schedule, "schedule", SCHEDULES)
        check_choice(self.precision, "precision", PRECISIONS)
        check_choice(self.augment, "augment", tuple(AUGMENTATIONS))
        _number(self.learning_rate, "learning_rate", 0, None, open_low=True)
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        _number(self.warmup_epochs, "warmup_epochs", 0, None)
        _number(self.momentum, "momentum", 0, 1)
        _number(self.weight_decay, "weight_decay", 0, None)
        _number(self.reg, "reg", 0, None)
        _number(self.label_smoothing, "label_smoothing", 0, 1)
        _number(self.mixup, "mixup", 0, None)
        _number(self.cutmix, "cutmix", 0, None)
        _number(self.swa, "swa", 0, 1, open_high=True)
        _number(self.lr_floor, "lr_floor", 0, 1)
        for name in ("bn_momentum", "ema"):
            if getattr(self, name) is not None:
                _number(getattr(self, name), name, 0, 1, open_high=True)
        if not isinstance(self.milestones, tuple) or not all(
            isinstance(m, numbers.Real) and 0 < m < 1 for m in self.milestones
        ):
            raise ValueError(
                f"milestones must be a tuple of fractions in (0, 1), got {self.milestones!r}"
            )
        if self.jit_compile not in (True, False, "auto"):
            raise ValueError(f"jit_compile must be True, False or 'auto', got {self.jit_compile!r}")
        for name in ("nesterov", "tta_flip"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed (validated)."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise TypeError(
                f"unknown recipe field(s) {', '.join(unknown)}; fields: {', '.join(sorted(fields))}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a JSON-friendly dict."""
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d


def _number(
    value: Any,
    name: str,
    low: float,
    high: float | None,
    open_low: bool = False,
    open_high: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    bad = (
        not math.isfinite(value)
        or value < low
        or (open_low and value == low)
        or (high is not None and (value > high or (open_high and value == high)))
    )
    if bad:
        lo = "(" if open_low else "["
        hi = ")" if open_high else "]"
        if high is not None:
            rng = f"in {lo}{low}, {high}{hi}"
        else:
            rng = f"> {low}" if open_low else f">= {low}"
        raise ValueError(f"{name} must be a number {rng}, got {value!r}")


#: the named recipes
RECIPES: dict[str, Recipe] = {
    "original": Recipe(
        name="original",
        optimizer="adam",
        learning_rate=1e-4,
        epochs=10,
        batch_size=32,
        reg=0.005,
        augment="original",
    ),
    "paper": Recipe(
        name="paper",
        optimizer="sgd",
        learning_rate=0.1,
        epochs=164,
        batch_size=128,
        schedule="step",
        milestones=(0.5, 0.75),
        momentum=0.9,
        weight_decay=1e-4,
        augment="crop",
    ),
    "default": Recipe(
        name="default",
        optimizer="sgd",
        learning_rate=0.1,
        epochs=60,
        batch_size=128,
        schedule="cosine",
        warmup_epochs=2,
        momentum=0.9,
        nesterov=True,
        weight_decay=1e-3,
        label_smoothing=0.1,
        augment="crop",
        bn_momentum=0.9,
        precision="auto",
        tta_flip=True,
    ),
}


def get_recipe(recipe: str | Recipe = "default", **changes: Any) -> Recipe:
    """Return a named recipe (or ``recipe`` itself), with ``changes`` applied.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    if isinstance(recipe, Recipe):
        base = recipe
    elif isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; known recipes: {', '.join(RECIPES)}")
        base = RECIPES[recipe]
    else:
        raise TypeError(f"recipe must be a recipe name or an rnpa.train.Recipe, got {recipe!r}")
    changes = {k: v for k, v in changes.items() if v is not None}
    return base.replace(**changes) if changes else base


def make_schedule(recipe: Recipe, steps_per_epoch: int) -> Any:
    """The learning rate of ``recipe`` as a Keras schedule (or a float)."""
    steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")
    total = recipe.epochs * steps_per_epoch
    lr = float(recipe.learning_rate)
    if recipe.schedule == "constant":
        return lr
    if recipe.schedule == "step":
        bounds = [max(1, round(m * total)) for m in sorted(recipe.milestones)]
        values = [lr / 10**i for i in range(len(bounds) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    warmup = min(round(recipe.warmup_epochs * steps_per_epoch), total - 1)
    # with SWA the cosine reaches the floor when averaging starts, then stays there
    decay = max(1, total - warmup - swa_epochs(recipe) * steps_per_epoch)
    alpha = float(recipe.lr_floor)
    if warmup > 0:
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay, alpha=alpha, warmup_target=lr, warmup_steps=warmup
        )
    return keras.optimizers.schedules.CosineDecay(lr, decay, alpha=alpha)


def swa_epochs(recipe: Recipe) -> int:
    """How many final epochs ``recipe`` averages (``swa``: at least 1 when on)."""
    if not recipe.swa:
        return 0
    return min(recipe.epochs, max(1, round(recipe.swa * recipe.epochs)))


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer of ``recipe`` with its schedule, weight decay and EMA."""
    lr = make_schedule(recipe, steps_per_epoch)
    common: dict[str, Any] = {}
    if recipe.weight_decay:
        common["weight_decay"] = recipe.weight_decay
    if recipe.ema is not None:
        common.update(use_ema=True, ema_momentum=recipe.ema)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=lr, momentum=recipe.momentum, nesterov=recipe.nesterov, **common
        )
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, **common)
    return keras.optimizers.Adam(learning_rate=lr, **common)


# ----------------------------------------------------------------------------
# devices: strategy and precision
# ----------------------------------------------------------------------------
def resolve_precision(precision: str = "auto") -> str:
    """The Keras dtype policy name for ``precision`` on this machine."""
    check_choice(precision, "precision", PRECISIONS)
    if precision != "auto":
        return precision
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    # not bfloat16 on a CPU, even one with AMX: for this small network the casts
    # cost more than the bf16 matrix units save (bench/README.md: 564 vs 688 img/s)
    return "float32"


def get_strategy(strategy: Any = "auto") -> Any:
    """Return a ``tf.distribute`` strategy.

    Parameters
    ----------
    strategy : str or tf.distribute.Strategy
        ``"auto"``: a TPU if one is attached (Colab, Cloud), MirroredStrategy
        with several GPUs, else the default strategy; ``"default"``: one device;
        ``"mirrored"``: MirroredStrategy over every GPU, or over the logical CPUs
        when there is no GPU; ``"tpu"``: TPUStrategy (raises without a TPU);
        ``"multiworker"``: MultiWorkerMirroredStrategy over the machines that the
        ``TF_CONFIG`` environment variable names (one process per machine, each
        started with its own ``task``; without ``TF_CONFIG``, this machine alone);
        a strategy object is returned as it is.

    Notes
    -----
    TensorFlow wants MultiWorkerMirroredStrategy created early, before other
    TensorFlow work: call ``get_strategy("multiworker")`` at the top of the
    program and pass the object to :func:`fit`.
    """
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ValueError(
            f"strategy must be one of {', '.join(map(repr, STRATEGIES))} or a "
            f"tf.distribute.Strategy; got {strategy!r}"
        )
    if strategy in ("auto", "tpu"):
        tpu = None
        if strategy == "tpu" or os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
            try:
                resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
                tf.config.experimental_connect_to_cluster(resolver)
                tf.tpu.experimental.initialize_tpu_system(resolver)
                tpu = tf.distribute.TPUStrategy(resolver)
            except (ValueError, RuntimeError, tf.errors.NotFoundError) as err:
                if strategy == "tpu":
                    raise ValueError(f"strategy='tpu' but no TPU was found ({err})") from None
        if tpu is not None:
            return tpu
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if strategy == "multiworker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as err:  # "Collective ops must be configured at program startup"
            raise RuntimeError(
                f"strategy='multiworker' must be created before other TensorFlow work ({err}): "
                "call rnpa.train.get_strategy('multiworker') at the top of the program and "
                "pass the strategy object to fit"
            ) from err
    if strategy == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def _rebuild(model: keras.Model, strategy: Any, policy: str) -> keras.Model:
    """Clone ``model`` with its weights under ``strategy`` and dtype ``policy``.

    The output layer stays float32 (softmax and loss in full precision).
    """
    output_layers = {t._keras_history[0].name for t in model.outputs}  # noqa: SLF001

    def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if "dtype" in config and not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = "float32" if layer.name in output_layers else policy
        return layer.__class__.from_config(config)

    with strategy.scope():
        clone = keras.models.clone_model(model, clone_function=clone_layer)
        clone.set_weights(model.get_weights())
    return clone


def worker_role(strategy: Any) -> tuple[int, bool, str]:
    """``(workers, is_chief, task)`` of this process under ``strategy``.

    One worker, chief, ``""`` for everything but a MultiWorkerMirroredStrategy
    over several machines. Its chief is the ``chief`` task of ``TF_CONFIG``, or
    worker 0 when there is none (TensorFlow's rule); ``task`` is e.g. ``"worker1"``.
    """
    import tensorflow as tf

    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1, True, ""
    jobs = resolver.cluster_spec().as_dict()
    workers = sum(len(jobs.get(job, [])) for job in ("chief", "worker"))
    if workers <= 1:
        return 1, True, ""
    task = f"{resolver.task_type}{resolver.task_id}"
    return workers, bool(strategy.extended.should_checkpoint), task


class _KerasMultiWorkerFixes:
    """Work around Keras 3's TensorFlow trainer under MultiWorkerMirroredStrategy.

    Keras 3.15's ``fit`` fails with several workers (keras-team/keras#20585):
    (1) before the first step it reduces a whole ``(x, y)`` batch across workers
    only to learn its shapes (``_maybe_symbolic_build``), which
    ``strategy.reduce`` cannot do for a tuple; (2) it averages each step's
    scalar logs with ``strategy.reduce("MEAN", v, axis=0)``, and a scalar has
    no axis 0. While active, the model learns the shapes from this worker's
    part of the batch, and scalar logs are averaged over the replicas
    (``axis=None``). TensorFlow still does all the distributed work.
    """

    def __init__(self, model: keras.Model, strategy: Any) -> None:
        self.model, self.strategy = model, strategy

    def _build(self, iterator: Any = None, data_batch: Any = None) -> None:
        import tensorflow as tf
        from keras import tree

        if iterator is not None:
            for _, _, it in iterator:
                data_batch = next(it)
                break

        def local(v: Any) -> Any:
            if isinstance(v, tf.distribute.DistributedValues):
                return self.strategy.experimental_local_results(v)[0]
            return v

        with self.strategy.scope():
            self.model._symbolic_build(data_batch=tree.map_structure(local, data_batch))  # noqa: SLF001

    def __enter__(self) -> _KerasMultiWorkerFixes:
        from keras import tree
        from keras.src.backend.tensorflow import trainer

        self._module, self._reduce = trainer, trainer.reduce_per_replica
        strategy, original = self.strategy, self._reduce

        def reduce_per_replica(values: Any, strategy_: Any, reduction: str = "auto") -> Any:
            if strategy_ is strategy and reduction in ("auto", "mean"):
                return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
            return original(values, strategy_, reduction)

        trainer.reduce_per_replica = reduce_per_replica
        self.model._maybe_symbolic_build = self._build  # noqa: SLF001
        return self

    def __exit__(self, *exc: Any) -> None:
        self._module.reduce_per_replica = self._reduce
        del self.model._maybe_symbolic_build  # noqa: SLF001


def _average_over_workers(model: keras.Model, strategy: Any) -> None:
    """Set the non-trainable weights (BN moving statistics) to their mean over the workers.

    The trainable weights are the same on every worker (the gradients are
    averaged), but each worker's BatchNormalization layers average the
    statistics of its own images; after this, every worker holds the same model.
    """
    import tensorflow as tf

    variables = list(model.non_trainable_weights)
    if not variables:
        return
    values = [tf.convert_to_tensor(v) for v in variables]

    @tf.function
    def mean() -> Any:
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("MEAN", values))

    for variable, value in zip(variables, mean(), strict=True):
        variable.assign(strategy.experimental_local_results(value)[0])


# ----------------------------------------------------------------------------
# callbacks
# ----------------------------------------------------------------------------
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
    for layer, copy in zip(_bn_layers(model), _bn_layers(twin), strict=True):
        copy.momentum = getattr(layer, "_rnpa_configured_momentum", layer.momentum)
    return twin


def _atomic_save(model: keras.Model, path: Path) -> None:
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


class StopOnNaN(keras.callbacks.Callback):
    """Stop training when the loss becomes NaN or infinite, with a message.

    After the stop, ``stopped`` holds ``(epoch, batch, loss)``.
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stopped: tuple[int, int, float] | None = None
        self.stream = stream
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Remember the epoch for the message."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Check the running loss."""
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.stopped is None:
            self.stopped = (self._epoch, batch, float(loss))
            self.model.stop_training = True
            print(
                f"\nrnpa.train.fit: stopped at epoch {self._epoch + 1}, batch {batch + 1}: "
                f"the loss is {float(loss)}; the weights have diverged. Lower the learning "
                "rate, or check the inputs for NaN.",
                file=self.stream or sys.stderr,
                flush=True,
            )


class BestCheckpoint(keras.callbacks.Callback):
    """Save the model whenever ``monitor`` improves, atomically (temp file + rename)."""

    def __init__(
        self, path: Path, monitor: str = "val_accuracy", nan_stop: StopOnNaN | None = None
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.mode_max = "acc" in monitor
        self.best = -math.inf if self.mode_max else math.inf
        self.nan_stop = nan_stop

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Save if the monitored value improved."""
        if self.nan_stop is not None and self.nan_stop.stopped is not None:
            return
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        better = value > self.best if self.mode_max else value < self.best
        if better:
            self.best = float(value)
            _atomic_save(self.model, self.path)


def _logged_best(log: Path, monitor: str) -> float:
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
        self._saved = [(layer, layer.momentum) for layer in _bn_layers(self.model)]
        for layer, momentum in self._saved:
            layer.momentum = self.momentum
            layer._rnpa_configured_momentum = momentum  # what checkpoints save (_portable_twin)

    def on_train_end(self, logs: dict | None = None) -> None:
        """Restore the layers' own momentum (so a saved model keeps its config)."""
        for layer, momentum in self._saved:
            layer.momentum = momentum
            del layer._rnpa_configured_momentum


def _bn_layers(model: keras.Model) -> list[Any]:
    return [
        layer for layer in model._flatten_layers()  # noqa: SLF001
        if isinstance(layer, keras.layers.BatchNormalization)
    ]  # fmt: skip


class WeightAverage(keras.callbacks.Callback):
    """Average the trainable weights at the end of every epoch from ``start`` on (SWA).

    The running sum lives in memory and, with ``state``, also in that ``.npz``
    file (written atomically after each averaged epoch), so that a run resumed
    from its backup goes on with the epochs already averaged. :meth:`apply`
    sets the average into the model.
    """

    def __init__(self, start: int, state: Path | None = None):
        super().__init__()
        self.start = int(start)
        self.state = state
        self.epochs: list[int] = []
        self._sum: list[Any] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Load the state of an interrupted run, if there is one."""
        if self.state is not None and self.state.is_file() and not self.epochs:
            import numpy as np

            with np.load(self.state) as f:
                self.epochs = [int(e) for e in f["epochs"]]
                self._sum = [f[f"w{i}"] for i in range(len(f.files) - 1)]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Add this epoch's weights to the sum."""
        if epoch < self.start or epoch in self.epochs:
            return
        import numpy as np

        weights = [np.asarray(v.numpy(), np.float64) for v in self.model.trainable_weights]
        if self._sum is None:
            self._sum = weights
        else:
            self._sum = [a + b for a, b in zip(self._sum, weights, strict=True)]
        self.epochs.append(int(epoch))
        if self.state is not None:
            import io

            buffer = io.BytesIO()
            arrays = {f"w{i}": w for i, w in enumerate(self._sum)}
            np.savez(buffer, epochs=np.array(self.epochs), **arrays)
            write_atomic(self.state, buffer.getvalue())

    def apply(self) -> bool:
        """Set the averaged weights into the model; ``False`` if no epoch was averaged."""
        if not self.epochs or self._sum is None:
            return False
        n = len(self.epochs)
        for variable, total in zip(self.model.trainable_weights, self._sum, strict=True):
            variable.assign((total / n).astype(variable.dtype))
        return True


def recompute_batchnorm(model: keras.Model, dataset: Any, steps: int | None = None) -> int:
    """Set each BatchNormalization layer's moving statistics to its batch statistics
    averaged over ``dataset``.

    Needed after weights are averaged (:class:`WeightAverage`): the moving
    statistics of the last epoch belong to the last weights, not to the average.
    The network runs in training mode, as in training (each layer normalises
    with its batch statistics), and every batch counts equally: the moving mean
    (variance) becomes the mean of the batch means (biased batch variances).
    Nothing else changes.

    Parameters
    ----------
    model : keras.Model
    dataset : iterable
        Batches ``x`` or ``(x, y, ...)``, e.g. ``data.train``.
    steps : int, optional
        Use at most this many batches.

    Returns
    -------
    int
        The number of batches used.
    """
    import tensorflow as tf

    if steps is not None:
        steps = check_positive_int(steps, "steps")
    layers = _bn_layers(model)
    if not layers:
        return 0
    # the layers compute moving = moving * momentum + batch * (1 - momentum):
    # momentum k / (k + 1) at batch k makes that the running mean of the batches
    momentum = tf.Variable(0.0, trainable=False, dtype="float32")
    saved = [(layer, layer.momentum) for layer in layers]

    @tf.function(reduce_retracing=True)
    def forward(x: Any) -> None:
        model(x, training=True)

    n = 0
    try:
        for layer in layers:
            layer.momentum = momentum
        for batch in dataset:
            if steps is not None and n >= steps:
                break
            momentum.assign(n / (n + 1))
            forward(batch[0] if isinstance(batch, tuple | list) else batch)
            n += 1
    finally:
        for layer, value in saved:
            layer.momentum = value
    if n == 0:
        raise ValueError("recompute_batchnorm: the dataset gave no batches")
    return n


# ----------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------
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
) -> keras.callbacks.History:
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
        Where to write ``best.keras`` (best validation accuracy, of the epochs
        and, with ``swa``, of the averaged weights), ``final.keras``,
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
        (``history.complete`` is True), more ``epochs`` extend it from its final
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
    keras.callbacks.History
        With ``history.history`` per epoch (loss, accuracy, val_loss,
        val_accuracy, learning_rate), ``history.nan_stop`` (``None`` or
        ``(epoch, batch, loss)``), ``history.out_dir``, ``history.swa_epochs``
        (the averaged epochs, from 0; empty without ``swa``) and
        ``history.swa_val_accuracy`` (of the averaged weights, or ``None``).
    """
    recipe = get_recipe(recipe)
    if epochs is not None:
        recipe = recipe.replace(epochs=check_positive_int(epochs, "epochs"))
    if steps_per_epoch is not None:
        steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")
    model = _check_model(model)
    for name, flag in (("resume", resume), ("overwrite", overwrite)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(
            "tensorboard=True needs the tensorboard package (pip install tensorboard); "
            "log.csv is written without it"
        )
    if seed is not None:
        seed_everything(seed)
    strategy_obj = get_strategy(strategy)
    policy = resolve_precision(recipe.precision)
    data = _check_data(data, recipe, seed)
    out = None
    if out_dir is not None:
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"out_dir must be a folder, got the file {str(out)!r}")
        out.mkdir(parents=True, exist_ok=True)
    # under MultiWorkerMirroredStrategy every worker runs this same code; only the
    # chief writes the run's files (TensorFlow's advice), the others write theirs
    # into a temporary folder removed at the end, and keep a backup of their own
    # (out_dir/backup-worker1, ...) so that a restarted cluster resumes together
    workers, chief, task = worker_role(strategy_obj)
    files, backup = out, None if out is None else out / "backup"
    if out is not None and not chief:
        files, backup = Path(tempfile.mkdtemp(prefix=f"rnpa-{task}-")), out / f"backup-{task}"
    # what the folder holds decides what to do, before anything is built or compiled
    plan = run_folder.Plan("new")
    if out is not None:
        ident = run_folder.identity(model, data, recipe, seed, steps_per_epoch)
        plan = run_folder.prepare(files, ident, recipe.epochs, resume=resume, overwrite=overwrite)
        if plan.action == "complete":
            return _complete(model, files, plan, recipe, out, verbose)

    import tensorflow as tf

    from rnpa.data import make_mixing
    from rnpa.evaluate import evaluate

    default_strategy = strategy_obj is tf.distribute.get_strategy()
    train_model = model if (default_strategy and policy == "float32") else _rebuild(
        model, strategy_obj, policy
    )
    steps = steps_per_epoch or data.steps_per_epoch
    train_ds, val_ds = data.train, data.val
    if recipe.label_smoothing or recipe.mixup or recipe.cutmix:
        # Keras' sparse cross-entropy has no label smoothing and no soft labels:
        # one-hot labels instead
        loss: Any = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
        n = data.num_classes

        def one_hot(x: Any, y: Any) -> tuple[Any, Any]:
            return x, tf.one_hot(y, n)

        train_ds = train_ds.map(one_hot)
        val_ds = val_ds.map(one_hot)
        mix = make_mixing(recipe.mixup, recipe.cutmix, seed=seed)
        if mix is not None:
            train_ds = train_ds.map(mix)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    with strategy_obj.scope():
        train_model.compile(
            optimizer=make_optimizer(recipe, steps),
            loss=loss,
            metrics=["accuracy"],
            jit_compile=recipe.jit_compile,
        )
    if steps_per_epoch is not None:
        train_ds = train_ds.repeat()

    nan_stop = StopOnNaN()
    cbs: list[keras.callbacks.Callback] = [nan_stop]
    if recipe.bn_momentum is not None:
        cbs.append(SetBatchNormMomentum(recipe.bn_momentum))
    initial_epoch = 0
    if out is not None:
        if plan.action == "extend":  # from the final weights, the longer run's schedule
            train_model.set_weights(load_model_file(files / "final.keras").get_weights())
            train_model.optimizer.iterations.assign(plan.done * steps)
            initial_epoch = plan.done
        # a resumed or extended run must beat the best epoch logged before too
        best = BestCheckpoint(files / "best.keras", nan_stop=nan_stop)
        if plan.action != "new":
            best.best = max(best.best, _logged_best(files / "log.csv", best.monitor))
        cbs += [best, keras.callbacks.CSVLogger(str(files / "log.csv"), append=plan.done > 0
                                                or plan.action == "resume")]
        if tensorboard:
            cbs.append(keras.callbacks.TensorBoard(str(files / "tensorboard")))
        record = {"recipe": recipe.to_dict(), "dataset": data.name, "batch_size": data.batch_size,
                  "augment": data.augment, "precision": policy, "seed": seed,
                  "mean": data.mean.tolist(), "std": data.std.tolist()}  # fmt: skip
        run_folder.write_record(files, ident, recipe.epochs, False, record)
    average = None
    if recipe.swa:
        state = backup / "swa.npz" if out is not None else None
        average = WeightAverage(recipe.epochs - swa_epochs(recipe), state)
        cbs.append(average)
    if out is not None:
        # the backup moves to an epoch only after its checkpoint and log row are written: a
        # failure there (a full disk) makes the next run redo that epoch
        cbs.append(run_folder.SafeBackupAndRestore(str(backup), log=files / "log.csv"))
    cbs += list(callbacks or [])

    fixes = _KerasMultiWorkerFixes(train_model, strategy_obj) if workers > 1 else None
    with fixes or contextlib.nullcontext():
        history = train_model.fit(
            train_ds,
            epochs=recipe.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_data=val_ds,
            callbacks=cbs,
            verbose=verbose,
            shuffle=False,  # the pipeline shuffles
        )
    if workers > 1:
        _average_over_workers(train_model, strategy_obj)
    history.swa_epochs = []
    history.swa_val_accuracy = None
    if average is not None and nan_stop.stopped is None and average.apply():
        history.swa_epochs = sorted(average.epochs)
    if train_model is not model:
        model.set_weights(train_model.get_weights())
    if history.swa_epochs:
        recompute_batchnorm(model, data.train)
        history.swa_val_accuracy = evaluate(model, data, "val").accuracy
        first, last = history.swa_epochs[0] + 1, history.swa_epochs[-1] + 1
        if verbose:
            print(
                f"SWA: the weights of epochs {first}-{last} averaged, BatchNorm statistics "
                f"recomputed; val_accuracy {history.swa_val_accuracy:.4f}"
            )
        if out is not None and history.swa_val_accuracy > best.best:
            _atomic_save(model, files / "best.keras")
    if out is not None and nan_stop.stopped is None:
        _atomic_save(model, files / "final.keras")
        run_folder.write_record(files, ident, recipe.epochs, True, record)
    if files is not out:
        shutil.rmtree(files, ignore_errors=True)  # a worker's copies, not the run's
    history.nan_stop = nan_stop.stopped
    history.out_dir = out
    history.recipe = recipe
    history.complete = False
    return history


def _complete(model: keras.Model, folder: Path, plan: Any, recipe: Recipe, out: Path,
              verbose: Any) -> keras.callbacks.History:
    """A complete run asked again: nothing trained; ``model`` gets its final weights."""
    model.set_weights(load_model_file(folder / "final.keras").get_weights())
    if verbose:
        print(plan.message)
    history = run_folder.history_from_log(folder)
    history.nan_stop, history.out_dir, history.recipe = None, out, recipe
    history.swa_epochs, history.swa_val_accuracy, history.complete = [], None, True
    history.message = plan.message
    return history




# ----------------------------------------------------------------------------
# command line: python -m rnpa train | evaluate
# ----------------------------------------------------------------------------
MODEL_NAMES = "resnetpreact, preact_resnet<depth>, resnet<depth>, plain<depth>"


def build_model(
    name: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    reg: float = 0.0,
    num_stages: int | None = None,
) -> keras.Model:
    """Build a network by name for ``train``.

    ``resnetpreact`` (the 2017 network, ``num_stages`` units), ``preact_resnet164``
    (He et al. 2016, any depth 9n+2), ``resnet110`` (post-activation, basic units,
    6n+2), ``plain20`` (no shortcuts, 6n+2).
    """
    import re

    from rnpa import models

    if not isinstance(name, str):
        raise TypeError(f"model must be a name ({MODEL_NAMES}), got {name!r}")
    key = name.lower().replace("-", "_")
    if key == "resnetpreact":
        kwargs = {} if num_stages is None else {"num_stages": num_stages}
        return models.ResNetPreAct(input_shape, num_classes, reg=reg, **kwargs)
    if num_stages is not None:
        raise ValueError(f"num_stages is only used with model 'resnetpreact', not {name!r}")
    m = re.fullmatch(r"(preact_resnet|resnet|plain)(\d+)", key)
    if not m:
        raise ValueError(f"unknown model {name!r}; known models: {MODEL_NAMES}")
    build = {"preact_resnet": models.preact_resnet, "resnet": models.resnet_original,
             "plain": models.plain_network}[m.group(1)]  # fmt: skip
    return build(int(m.group(2)), num_classes=num_classes, input_shape=input_shape, reg=reg)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _add_data_args(p: argparse.ArgumentParser) -> None:
    from rnpa.data import DATASETS

    p.add_argument("--data", default="flowers32", metavar="NAME",
                   help=f"dataset: {', '.join(DATASETS)} (default: %(default)s)")
    p.add_argument("--dir", default=None, metavar="FOLDER",
                   help="with --data folder: a folder with one sub-folder of images per class")
    p.add_argument("--image-size", type=_positive_int, default=None, metavar="N",
                   help="resize images to NxN (default: 32 for flowers/folder, stored size else)")
    p.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                   help="use at most N images per split (a quick check)")  # fmt: skip


def _load_data(args: argparse.Namespace, batch_size: int, augment: str, seed: int) -> Any:
    from rnpa.data import load

    return load(args.data, batch_size=batch_size, image_size=args.image_size, augment=augment,
                directory=args.dir, seed=seed, limit=args.limit)  # fmt: skip


def _default_out(args: argparse.Namespace, recipe: Recipe) -> str:
    """``runs/<data>-<model>-<recipe>``, plus every option that makes another run.

    The number of epochs is left out: more epochs extend the run in the folder.
    """
    parts = [args.data, args.model]
    if args.num_stages is not None:
        parts.append(f"stages{args.num_stages}")
    parts.append(recipe.name)
    for flag, value in (("b", args.batch_size), ("lr", args.lr), ("img", args.image_size),
                        ("limit", args.limit), ("steps", args.steps_per_epoch)):
        if value is not None:
            parts.append(f"{flag}{value:g}" if isinstance(value, float) else f"{flag}{value}")
    if args.seed:
        parts.append(f"seed{args.seed}")
    if args.dir is not None:
        parts.append(Path(args.dir).name)
    return "runs/" + "-".join(parts)


def _cmd_train(args: argparse.Namespace) -> int:
    from rnpa.evaluate import evaluate

    recipe = get_recipe(args.recipe, epochs=args.epochs, batch_size=args.batch_size,
                        learning_rate=args.lr)  # fmt: skip
    if args.data == "folder" and args.dir is None:
        raise ValueError("--data folder needs --dir FOLDER")
    out = Path(args.out or _default_out(args, recipe))
    # MultiWorkerMirroredStrategy must exist before TensorFlow does other work
    strategy = get_strategy(args.strategy) if args.strategy == "multiworker" else args.strategy
    seed = seed_everything(args.seed)
    try:
        data = _load_data(args, recipe.batch_size, recipe.augment, seed)
    except ConnectionError as err:
        print(f"python -m rnpa train: error: {err}", file=sys.stderr)
        return 1
    model = build_model(args.model, data.image_shape, data.num_classes, reg=recipe.reg,
                        num_stages=args.num_stages)  # fmt: skip
    print(f"training {args.model} ({model.count_params():,} parameters) on {data.name} "
          f"({data.sizes['train']} images) with recipe {recipe.name!r}: {recipe.epochs} epochs, "
          f"batch {recipe.batch_size}, writing to {out}/", flush=True)  # fmt: skip
    try:
        history = fit(model, data, recipe, out, steps_per_epoch=args.steps_per_epoch,
                      strategy=strategy, resume=args.resume, overwrite=args.overwrite,
                      tensorboard=args.tensorboard, verbose=args.verbose)  # fmt: skip
    except KeyboardInterrupt:
        print(f"\ninterrupted: run the same command again to resume from {out}/backup",
              file=sys.stderr)  # fmt: skip
        return 130
    if history.nan_stop is not None:
        return 1
    if history.complete:
        print(f"{history.message}; its final model is evaluated")
    result = evaluate(model, data, "test", tta_flip=recipe.tta_flip)
    tta = " (with flipped copies)" if recipe.tta_flip else ""
    print(f"test accuracy{tta}: {result.accuracy:.2%}; saved {out / 'final.keras'} and "
          f"{out / 'best.keras'} (best validation accuracy)")  # fmt: skip
    return 0


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
        raise ValueError(f"{str(path)!r} is not a valid .keras file (not a zip archive: "
                         "empty, truncated or another format)")
    try:
        return keras.models.load_model(path, compile=False)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as err:
        detail = " ".join(str(err).split())[:200]
        raise ValueError(f"{str(path)!r} is not a valid .keras file ({detail})") from None


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from rnpa.evaluate import evaluate

    model = load_model_file(args.model)  # a bad file is reported before the data is read
    try:
        data = _load_data(args, args.batch_size, "none", 0)
    except ConnectionError as err:
        print(f"python -m rnpa evaluate: error: {err}", file=sys.stderr)
        return 1
    result = evaluate(model, data, args.split, tta_flip=args.tta)
    print(result.report())
    return 0


def register_cli(subparsers: Any) -> None:
    """Add the ``train`` and ``evaluate`` commands to ``python -m rnpa``."""
    p = subparsers.add_parser(
        "train",
        help="train a network on a dataset with a recipe",
        description="Train a network with a named recipe. Writes best.keras, final.keras, "
        "log.csv, recipe.json (and TensorBoard logs with --tensorboard) into --out; "
        "an interrupted run resumes from its last finished epoch when run again; a complete "
        "run is left as it is (more --epochs extend it); another run into the same --out is "
        "refused unless --overwrite.",
        epilog="example: python -m rnpa train --recipe default --epochs 40 --out runs/flowers",
    )
    _add_data_args(p)
    p.add_argument("--model", default="resnetpreact", metavar="NAME",
                   help=f"network: {MODEL_NAMES} (default: %(default)s)")
    p.add_argument("--num-stages", type=_positive_int, default=None, metavar="N",
                   help="resnetpreact: number of residual units, 1 or more (default 5)")
    p.add_argument("--recipe", default="default", metavar="NAME",
                   help=f"training recipe: {', '.join(RECIPES)} (default: %(default)s)")
    p.add_argument("--epochs", type=_positive_int, default=None, metavar="N",
                   help="number of epochs (default: the recipe's)")
    p.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                   help="images per batch (default: the recipe's)")
    p.add_argument("--lr", type=_positive_float, default=None, metavar="RATE",
                   help="peak learning rate (default: the recipe's)")
    p.add_argument("--steps-per-epoch", type=_positive_int, default=None, metavar="N",
                   help="batches per epoch (default: one pass over the training images)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: runs/<data>-<model>-<recipe>)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue an interrupted run in --out (default: on); --no-resume "
                   "starts the same run over")
    p.add_argument("--overwrite", action="store_true",
                   help="replace another run that --out holds (refused without it)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--strategy", default="auto", choices=STRATEGIES,
                   help="tf.distribute strategy (default: %(default)s)")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: %(default)s)")
    p.set_defaults(func=_cmd_train)  # fmt: skip

    e = subparsers.add_parser(
        "evaluate",
        help="accuracy, per-class accuracy and confusion matrix of a saved model",
        description="Evaluate a saved .keras model on a split of a dataset.",
        epilog="example: python -m rnpa evaluate runs/flowers/best.keras --split test",
    )
    e.add_argument("model", metavar="MODEL.keras", help="a model saved by train")
    _add_data_args(e)
    e.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="split to evaluate (default: %(default)s)")
    e.add_argument("--batch-size", type=_positive_int, default=256, metavar="N",
                   help="images per batch (default: %(default)s)")
    e.add_argument("--tta", action="store_true",
                   help="average predictions over each image and its mirror image")
    e.set_defaults(func=_cmd_evaluate)  # fmt: skip


__all__ = [
    "BestCheckpoint",
    "OPTIMIZERS",
    "PRECISIONS",
    "RECIPES",
    "Recipe",
    "SCHEDULES",
    "STRATEGIES",
    "StopOnNaN",
    "fit",
    "get_recipe",
    "build_model",
    "get_strategy",
    "worker_role",
    "register_cli",
    "make_optimizer",
    "make_schedule",
    "recompute_batchnorm",
    "resolve_precision",
    "seed_everything",
    "swa_epochs",
    "WeightAverage",
]
