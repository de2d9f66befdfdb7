"""rnpa.recipes: the named recipes, their schedules and optimizers, and their validation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnpa import recipes as rrecipes


def test_recipes_import_no_tensorflow():
    """The command line lists the recipes without waiting for TensorFlow."""
    import subprocess
    import sys

    code = "import sys, rnpa.recipes; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", sorted(rrecipes.RECIPES))
def test_recipes_build(name):
    recipe = rrecipes.get_recipe(name)
    assert recipe.name == name
    opt = rrecipes.make_optimizer(recipe, steps_per_epoch=10)
    assert isinstance(opt, keras.optimizers.Optimizer)
    d = recipe.to_dict()
    assert d["epochs"] == recipe.epochs and d["optimizer"] == recipe.optimizer


def test_original_and_paper_recipes_are_the_published_ones():
    original = rrecipes.RECIPES["original"]
    assert (original.optimizer, original.learning_rate, original.batch_size, original.reg) == (
        "adam", 1e-4, 32, 0.005,
    )  # fmt: skip
    paper = rrecipes.RECIPES["paper"]
    assert (paper.optimizer, paper.momentum, paper.weight_decay, paper.batch_size) == (
        "sgd", 0.9, 1e-4, 128,
    )  # fmt: skip
    assert paper.augment == "crop"
    # lr 0.1, divided by 10 at 50% and 75% of training
    schedule = rrecipes.make_schedule(paper.replace(epochs=100), steps_per_epoch=10)
    lrs = [float(schedule(step)) for step in (0, 499, 501, 749, 751, 999)]
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-5)


def test_default_cosine_schedule_warms_up_and_decays():
    recipe = rrecipes.get_recipe("default", epochs=10)
    schedule = rrecipes.make_schedule(recipe, steps_per_epoch=10)
    lr = [float(schedule(s)) for s in range(100)]
    peak = int(np.argmax(lr))
    assert lr[0] < 0.1 * recipe.learning_rate
    assert abs(max(lr) - recipe.learning_rate) < 1e-6
    assert peak == round(recipe.warmup_epochs * 10)
    assert lr[-1] < 0.01 * recipe.learning_rate


@pytest.mark.parametrize(
    "change, exc, word",
    [
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"label_smoothing": 2.0}, ValueError, "label_smoothing"),
        ({"precision": "float8"}, ValueError, "precision"),
        ({"augment": "mixup"}, ValueError, "augment"),
        ({"milestones": (0.5, 1.5)}, ValueError, "milestones"),
        ({"colour": "blue"}, TypeError, "colour"),
    ],
)
def test_recipe_validation(change, exc, word):
    with pytest.raises(exc, match=word):
        rrecipes.get_recipe("default", **change)


def test_unknown_recipe_lists_known_ones():
    with pytest.raises(ValueError, match="original, paper, default"):
        rrecipes.get_recipe("fastest")


class _CountingCosine(keras.optimizers.schedules.CosineDecay):
    """Keras' warm-up cosine, counting how often it is evaluated."""

    calls = 0

    def __call__(self, step):
        type(self).calls += 1
        return super().__call__(step)


def _decayed_training(optimizer, steps=5):
    """Weights of a 12-variable model after ``steps`` steps of ``optimizer`` (a tf.function)."""
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((4,))] + [keras.layers.Dense(4) for _ in range(6)])
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    x = keras.ops.convert_to_tensor(rng.normal(size=(8, 4)).astype("float32"))
    import tensorflow as tf

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(model(x) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)

    for _ in range(steps):
        step()
    return model.get_weights()


def test_weight_decay_evaluates_the_schedule_once_per_step_with_keras_arithmetic():
    """Keras' decoupled weight decay reads ``optimizer.learning_rate`` once per variable,
    so a schedule's graph is built once per variable (12 here, 103 in the seed network:
    5 s more for its first training step); rnpa's optimizers evaluate it once per step
    for the decay, with the same result."""
    recipe = rrecipes.get_recipe("default", epochs=2)

    def schedule():
        return _CountingCosine(0.0, 20, warmup_target=0.1, warmup_steps=3)

    stock = keras.optimizers.SGD(schedule(), momentum=0.9, nesterov=True, weight_decay=1e-2)
    _CountingCosine.calls = 0
    expected = _decayed_training(stock)
    stock_calls = _CountingCosine.calls

    ours = rrecipes.make_optimizer(recipe, steps_per_epoch=10)
    assert type(ours) is keras.optimizers.SGD  # a stock class: saved configs load without rnpa
    ours.learning_rate = schedule()  # the same schedule as the stock optimizer's
    _CountingCosine.calls = 0
    got = _decayed_training(ours)
    # per trace of the step (tf.function traces it twice: the first call makes variables),
    # Keras evaluates the schedule once for the update and once per variable for the decay;
    # rnpa's once for each
    traces, rest = divmod(stock_calls, 1 + 12)
    assert traces >= 1 and rest == 0, stock_calls
    assert _CountingCosine.calls == traces * 2, (_CountingCosine.calls, stock_calls)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # and the decay did act: without it the weights differ
    plain = keras.optimizers.SGD(schedule(), momentum=0.9, nesterov=True)
    assert not np.allclose(_decayed_training(plain)[0], got[0])
