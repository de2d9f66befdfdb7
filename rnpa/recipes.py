"""Recipes: everything about *how* a network is trained, kept apart from the network and the data.

A :class:`Recipe` holds the optimizer, the learning-rate schedule, regularisation,
label smoothing, epochs, batch size, augmentation, precision and XLA.
:data:`RECIPES` holds the named ones:

* ``original``: the 2017 notebook's (Adam 1e-4, batch 32, L2 0.005 in the
  network, the notebook's zoom/shear/flip augmentation);
* ``paper``: He et al. 2016 on CIFAR (SGD momentum 0.9, weight decay 1e-4,
  batch 128, lr 0.1 divided by 10 at 50% and 75% of training, pad-4 crop + flip);
* ``default``: a short schedule tuned for flowers32 on a laptop CPU.

To add a recipe, add an entry to :data:`RECIPES`. This module imports Keras only
when a schedule or an optimizer is made, so the command line lists recipes fast.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

from rnpa._checks import check_choice, check_positive_int

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


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
    precision : {"auto", "float32", "mixed_float16", "mixed_bfloat16"}
        ``auto``: mixed_float16 on a GPU, float32 on a CPU (mixed_bfloat16
        was slower on a CPU with AMX, see ``bench/README.md``; ask for it by name;
        on an x86 CPU below AVX-512 it is refused: oneDNN has no bfloat16 convolution there).
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
    augment: str = "default"
    bn_momentum: float | None = None
    ema: float | None = None
    precision: str = "float32"
    jit_compile: bool | str = "auto"
    tta_flip: bool = False

    def __post_init__(self) -> None:
        """Validate every field (raises ValueError/TypeError naming it)."""
        from rnpa.augment import AUGMENTATIONS

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
    import keras

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
    decay = max(1, total - warmup)
    if warmup > 0:
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay, warmup_target=lr, warmup_steps=warmup
        )
    return keras.optimizers.schedules.CosineDecay(lr, decay)


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> Any:
    """The optimizer of ``recipe`` (a ``keras.optimizers.Optimizer``) with its schedule,
    weight decay and EMA."""
    import keras

    lr = make_schedule(recipe, steps_per_epoch)
    common: dict[str, Any] = {}
    if recipe.weight_decay:
        common["weight_decay"] = recipe.weight_decay
    if recipe.ema is not None:
        common.update(use_ema=True, ema_momentum=recipe.ema)
    if recipe.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            learning_rate=lr, momentum=recipe.momentum, nesterov=recipe.nesterov, **common
        )
    elif recipe.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate=lr, **common)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=lr, **common)
    return _decay_at_one_rate(optimizer)


def _decay_at_one_rate(optimizer: Any) -> Any:
    """``optimizer``, its weight decay evaluating the learning-rate schedule once per step.

    Keras' decoupled weight decay (``Optimizer._apply_weight_decay``, every backend)
    reads ``optimizer.learning_rate`` once per variable, and with a schedule every
    read builds the schedule's graph again: 103 warm-up cosines (each with a
    ``cond``) in the seed network's training step, which made its first step take
    11 s instead of 5 s on a 2-core Xeon (``bench/README.md``). Here the decay reads
    the schedule once and gives every variable that value: the same arithmetic.
    The class stays Keras' own (an attribute of this instance is replaced, not the
    class), so a compiled model saves and loads without rnpa.
    """
    import keras

    if optimizer.weight_decay is None:
        return optimizer
    stock = optimizer._apply_weight_decay

    def apply_weight_decay(variables: Any) -> Any:
        schedule = optimizer._learning_rate
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            return stock(variables)
        # Keras' learning_rate property returns a tensor as it is: one value for all
        optimizer._learning_rate = schedule(optimizer.iterations)
        try:
            return stock(variables)
        finally:
            optimizer._learning_rate = schedule

    optimizer._apply_weight_decay = apply_weight_decay
    return optimizer


__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "RECIPES",
    "Recipe",
    "SCHEDULES",
    "get_recipe",
    "make_optimizer",
    "make_schedule",
]
