"""Raw training-step rate of the seed network, with no input pipeline at all.

One fixed batch of random images, `train_on_batch` repeated: the ceiling any
pipeline can reach on this machine. Compare it with throughput.py's figures.

    python bench/step_rate.py --batch-size 128 --steps 15
"""

from __future__ import annotations

import argparse
import os
import time

import keras
import numpy as np

import rnpa


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    model = rnpa.ResNetPreAct()
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 5, args.batch_size)
    for _ in range(args.warmup):
        model.train_on_batch(x, y)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        model.train_on_batch(x, y)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"batch {args.batch_size}: {args.steps * args.batch_size / wall:.0f} img/s, "
        f"CPU/wall {cpu / wall:.2f}, load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
