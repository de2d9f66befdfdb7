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
