"""One training run of the seed network on flowers32 with a changed recipe.

For trying a recipe change before making it the default: trains
``ResNetPreAct(reg=recipe.reg)`` with ``rnpa.train.fit`` (no files written) and
prints the training wall time, the per-epoch median, and the validation and test
accuracies of the final weights with flipped copies (test also without).

    python bench/recipe_trial.py '{"epochs": 60, "cutmix": 1.0}' --seed 0
    python bench/recipe_trial.py '{"augment": "strong"}' --recipe default --seed 1
    python bench/recipe_trial.py '{"swa": 0.25, "lr_floor": 0.2}' --threads 1 --jsonl t.jsonl

Two runs with ``--threads 1`` side by side finish sooner on a 2-core machine
than one after the other with both cores (accuracy does not depend on it; the
times then are not the ones of a run alone).

The test split has 367 images: one seed's test accuracy has a standard error of
about 2 points, so compare changes on several seeds (``time_to_accuracy.py``)
before trusting a difference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import EpochClock  # noqa: E402

import rnpa  # noqa: E402
from rnpa import data as rdata  # noqa: E402
from rnpa import train as rtrain  # noqa: E402
from rnpa.evaluate import evaluate  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("changes", nargs="?", default="{}", help="recipe fields to change, as JSON")
    p.add_argument("--recipe", default="default", help="the recipe to start from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="TensorFlow's intra- and inter-op threads (default: its own)")  # fmt: skip
    p.add_argument("--jsonl", default=None, help="also append the result to this JSON-lines file")
    args = p.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    changes = json.loads(args.changes)
    recipe = rtrain.get_recipe(args.recipe, **changes)
    rnpa.seed_everything(args.seed)
    data = rdata.load(
        "flowers32", batch_size=recipe.batch_size, augment=recipe.augment, seed=args.seed
    )
    model = rnpa.ResNetPreAct(reg=recipe.reg)
    clock = EpochClock(every=10)
    t0 = time.perf_counter()
    history = rtrain.fit(model, data, recipe, None, callbacks=[clock], verbose=0)
    wall = time.perf_counter() - t0
    result = {
        "recipe": args.recipe,
        "changes": changes,
        "seed": args.seed,
        "fit_s": round(wall, 1),
        "median_epoch_s": round(statistics.median(clock.seconds), 2),
        "val": evaluate(model, data, "val", tta_flip=True).accuracy,
        "test": evaluate(model, data, "test", tta_flip=True).accuracy,
        "test_no_flips": evaluate(model, data, "test", tta_flip=False).accuracy,
        "train_accuracy_last_epoch": history.history["accuracy"][-1],
    }
    print(
        f"{args.recipe} {json.dumps(changes)} seed {args.seed}: fit {wall:.0f} s "
        f"(median epoch {result['median_epoch_s']:.2f} s); with flipped copies: "
        f"val {result['val']:.1%}, test {result['test']:.1%} "
        f"({result['test_no_flips']:.1%} without); val + test "
        f"{(result['val'] + result['test']) / 2:.1%}",
    )
    if args.jsonl:
        with open(args.jsonl, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
