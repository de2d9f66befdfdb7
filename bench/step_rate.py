"""Raw training-step rate of the seed network, with no real input pipeline.

Ten fixed random batches, cached and repeated, into ``model.fit``; the clock runs
from the start to the end of each epoch of 10 steps (a callback), after a warm-up
epoch. It is the ceiling any pipeline can reach on this machine, and the place to
compare the things that change the arithmetic: Keras' own BatchNormalization
against rnpa's, float32 against mixed bfloat16, XLA, the batch size,
the thread pools. One configuration per process: run it several times.

    python bench/step_rate.py                       # rnpa's network as it is
    python bench/step_rate.py --keras-bn            # with Keras' own BatchNormalization
    python bench/step_rate.py --precision mixed_bfloat16
    python bench/step_rate.py --jit --batch-size 256 --threads 1 2
"""

from __future__ import annotations

import argparse
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import EpochClock, seed_network  # noqa: E402

import rnpa  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs of 10 steps")
    parser.add_argument("--keras-bn", action="store_true", help="Keras' own BatchNormalization")
    parser.add_argument("--precision", default="float32", help="Keras dtype policy")
    parser.add_argument("--jit", action="store_true", help="XLA (jit_compile=True)")
    parser.add_argument(
        "--threads", type=int, nargs=2, metavar=("INTER", "INTRA"), help="TF thread pools"
    )
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.threads[0])
        tf.config.threading.set_intra_op_parallelism_threads(args.threads[1])
    model = seed_network(args.keras_bn, args.precision)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=args.jit,
    )
    rng = np.random.default_rng(0)
    n = 10 * args.batch_size
    x = rng.random((n, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 5, n)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size).cache().repeat()
    ds = ds.with_options(rnpa.data.pipeline_options())
    clock = EpochClock()
    model.fit(ds, steps_per_epoch=10, epochs=1 + args.epochs, verbose=0, callbacks=[clock])
    rates = [10 * args.batch_size / s for s in clock.seconds[1:]]  # the first epoch traces
    from rnpa.layers import forward_kind

    bn = f"rnpa BN ({forward_kind()} forward)"
    print(
        f"batch {args.batch_size}, {'Keras BN' if args.keras_bn else bn}, "
        f"{args.precision}, jit {args.jit}, threads {args.threads or 'default'}: "
        f"median {statistics.median(rates):.0f} img/s "
        f"(epochs: {', '.join(f'{r:.0f}' for r in rates)}); "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
