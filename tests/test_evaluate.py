"""Tests of rnpa.evaluate: accuracy, confusion matrix, test-time flips, confident errors.

The references are independent of the code under test: hand-made probability
arrays with the answer worked out by hand, and a linear classifier whose
predictions are recomputed with NumPy.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnpa import data as rdata
from rnpa import evaluate

CLASSES = ("a", "b", "c")


# ----------------------------------------------------------------------------
# confident_errors on hand-made probabilities
# ----------------------------------------------------------------------------
# row: true label, predicted (argmax), probability of the prediction
PROBS = np.array(
    [
        [0.70, 0.20, 0.10],  # 0: true 0, right
        [0.10, 0.85, 0.05],  # 1: true 0, wrong (b, 0.85)
        [0.30, 0.30, 0.40],  # 2: true 1, wrong (c, 0.40)
        [0.05, 0.05, 0.90],  # 3: true 2, right
        [0.95, 0.03, 0.02],  # 4: true 2, wrong (a, 0.95)
        [0.20, 0.60, 0.20],  # 5: true 1, right
        [0.25, 0.15, 0.60],  # 6: true 0, wrong (c, 0.60)
    ]
)
LABELS = np.array([0, 0, 1, 2, 2, 1, 0])


def test_confident_errors_sorts_the_wrong_ones_by_confidence():
    errors = evaluate.confident_errors(PROBS, LABELS, k=3)
    # worked out by hand from the table above: wrong rows 1, 2, 4, 6 with 0.85, 0.40, 0.95, 0.60
    np.testing.assert_array_equal(errors.indices, [4, 1, 6])
    np.testing.assert_array_equal(errors.true, [2, 0, 0])
    np.testing.assert_array_equal(errors.predicted, [0, 1, 2])
    np.testing.assert_allclose(errors.confidence, [0.95, 0.85, 0.60])
    np.testing.assert_allclose(errors.probabilities, PROBS[[4, 1, 6]])
    assert len(errors) == 3


def test_confident_errors_returns_all_when_fewer_are_wrong_and_none_when_all_right():
    errors = evaluate.confident_errors(PROBS, LABELS, k=10)
    np.testing.assert_array_equal(errors.indices, [4, 1, 6, 2])
    right = evaluate.confident_errors(PROBS, PROBS.argmax(axis=1), k=5)
    assert len(right) == 0 and right.probabilities.shape == (0, 3)


def test_confident_errors_keeps_the_order_of_ties():
    probs = np.array([[0.2, 0.8], [0.8, 0.2], [0.2, 0.8], [0.2, 0.8]])
    errors = evaluate.confident_errors(probs, [0, 1, 0, 0], k=4)
    np.testing.assert_array_equal(errors.indices, [0, 1, 2, 3])


@pytest.mark.parametrize(
    ("probs", "labels", "k", "error", "words"),
    [
        (PROBS[0], LABELS[:1], 1, ValueError, ["probabilities", "(N, num_classes"]),
        (PROBS, LABELS[:3], 1, ValueError, ["labels", "one label per row", "7"]),
        (PROBS, np.array([0, 0, 1, 2, 3, 1, 0]), 1, ValueError, ["labels", "0..2", "0..3"]),
        (PROBS, LABELS, 0, ValueError, ["k", ">= 1", "0"]),
        (PROBS, LABELS, 2.5, TypeError, ["k", "2.5"]),
    ],
)
def test_confident_errors_rejects_bad_input(probs, labels, k, error, words):
    with pytest.raises(error) as info:
        evaluate.confident_errors(probs, labels, k=k)
    for word in words:
        assert word in str(info.value)


# ----------------------------------------------------------------------------
# Evaluation, from a confusion matrix counted by hand
# ----------------------------------------------------------------------------
def test_evaluation_accuracy_and_per_class_from_a_hand_count():
    # true a: 3 right of 4; true b: 1 of 2; true c: 0 of 1
    confusion = np.array([[3, 1, 0], [1, 1, 0], [0, 1, 0]])
    ev = evaluate.Evaluation(split="test", class_names=CLASSES, confusion=confusion)
    assert ev.accuracy == pytest.approx(4 / 7)
    assert ev.per_class == pytest.approx({"a": 0.75, "b": 0.5, "c": 0.0})
    report = ev.report()
    assert "accuracy 57.14% on 7 images" in report and "75.0%" in report


# ----------------------------------------------------------------------------
# model-level functions, against a linear classifier recomputed in NumPy
# ----------------------------------------------------------------------------
SIZE = 8  # the smallest image size the pipelines take


def _tiny_data(seed=0):
    rng = np.random.default_rng(seed)

    def split(n):
        return (rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8),
                rng.integers(0, 3, n))  # fmt: skip

    arrays = rdata.ArraySplits(train=split(40), val=split(30), test=split(25), class_names=CLASSES)
    return rdata.pipelines(arrays, batch_size=8, augment="none", name="tiny")


def _linear_model(seed=1):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.2, (SIZE * SIZE * 3, 3)).astype(np.float32)
    b = rng.normal(0, 0.1, 3).astype(np.float32)
    model = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(),
         keras.layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    model.layers[-1].set_weights([w, b])
    return model, w, b


def _numpy_probs(images, data, w, b):
    x = (images.astype(np.float64) / 255.0 - data.mean) / data.std
    z = x.reshape(len(x), -1) @ w.astype(np.float64) + b
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("split", ["train", "val", "test"])
@pytest.mark.parametrize("tta_flip", [False, True])
def test_most_confident_errors_match_a_numpy_reference(split, tta_flip):
    data = _tiny_data()
    model, w, b = _linear_model()
    images, labels = getattr(data.arrays, split)
    ref = _numpy_probs(images, data, w, b)
    if tta_flip:
        ref = 0.5 * (ref + _numpy_probs(images[:, :, ::-1, :], data, w, b))
    predicted = ref.argmax(axis=1)
    wrong = [i for i in range(len(labels)) if predicted[i] != labels[i]]
    expected = sorted(wrong, key=lambda i: -ref[i, predicted[i]])[:5]
    assert len(wrong) >= 5  # a random linear model is wrong about 2/3 of the time

    errors = evaluate.most_confident_errors(model, data, split, k=5, tta_flip=tta_flip)
    np.testing.assert_array_equal(errors.indices, expected)
    np.testing.assert_array_equal(errors.true, labels[expected])
    np.testing.assert_array_equal(errors.predicted, predicted[expected])
    np.testing.assert_allclose(errors.confidence, ref[expected, predicted[expected]], atol=1e-5)

    ev = evaluate.evaluate(model, data, split, tta_flip=tta_flip)
    assert ev.accuracy == pytest.approx(np.mean(predicted == labels))
    counts = np.zeros((3, 3), dtype=int)
    for t, p in zip(labels, predicted, strict=True):
        counts[t, p] += 1
    np.testing.assert_array_equal(ev.confusion, counts)


def test_flips_change_the_predictions_of_a_model_that_is_not_symmetric():
    data = _tiny_data()
    model, _, _ = _linear_model()
    plain, _ = evaluate.predict(model, data.test)
    flipped, _ = evaluate.predict(model, data.test, tta_flip=True)
    assert not np.allclose(plain, flipped)
    np.testing.assert_allclose(flipped.sum(axis=1), 1.0, atol=1e-6)


def test_most_confident_errors_rejects_bad_input_before_predicting(monkeypatch):
    data = _tiny_data()
    model, _, _ = _linear_model()

    def no_prediction(*args, **kwargs):
        raise AssertionError("predicted before the arguments were checked")

    monkeypatch.setattr(evaluate, "predict", no_prediction)
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        evaluate.most_confident_errors("model", data)
    with pytest.raises(TypeError, match="data must be an rnpa.data.Data"):
        evaluate.most_confident_errors(model, data.arrays)
    with pytest.raises(ValueError, match="split must be one of .*'holdout'"):
        evaluate.most_confident_errors(model, data, "holdout")
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        evaluate.most_confident_errors(model, data, k=0)
    five = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(5, activation="softmax")])  # fmt: skip
    with pytest.raises(ValueError, match="predicts 5 classes .* has 3"):
        evaluate.most_confident_errors(five, data)


def test_confusion_matrix_and_report():
    from rnpa.evaluate import confusion_matrix

    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    from rnpa.evaluate import Evaluation

    result = Evaluation("test", ("a", "b", "c"), cm)
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.per_class == pytest.approx({"a": 0.5, "b": 1.0, "c": 2 / 3})
    text = result.report()
    assert "accuracy 66.67% on 6 images" in text and "confusion matrix" in text
