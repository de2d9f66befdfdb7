"""Evaluation of a trained classifier: accuracy, per-class accuracy, confusion matrix,
test-time flips, the most confidently wrong images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from rnpa._checks import check_positive_int


@dataclass(frozen=True)
class Evaluation:
    """Results of :func:`evaluate` on one split.

    ``confusion[i, j]`` counts images of true class ``i`` predicted as ``j``.
    """

    split: str
    class_names: tuple[str, ...]
    confusion: np.ndarray

    @property
    def accuracy(self) -> float:
        """Share of images classified correctly."""
        total = self.confusion.sum()
        return float(np.trace(self.confusion) / total) if total else float("nan")

    @property
    def per_class(self) -> dict[str, float]:
        """Accuracy (recall) of each class."""
        rows = self.confusion.sum(axis=1)
        return {
            name: float(self.confusion[i, i] / rows[i]) if rows[i] else float("nan")
            for i, name in enumerate(self.class_names)
        }

    def report(self) -> str:
        """The evaluation as text: accuracy, per-class accuracy, confusion matrix."""
        n = int(self.confusion.sum())
        width = max(8, *(len(c) for c in self.class_names))
        lines = [f"{self.split}: accuracy {self.accuracy:.2%} on {n} images", "",
                 f"{'class':<{width}}  accuracy  images"]  # fmt: skip
        rows = self.confusion.sum(axis=1)
        for i, (name, acc) in enumerate(self.per_class.items()):
            lines.append(f"{name:<{width}}  {acc:>8.1%}  {int(rows[i]):>6}")
        lines += ["", "confusion matrix (rows: true class, columns: predicted)"]
        cell = max(5, len(str(int(self.confusion.max()))) + 1)
        short = [c[: cell - 1] for c in self.class_names]
        lines.append(" " * width + "".join(f"{s:>{cell}}" for s in short))
        for name, row in zip(self.class_names, self.confusion, strict=True):
            lines.append(f"{name:<{width}}" + "".join(f"{int(v):>{cell}}" for v in row))
        return "\n".join(lines)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """Count matrix ``C[i, j]``: how many images of true class i were predicted as j.

    Parameters
    ----------
    y_true, y_pred : array (N,)
        Integer labels in ``0..num_classes-1``.
    num_classes : int
        Number of classes.

    Returns
    -------
    numpy.ndarray
        int64 array ``(num_classes, num_classes)``.
    """
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}"
        )
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(
                f"{name} must hold labels in 0..{num_classes - 1}, got {arr.min()}..{arr.max()}"
            )
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return counts


def predict(
    model: keras.Model, dataset: Any, tta_flip: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and true labels of a ``(images, labels)`` dataset.

    With ``tta_flip`` the probabilities are the mean over each image and its
    horizontal mirror (test-time augmentation).
    """
    probs, labels = [], []
    for x, y in dataset:
        p = np.asarray(model(x, training=False), dtype=np.float64)
        if tta_flip:
            p = 0.5 * (p + np.asarray(model(x[:, :, ::-1, :], training=False), dtype=np.float64))
        probs.append(p)
        labels.append(np.asarray(y))
    if not probs:
        raise ValueError("the dataset is empty")
    return np.concatenate(probs), np.concatenate(labels)


def evaluate(
    model: keras.Model, data: Any, split: str = "test", tta_flip: bool = False
) -> Evaluation:
    """Evaluate ``model`` on a split of ``data`` (an ``rnpa.data.Data``).

    Parameters
    ----------
    model : keras.Model
        A classifier with softmax output over ``data.class_names``.
    data : rnpa.data.Data
        From :func:`rnpa.data.load`.
    split : {"train", "val", "test"}
        The split; ``train`` is evaluated without augmentation.
    tta_flip : bool
        Average the predictions on each image and its mirror image.

    Returns
    -------
    Evaluation
    """
    _check_model_and_data(model, data, split)
    probs, labels = predict(model, _split_dataset(data, split), tta_flip=tta_flip)
    cm = confusion_matrix(labels, probs.argmax(axis=1), data.num_classes)
    return Evaluation(split=split, class_names=data.class_names, confusion=cm)


def _check_model_and_data(model: Any, data: Any, split: str) -> None:
    from rnpa.data import Data

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    if not isinstance(data, Data):
        raise TypeError(f"data must be an rnpa.data.Data, got {type(data).__name__}")
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be one of 'train', 'val', 'test'; got {split!r}")
    out = int(model.outputs[0].shape[-1])
    if out != data.num_classes:
        raise ValueError(
            f"the model predicts {out} classes but dataset {data.name!r} has {data.num_classes}"
        )


def _split_dataset(data: Any, split: str) -> Any:
    """The unshuffled, unaugmented batches of a split, in the order of ``data.arrays``."""
    if split == "train":
        import tensorflow as tf

        x, y = data.arrays.train  # type: ignore[union-attr]
        return tf.data.Dataset.from_tensor_slices((data.normalize(x), y)).batch(256)
    return data.split(split)


# ----------------------------------------------------------------------------
# the most confidently wrong images
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfidentErrors:
    """The wrongly classified images of a split, most confident first.

    ``indices[i]`` is the position of the i-th image in the split (in
    ``data.arrays.<split>`` for :func:`most_confident_errors`), ``true[i]`` and
    ``predicted[i]`` its true and predicted label, ``confidence[i]`` the
    probability the model gave to the predicted (wrong) class and
    ``probabilities[i]`` all its class probabilities.
    """

    indices: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def confident_errors(probabilities: Any, labels: Any, k: int = 8) -> ConfidentErrors:
    """The ``k`` wrong predictions with the highest probability on the predicted class.

    Parameters
    ----------
    probabilities : array (N, num_classes)
        Predicted class probabilities.
    labels : array (N,)
        True integer labels in ``0..num_classes-1``.
    k : int
        How many (>= 1); fewer come back if fewer images are wrong.

    Returns
    -------
    ConfidentErrors
        Sorted by decreasing confidence; ties keep the images' order.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(
            f"probabilities must be an array (N, num_classes >= 2), got shape {probs.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(probs):
        raise ValueError(
            f"labels must be a 1-D array with one label per row of probabilities "
            f"({len(probs)}), got shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(
            f"labels must lie in 0..{probs.shape[1] - 1}, got {labels.min()}..{labels.max()}"
        )
    k = check_positive_int(k, "k")
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probs[wrong, predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:k]
    return ConfidentErrors(
        indices=order,
        true=labels[order].astype(np.int64),
        predicted=predicted[order],
        confidence=probs[order, predicted[order]],
        probabilities=probs[order],
    )


def most_confident_errors(
    model: keras.Model, data: Any, split: str = "test", k: int = 8, tta_flip: bool = False
) -> ConfidentErrors:
    """The ``k`` images of a split that ``model`` gets wrong with the highest confidence.

    Parameters
    ----------
    model : keras.Model
        A classifier with softmax output over ``data.class_names``.
    data : rnpa.data.Data
        From :func:`rnpa.data.load`; ``indices`` point into ``data.arrays.<split>``.
    split : {"train", "val", "test"}
        The split (``train`` without augmentation).
    k : int
        How many images (>= 1).
    tta_flip : bool
        Average the predictions on each image and its mirror image.

    Returns
    -------
    ConfidentErrors
        See :func:`confident_errors`.

    Examples
    --------
    >>> errors = most_confident_errors(model, data, "test", k=8)  # doctest: +SKIP
    >>> images = data.arrays.test[0][errors.indices]  # doctest: +SKIP
    """
    _check_model_and_data(model, data, split)
    k = check_positive_int(k, "k")
    probs, labels = predict(model, _split_dataset(data, split), tta_flip=tta_flip)
    return confident_errors(probs, labels, k)


__all__ = [
    "ConfidentErrors",
    "Evaluation",
    "confident_errors",
    "confusion_matrix",
    "evaluate",
    "most_confident_errors",
    "predict",
]
