"""Test accuracy on flowers32 against training wall time, per recipe and seed.

For each recipe and seed: seed everything, build the seed network
(``ResNetPreAct(reg=recipe.reg)``), train it with ``rnpa.train.fit`` and, after
every epoch, measure the test accuracy (with flipped copies when the recipe says
so). The clock counts training only (the test evaluation is paused out).

    python bench/time_to_accuracy.py                          # original + default, seeds 0 1 2
    python bench/time_to_accuracy.py --recipes default --seeds 0 --csv out.csv
    python bench/time_to_accuracy.py --recipes default --epochs 80 --model resnet14

With ``--model`` another network of ``rnpa.train.build_model`` replaces the seed
network (for comparisons: the course's network is the seed network); its runs
are labelled ``<model>/<recipe>``.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import rnpa  # noqa: E402
from rnpa import data as rdata  # noqa: E402
from rnpa import train as rtrain  # noqa: E402
from rnpa.evaluate import evaluate  # noqa: E402


class TestAccuracyClock(keras.callbacks.Callback):
    """Record (epoch, training seconds, test accuracy) after every epoch."""

    def __init__(self, data: rdata.Data, tta: bool):
        super().__init__()
        self.data, self.tta = data, tta
        self.rows: list[tuple[int, float, float]] = []
        self.elapsed = 0.0
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.elapsed += time.perf_counter() - self._t0
        acc = evaluate(self.model, self.data, "test", tta_flip=self.tta).accuracy
        self.rows.append((epoch + 1, self.elapsed, acc))
        print(f"  epoch {epoch + 1}: {self.elapsed:6.1f} s  test {acc:.2%}", flush=True)


def run(
    recipe_name: str,
    seed: int,
    epochs: int | None,
    out_dir: str | None = None,
    model_name: str = "resnetpreact",
) -> list[tuple[int, float, float]]:
    recipe = rtrain.get_recipe(recipe_name, epochs=epochs)
    rnpa.seed_everything(seed)
    data = rdata.load("flowers32", batch_size=recipe.batch_size, augment=recipe.augment, seed=seed)
    model = rtrain.build_model(model_name, data.image_shape, data.num_classes, reg=recipe.reg)
    clock = TestAccuracyClock(data, recipe.tta_flip)
    label = recipe_name if model_name == "resnetpreact" else f"{model_name}-{recipe_name}"
    out = os.path.join(out_dir, f"{label}-seed{seed}") if out_dir else None
    rtrain.fit(model, data, recipe, out, callbacks=[clock], verbose=0)
    return clock.rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", nargs="+", default=["original", "default"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs")
    p.add_argument("--model", default="resnetpreact",
                   help=f"the network ({rtrain.MODEL_NAMES})")  # fmt: skip
    p.add_argument("--csv", default=None, help="also write every epoch's figures to this CSV")
    p.add_argument(
        "--out",
        default=None,
        help="keep each run's checkpoints and log in OUT/<recipe>-seed<seed>/",
    )
    args = p.parse_args(argv)
    print(f"load average at start {os.getloadavg()[0]:.1f}; cores {os.cpu_count()}", flush=True)
    results: dict[str, list[list[tuple[int, float, float]]]] = {}
    try:  # a bad --model fails before any run
        rtrain.build_model(args.model, (32, 32, 3), 5)
    except ValueError as e:
        p.error(str(e))
    for recipe in args.recipes:
        name = recipe if args.model == "resnetpreact" else f"{args.model}/{recipe}"
        for seed in args.seeds:
            print(f"recipe {name}, seed {seed}", flush=True)
            rows = run(recipe, seed, args.epochs, args.out, args.model)
            results.setdefault(name, []).append(rows)
            if args.csv:
                new = not os.path.exists(args.csv)
                with open(args.csv, "a", newline="") as f:
                    w = csv.writer(f)
                    if new:
                        w.writerow(["recipe", "seed", "epoch", "train_seconds", "test_accuracy"])
                    w.writerows([name, seed, *r] for r in rows)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    print(f"{'recipe':<10} {'seeds':>5} {'final test acc':>20} {'train time (s)':>18}")
    for name, runs in results.items():
        accs = [r[-1][2] for r in runs]
        secs = [r[-1][1] for r in runs]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{name:<10} {len(runs):>5} {statistics.mean(accs):>13.2%} +- {sd:.2%} "
              f"{statistics.median(secs):>11.0f} (median)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
