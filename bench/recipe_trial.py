"""One training run of the seed network on flowers32 with a changed recipe.

For trying a recipe change before making it the default: trains
``ResNetPreAct(reg=recipe.reg)`` (or another ``--model``) with ``rnpa.train.fit``
(no files written) and prints the training wall time, the per-epoch median, and
the validation and test accuracies of the final weights with flipped copies
(test also without).

    python bench/recipe_trial.py '{"epochs": 60, "cutmix": 1.0}' --seed 0
    python bench/recipe_trial.py '{"augment": "strong"}' --recipe default --seed 1
    python bench/recipe_trial.py '{"swa": 0.25, "lr_floor": 0.2}' --threads 1 --jsonl t.jsonl
    python bench/recipe_trial.py --cutout 11 --seed 1      # trials outside the recipes
    python bench/recipe_trial.py --train-on-val --seed 0
    python bench/recipe_trial.py '{"epochs": 80}' --model resnet14   # another network

Three trials change what no recipe field does (not in rnpa: they did not help):
``--train-on-val`` trains on the training and validation images together (the
validation accuracy is then of training images, so only test counts);
``--cutout N`` blanks a random N x N square of every training image (DeVries
and Taylor 2017) and ``--jitter S`` scales each image's contrast by 1 +- S and
shifts its brightness by +- S standard deviations, both after the recipe's
augmentation.

Two runs with ``--threads 1`` side by side finish sooner on a 2-core machine
than one after the other with both cores (accuracy does not depend on it; the
times then are not the ones of a run alone).

The test split has 367 images: one seed's test accuracy has a standard error of
about 2 points, so compare changes on several seeds (``time_to_accuracy.py``)
before trusting a difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import EpochClock  # noqa: E402

import rnpa  # noqa: E402
from rnpa import data as rdata  # noqa: E402
from rnpa import train as rtrain  # noqa: E402
from rnpa.evaluate import evaluate  # noqa: E402


def cutout(size: int):
    """A batch map that sets a random ``size`` x ``size`` square of each image to 0
    (the training mean, in normalised units); the square may overhang the edge."""
    import tensorflow as tf

    def f(x, y):
        n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        top = tf.random.uniform([n, 1, 1], 0, h, dtype=tf.int32) - size // 2
        left = tf.random.uniform([n, 1, 1], 0, w, dtype=tf.int32) - size // 2
        rows = tf.range(h)[None, :, None] - top
        cols = tf.range(w)[None, None, :] - left
        inside = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
        return x * tf.cast(~inside, x.dtype)[..., None], y

    return f


def jitter(strength: float):
    """A batch map that scales each image's contrast by a random 1 +- ``strength``
    around its mean and shifts its brightness by +- ``strength``."""
    import tensorflow as tf

    def f(x, y):
        n = tf.shape(x)[0]
        shift = tf.random.uniform([n, 1, 1, 1], -strength, strength)
        scale = tf.random.uniform([n, 1, 1, 1], 1 - strength, 1 + strength)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        return (x - mean) * scale + mean + shift, y

    return f


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("changes", nargs="?", default="{}", help="recipe fields to change, as JSON")
    p.add_argument("--recipe", default="default", help="the recipe to start from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="TensorFlow's intra- and inter-op threads (default: its own)")  # fmt: skip
    p.add_argument("--jsonl", default=None, help="also append the result to this JSON-lines file")
    p.add_argument("--train-on-val", action="store_true",
                   help="train on the training and validation images together")  # fmt: skip
    p.add_argument("--model", default="resnetpreact",
                   help=f"the network ({rtrain.MODEL_NAMES})")  # fmt: skip
    p.add_argument("--cutout", type=int, default=0, help="blank a random N x N square")
    p.add_argument("--jitter", type=float, default=0.0,
                   help="random contrast 1 +- S, brightness +- S (normalised units)")  # fmt: skip
    args = p.parse_args()
    if args.cutout < 0 or args.jitter < 0:
        p.error("--cutout and --jitter must be >= 0")
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    changes = json.loads(args.changes)
    recipe = rtrain.get_recipe(args.recipe, **changes)
    rnpa.seed_everything(args.seed)
    arrays = rdata.load_flowers32()
    if args.train_on_val:
        train = tuple(np.concatenate([a, b]) for a, b in zip(arrays.train, arrays.val, strict=True))
        arrays = dataclasses.replace(arrays, train=train)
    data = rdata.pipelines(
        arrays, batch_size=recipe.batch_size, augment=recipe.augment, seed=args.seed,
        name="flowers32",
    )  # fmt: skip
    if args.jitter:
        data = dataclasses.replace(data, train=data.train.map(jitter(args.jitter)))
    if args.cutout:
        data = dataclasses.replace(data, train=data.train.map(cutout(args.cutout)))
    try:
        model = rtrain.build_model(args.model, data.image_shape, data.num_classes, reg=recipe.reg)
    except ValueError as e:  # an unknown --model
        p.error(str(e))
    clock = EpochClock(every=10)
    t0 = time.perf_counter()
    history = rtrain.fit(model, data, recipe, None, callbacks=[clock], verbose=0)
    wall = time.perf_counter() - t0
    result = {
        "recipe": args.recipe,
        "changes": changes,
        "model": args.model,
        "parameters": model.count_params(),
        "train_on_val": args.train_on_val,
        "cutout": args.cutout,
        "jitter": args.jitter,
        "seed": args.seed,
        "fit_s": round(wall, 1),
        "median_epoch_s": round(statistics.median(clock.seconds), 2),
        "val": evaluate(model, data, "val", tta_flip=True).accuracy,
        "test": evaluate(model, data, "test", tta_flip=True).accuracy,
        "test_no_flips": evaluate(model, data, "test", tta_flip=False).accuracy,
        "train_accuracy_last_epoch": history.history["accuracy"][-1],
    }
    trials = " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
        for k, v in vars(args).items()
        if k in ("train_on_val", "cutout", "jitter") and v
    )
    val = (
        f"val {result['val']:.1%} (training images)" if args.train_on_val
        else f"val {result['val']:.1%}"
    )  # fmt: skip
    print(
        f"{args.model}: {args.recipe} {json.dumps(changes)} {trials} seed {args.seed}: "
        f"fit {wall:.0f} s "
        f"(median epoch {result['median_epoch_s']:.2f} s); with flipped copies: "
        f"{val}, test {result['test']:.1%} ({result['test_no_flips']:.1%} without)"
        + ("" if args.train_on_val else f"; val + test {(result['val'] + result['test']) / 2:.1%}"),
    )
    if args.jsonl:
        with open(args.jsonl, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
