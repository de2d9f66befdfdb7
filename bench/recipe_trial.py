"""One training run of the seed network on flowers32 with a changed recipe.

For trying a recipe change before making it the default: trains
``ResNetPreAct(reg=recipe.reg)`` (or another ``--model``) with ``rnpa.train.fit``
(no files written) and prints the training wall time, the per-epoch median, and
the validation and test accuracies of the final weights with flipped copies
(test also without).

    python bench/recipe_trial.py '{"epochs": 60, "label_smoothing": 0.0}' --seed 0
    python bench/recipe_trial.py '{"augment": "strong"}' --recipe default --seed 1
    python bench/recipe_trial.py '{"epochs": 40}' --threads 1 --jsonl t.jsonl
    python bench/recipe_trial.py --cutout 11 --seed 1      # trials outside the recipes
    python bench/recipe_trial.py --train-on-val --seed 0
    python bench/recipe_trial.py '{"epochs": 30}' --sam 0.05 --seed 1
    python bench/recipe_trial.py '{"epochs": 80}' --model resnet14   # another network

Some trials change what no recipe field does (none is in rnpa: none helped,
see ``bench/README.md``): ``--train-on-val`` trains on the training and
validation images together (the validation accuracy is then of training
images, so only test counts); ``--cutout N`` blanks a random N x N square of
every training image (DeVries and Taylor 2017); ``--jitter S`` scales each
image's contrast by 1 +- S and shifts its brightness by +- S standard
deviations, both after the recipe's augmentation; ``--rot90`` turns each
training image by a random multiple of 90 degrees; ``--zero-init`` starts the
last convolution of every residual branch at 0, so that each unit starts as
the identity; ``--no-bn-decay`` exempts the BatchNormalization scales and
offsets and the biases from weight decay; ``--sam RHO`` trains with
sharpness-aware minimisation (Foret et al. 2021, two forward and backward
passes per step). Every run also reports the accuracies after the
BatchNormalization statistics are recomputed on the unaugmented training
images (:func:`recompute_batchnorm`, here). Weight averaging (SWA), MixUp and
CutMix, tried with this script, left the package: they did not help
(``bench/README.md``); Keras has ``keras.layers.MixUp`` and ``CutMix``.

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
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _common import EpochClock  # noqa: E402

import rnpa  # noqa: E402
from rnpa import data as rdata  # noqa: E402
from rnpa import train as rtrain  # noqa: E402
from rnpa.cli import MODEL_NAMES  # noqa: E402
from rnpa.evaluate import evaluate  # noqa: E402
from rnpa.models import build_model  # noqa: E402


def recompute_batchnorm(model: keras.Model, dataset: Any, steps: int | None = None) -> int:
    """Set each BatchNormalization layer's moving statistics to its batch statistics
    averaged over ``dataset``.

    Here: to see what the statistics of unaugmented images change (they changed
    nothing that mattered; rnpa left weight averaging, which needed this, for
    these trials).
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
        steps = int(steps)
    layers = [la for la in model._flatten_layers()  # noqa: SLF001
              if isinstance(la, keras.layers.BatchNormalization)]
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


def rot90():
    """A batch map that turns each image by a random multiple of 90 degrees
    (with the recipe's horizontal flip: all 8 symmetries of the square)."""
    import tensorflow as tf

    def f(x, y):
        n = tf.shape(x)[0]
        k = tf.random.uniform([n], 0, 4, dtype=tf.int32)
        turned = [tf.image.rot90(x, j) for j in range(4)]
        stack = tf.stack(turned, axis=1)  # (n, 4, h, w, c); square images only
        return tf.gather(stack, k, axis=1, batch_dims=1), y

    return f


def use_sam(model, rho: float) -> None:
    """Make ``model`` train with sharpness-aware minimisation (Foret et al. 2021):
    each step takes the gradient at the weights moved by ``rho`` along the
    normalised gradient (two forward and backward passes per step)."""
    import tensorflow as tf

    def train_step(self, data):
        x, y = data[0], data[1]
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        grads = tape.gradient(loss, variables)
        norm = tf.linalg.global_norm(grads)
        moves = [g * (rho / (norm + 1e-12)) for g in grads]
        for v, e in zip(variables, moves, strict=True):
            v.assign_add(e)
        with tf.GradientTape() as tape:
            y_sharp = self(x, training=True)
            loss_sharp = self.compute_loss(x=x, y=y, y_pred=y_sharp, training=True)
        grads = tape.gradient(loss_sharp, variables)
        for v, e in zip(variables, moves, strict=True):
            v.assign_sub(e)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        return self.compute_metrics(x, y, y_pred)

    import types

    model.train_step = types.MethodType(train_step, model)


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
                   help=f"the network ({MODEL_NAMES})")  # fmt: skip
    p.add_argument("--cutout", type=int, default=0, help="blank a random N x N square")
    p.add_argument("--jitter", type=float, default=0.0,
                   help="random contrast 1 +- S, brightness +- S (normalised units)")  # fmt: skip
    p.add_argument("--rot90", action="store_true",
                   help="turn training images by a random multiple of 90 degrees")  # fmt: skip
    p.add_argument("--zero-init", action="store_true",
                   help="start each residual branch's last convolution at 0")  # fmt: skip
    p.add_argument("--no-bn-decay", action="store_true",
                   help="no weight decay on BatchNorm scales, offsets and biases")  # fmt: skip
    p.add_argument("--sam", type=float, default=0.0, metavar="RHO",
                   help="sharpness-aware minimisation with this radius (0: off)")  # fmt: skip
    args = p.parse_args()
    if args.cutout < 0 or args.jitter < 0 or args.sam < 0:
        p.error("--cutout, --jitter and --sam must be >= 0")
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
    if args.rot90:
        data = dataclasses.replace(data, train=data.train.map(rot90()))
    try:
        model = build_model(args.model, input_shape=data.image_shape,
                            num_classes=data.num_classes, reg=recipe.reg)
    except ValueError as e:  # an unknown --model
        p.error(str(e))
    if args.zero_init:
        last = [x for x in model.layers if x.name.startswith("conv") and x.name.endswith("c")]
        if not last:
            p.error(f"--zero-init needs the seed network's conv<s>c layers; {args.model} has none")
        for layer in last:
            for w in layer.weights:
                w.assign(np.zeros(w.shape, w.dtype))
    if args.sam:
        if rtrain.resolve_precision(recipe.precision) != "float32":
            # fit would train a float16/bfloat16 copy without this train_step
            p.error("--sam needs float32 training ('precision': 'float32' on a GPU)")
        use_sam(model, args.sam)
    if args.no_bn_decay:
        # fit builds its optimizer with rnpa.train.make_optimizer: wrap it (this
        # process trains once)
        make_optimizer = rtrain.make_optimizer

        def make_without_bn_decay(*a, **k):
            optimizer = make_optimizer(*a, **k)
            optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
            return optimizer

        rtrain.make_optimizer = make_without_bn_decay
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
        "rot90": args.rot90,
        "sam": args.sam,
        "zero_init": args.zero_init,
        "no_bn_decay": args.no_bn_decay,
        "seed": args.seed,
        "fit_s": round(wall, 1),
        "median_epoch_s": round(statistics.median(clock.seconds), 2),
        "val": evaluate(model, data, "val", tta_flip=True).accuracy,
        "test": evaluate(model, data, "test", tta_flip=True).accuracy,
        "test_no_flips": evaluate(model, data, "test", tta_flip=False).accuracy,
        "train_accuracy_last_epoch": history.history["accuracy"][-1],
    }
    # the BatchNormalization statistics of the last epoch come from augmented
    # batches; the same weights with statistics of the unaugmented images:
    clean = rdata.pipelines(
        arrays, batch_size=recipe.batch_size, augment="none", seed=args.seed, name="flowers32"
    )
    recompute_batchnorm(model, clean.train)
    result["val_bn_clean"] = evaluate(model, data, "val", tta_flip=True).accuracy
    result["test_bn_clean"] = evaluate(model, data, "test", tta_flip=True).accuracy
    flags = ("train_on_val", "cutout", "jitter", "rot90", "sam", "zero_init", "no_bn_decay")
    trials = " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
        for k, v in vars(args).items()
        if k in flags and v
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
    print(
        f"  with BatchNorm statistics of unaugmented training images: val "
        f"{result['val_bn_clean']:.1%}, test {result['test_bn_clean']:.1%}"
    )
    if args.jsonl:
        with open(args.jsonl, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
