"""Training throughput: how many images per second a network trains on, here.

Lesson 7 and ``bench/gpu_check.py`` measure the same thing with the same code:

* :func:`measure_training_throughput`: ``model.fit`` on one fixed batch of
  random images held in memory (so the input pipeline costs nothing and only the
  network, the loss and the optimizer step are timed), after untimed warm-up
  steps (tracing, XLA compilation); the result is the median over timed rounds;
* :func:`throughput_table` and :func:`markdown_table`: a grid of networks,
  batch sizes, precisions and XLA on/off, one row each;
* :func:`epoch_seconds`: one whole epoch through rnpa's real input pipeline
  (random uint8 images, pad-and-crop and flip augmentation).

``mixed_float16`` is meant for GPUs (their float16 matrix units); the table
skips it on a CPU (``skip_reason``), where its speed was not measured.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from rnpa._checks import check_choice, check_positive_int

#: the precisions (Keras dtype policies) that can be measured
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def _build_under(build_model: Any, precision: str) -> keras.Model:
    """``build_model()`` under the dtype policy ``precision``; the global policy is restored."""
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)
    try:
        return build_model()
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _check_build(build_model: Any) -> Callable[[], keras.Model]:
    if not callable(build_model) or isinstance(build_model, keras.Model):
        raise TypeError(
            "build_model must be a function without arguments that returns a new keras.Model "
            f"(e.g. rnpa.ResNetPreAct), got {build_model!r}"
        )
    return build_model


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def has_gpu() -> bool:
    """Whether TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def skip_reason(precision: str, gpu: bool | None = None) -> str | None:
    """Why ``precision`` is not measured on this machine (``None``: it is)."""
    check_choice(precision, "precision", PRECISIONS)
    gpu = has_gpu() if gpu is None else gpu
    if precision == "mixed_float16" and not gpu:
        return "needs a GPU (mixed_float16 is for GPUs' float16 units; not measured on a CPU)"
    return None


class _RoundClock(keras.callbacks.Callback):
    """Seconds and images of every epoch (= timed round), from its start to its end."""

    def __init__(self, batch_size: int, clock: Callable[[], float]) -> None:
        super().__init__()
        self.batch_size, self.clock = batch_size, clock
        self.seconds: list[float] = []
        self.images: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._batches = 0
        self._start = self.clock()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        # reading the loss waits for the device to finish the epoch's work
        float((logs or {}).get("loss", 0.0))
        self.seconds.append(self.clock() - self._start)
        self.images.append(self._batches * self.batch_size)


def measure_training_throughput(
    build_model: Callable[[], keras.Model],
    batch_size: int = 128,
    precision: str = "float32",
    jit_compile: bool = False,
    steps: int = 10,
    warmup: int = 2,
    rounds: int = 3,
    *,
    seed: int = 0,
    clock: Callable[[], float] = time.perf_counter,
    details: dict | None = None,
) -> float:
    """Training images per second of ``build_model()``, median over ``rounds``.

    Parameters
    ----------
    build_model : callable
        Called without arguments (under ``precision``'s dtype policy) to build
        a new model with softmax outputs, e.g. ``rnpa.ResNetPreAct`` or
        ``lambda: rnpa.preact_resnet(164)``.
    batch_size : int
        Images per training step.
    precision : {"float32", "mixed_float16", "mixed_bfloat16"}
        The Keras dtype policy of the layers (the output layer stays float32).
    jit_compile : bool
        Compile the training step with XLA.
    steps : int
        Training steps per timed round.
    warmup : int
        Untimed steps first (tracing and, with XLA, compiling happen there);
        0 times the first call too.
    rounds : int
        Timed rounds; the result is their median.
    seed : int
        Seed of the random images and labels.
    clock : callable
        Returns seconds (``time.perf_counter``; tests pass a fake one).
    details : dict, optional
        Filled with ``seconds`` and ``images`` per round and the model's name
        and parameter count.

    Returns
    -------
    float
        Images per second: ``images / seconds`` of each round, median over rounds.
    """
    build_model = _check_build(build_model)
    batch_size = check_positive_int(batch_size, "batch_size")
    check_choice(precision, "precision", PRECISIONS)
    jit_compile = _check_bool(jit_compile, "jit_compile")
    steps = check_positive_int(steps, "steps")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    rounds = check_positive_int(rounds, "rounds")
    seed = check_positive_int(seed, "seed", minimum=0)
    if not callable(clock):
        raise TypeError(f"clock must be a function returning seconds, got {clock!r}")
    import tensorflow as tf

    model = _build_under(build_model, precision)
    if not isinstance(model, keras.Model):
        raise TypeError(f"build_model must return a keras.Model, got {type(model).__name__}")
    shape = tuple(model.input_shape[1:])
    classes = int(model.output_shape[-1])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size, *shape), dtype=np.float32)
    y = rng.integers(0, classes, size=batch_size).astype(np.int32)
    # one batch, repeated: the network is timed, not the input pipeline
    dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    if warmup:
        model.fit(dataset, epochs=1, steps_per_epoch=warmup, verbose=0, shuffle=False)
    timer = _RoundClock(batch_size, clock)
    model.fit(
        dataset, epochs=rounds, steps_per_epoch=steps, verbose=0, callbacks=[timer], shuffle=False
    )
    rates = [n / s if s > 0 else math.inf for n, s in zip(timer.images, timer.seconds, strict=True)]
    if details is not None:
        details.update(seconds=list(timer.seconds), images=list(timer.images),
                       model=model.name, params=model.count_params())  # fmt: skip
    return float(statistics.median(rates))


@dataclass(frozen=True)
class Config:
    """One row of a throughput table: a network and how it is trained."""

    model: str
    build: Callable[[], keras.Model]
    batch_size: int = 128
    precision: str = "float32"
    jit_compile: bool = False


def grid(
    models: dict[str, Callable[[], keras.Model]],
    batch_sizes: Iterable[int] = (128,),
    precisions: Iterable[str] = ("float32", "mixed_float16"),
    jit_compile: Iterable[bool] = (False, True),
) -> list[Config]:
    """Every combination of ``models`` (name -> builder), batch sizes, precisions and XLA."""
    if not isinstance(models, dict) or not models:
        raise TypeError(f"models must be a non-empty dict of name -> builder, got {models!r}")
    configs = []
    for name, build in models.items():
        _check_build(build)
        for b in batch_sizes:
            for p in precisions:
                check_choice(p, "precision", PRECISIONS)
                for j in jit_compile:
                    configs.append(Config(name, build, check_positive_int(b, "batch_size"), p,
                                          _check_bool(j, "jit_compile")))  # fmt: skip
    return configs


def throughput_table(
    configs: Sequence[Config],
    steps: int = 10,
    warmup: int = 2,
    rounds: int = 3,
    *,
    gpu: bool | None = None,
    on_row: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Measure every configuration; one row (a dict) each.

    Rows have ``model``, ``params``, ``batch``, ``precision``, ``xla``,
    ``img_per_s`` (``None`` when not measured) and ``note`` (why not, or ``""``).
    A precision this machine cannot run meaningfully (:func:`skip_reason`) and a
    configuration that runs out of memory get a row with a note instead.
    ``on_row`` is called with each row as soon as it is measured.
    """
    if not isinstance(configs, Sequence) or not all(isinstance(c, Config) for c in configs):
        raise TypeError("configs must be a list of rnpa.speed.Config (see rnpa.speed.grid)")
    steps = check_positive_int(steps, "steps")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    rounds = check_positive_int(rounds, "rounds")
    import tensorflow as tf

    gpu = has_gpu() if gpu is None else gpu
    rows = []
    for c in configs:
        row = {"model": c.model, "params": None, "batch": c.batch_size, "precision": c.precision,
               "xla": c.jit_compile, "img_per_s": None, "note": ""}  # fmt: skip
        reason = skip_reason(c.precision, gpu)
        if reason:
            row["note"] = f"skipped: {reason}"
        else:
            info: dict = {}
            try:
                row["img_per_s"] = measure_training_throughput(
                    c.build, c.batch_size, c.precision, c.jit_compile, steps, warmup, rounds,
                    details=info,
                )  # fmt: skip
                row["params"] = info["params"]
            except tf.errors.ResourceExhaustedError:
                row["note"] = "out of memory"
            keras.backend.clear_session()
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def markdown_table(rows: Sequence[dict]) -> str:
    """The rows of :func:`throughput_table` as a Markdown table."""
    lines = [
        "| network | parameters | batch | precision | XLA | training img/s | note |",
        "|---|---:|---:|---|---|---:|---|",
    ]
    for r in rows:
        rate = "-" if r["img_per_s"] is None else f"{r['img_per_s']:,.0f}"
        params = "-" if r.get("params") is None else f"{r['params']:,}"
        lines.append(
            f"| {r['model']} | {params} | {r['batch']} | {r['precision']} | "
            f"{'on' if r['xla'] else 'off'} | {rate} | {r['note']} |"
        )
    return "\n".join(lines)


def epoch_seconds(
    build_model: Callable[[], keras.Model],
    images: int = 50_000,
    batch_size: int = 128,
    precision: str = "float32",
    jit_compile: bool = False,
    *,
    warmup: int = 2,
    seed: int = 0,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds of one training epoch over ``images`` random 32x32 (input-sized) images.

    The images go through rnpa's training pipeline (``rnpa.data.pipelines``:
    cached, shuffled, pad-4-crop and flip augmentation, prefetched), as CIFAR-10's
    50,000 training images would; ``warmup`` untimed steps come first.
    """
    from rnpa.data import ArraySplits, pipelines

    build_model = _check_build(build_model)
    images = check_positive_int(images, "images")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_choice(precision, "precision", PRECISIONS)
    jit_compile = _check_bool(jit_compile, "jit_compile")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    model = _build_under(build_model, precision)
    shape = tuple(model.input_shape[1:])
    classes = int(model.output_shape[-1])
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(images, *shape), dtype=np.uint8)
    y = rng.integers(0, classes, size=images).astype(np.int32)
    few = (x[:classes], y[:classes])
    arrays = ArraySplits(train=(x, y), val=few, test=few,
                         class_names=tuple(str(i) for i in range(classes)))  # fmt: skip
    data = pipelines(arrays, batch_size=batch_size, augment="crop", seed=seed)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    if warmup:
        model.fit(data.train.repeat(), epochs=1, steps_per_epoch=warmup, verbose=0, shuffle=False)
    timer = _RoundClock(batch_size, clock)
    model.fit(data.train, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    return float(timer.seconds[0])


def device_description() -> str:
    """The device TensorFlow trains on: GPU name(s) and memory, or the CPU model."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        if shutil.which("nvidia-smi"):
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                    capture_output=True, text=True, timeout=20, check=True,
                ).stdout  # fmt: skip
                names = [", ".join(p.strip() for p in line.split(",")) for line in
                         out.strip().splitlines()]  # fmt: skip
            except (OSError, subprocess.SubprocessError):
                names = []
        if not names:
            details = [tf.config.experimental.get_device_details(g) for g in gpus]
            names = [d.get("device_name", g.name) for d, g in zip(details, gpus, strict=True)]
        return f"GPU: {'; '.join(names)} ({len(gpus)} found)"
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU only (no GPU found): {model}, {os.cpu_count()} logical cores"


__all__ = [
    "Config",
    "PRECISIONS",
    "device_description",
    "epoch_seconds",
    "grid",
    "has_gpu",
    "markdown_table",
    "measure_training_throughput",
    "skip_reason",
    "throughput_table",
]
