"""How long a new epoch's tf.data iterator takes to start, with autotuning on and off.

Keras' ``fit`` makes a new iterator over the training pipeline at every epoch.
This script trains the seed network on 20 cached random batches with
``train_on_batch`` in a plain loop and times ``iter(dataset)`` at each of 8
epochs: with tf.data's default options (autotuning on) and with
``rnpa.data.pipeline_options()`` (autotuning off).

    python bench/iterator_stall.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import rnpa  # noqa: E402


def run(autotune: bool, epochs: int = 8, batch_size: int = 128) -> tuple[list[float], list[float]]:
    model = rnpa.ResNetPreAct()
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy"
    )
    rng = np.random.default_rng(0)
    n = 20 * batch_size
    x = rng.random((n, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 5, n)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).cache()
    if not autotune:
        ds = ds.with_options(rnpa.data.pipeline_options())
    starts, epochs_s = [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        it = iter(ds)  # the previous epoch's iterator is released here
        t1 = time.perf_counter()
        for xb, yb in it:
            model.train_on_batch(xb, yb)
        starts.append(t1 - t0)
        epochs_s.append(time.perf_counter() - t0)
    return starts, epochs_s


def main() -> None:
    for autotune in (True, False):
        starts, epochs_s = run(autotune)
        print(
            f"autotune {'on ' if autotune else 'off'}: iterator start (s) "
            f"{' '.join(f'{s:.2f}' for s in starts)}; "
            f"epoch (s) {' '.join(f'{s:.1f}' for s in epochs_s)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
