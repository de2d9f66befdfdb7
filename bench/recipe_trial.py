"""One training run of the seed network on flowers32 with a changed recipe.

For trying a recipe change before making it the default: trains
``ResNetPreAct(reg=recipe.reg)`` with ``rnpa.train.fit`` (no files written) and
prints the training wall time, the per-epoch median, the last epoch's validation
accuracy and the test accuracy with and without flipped copies.

    python bench/recipe_trial.py '{"epochs": 60, "cutmix": 1.0}' --seed 0
    python bench/recipe_trial.py '{"augment": "strong"}' --recipe default --seed 1

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
    args = p.parse_args()
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
    flips = evaluate(model, data, "test", tta_flip=True).accuracy
    plain = evaluate(model, data, "test", tta_flip=False).accuracy
    print(
        f"{args.recipe} {json.dumps(changes)} seed {args.seed}: fit {wall:.0f} s "
        f"(median epoch {statistics.median(clock.seconds):.2f} s), "
        f"val {history.history['val_accuracy'][-1]:.1%}, "
        f"test {flips:.1%} with flips ({plain:.1%} without)"
    )


if __name__ == "__main__":
    main()
