"""Accuracy of trained networks with more test-time views, alone and averaged.

    python bench/time_to_accuracy.py --recipes default --seeds 0 1 2 --out /tmp/tta
    python bench/views_and_ensemble.py /tmp/tta/default-seed*/final.keras

For each saved model, and for the average of their predicted probabilities
(an ensemble: as many training runs as models), prints the flowers32
validation and test accuracy over each set of views. Every set holds each
view and its mirror image: ``flips`` is the image itself (what
``tta_flip=True`` evaluates), ``shift1``/``shift2`` add the four shifts by 1
or 2 pixels up, down, left and right, ``diag1`` the four diagonal shifts by
1 pixel. A shift fills the uncovered border with 0, the training mean after
normalisation, like the pad-and-crop augmentation.
"""

from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from rnpa import data as rdata  # noqa: E402

VIEWS = {
    "flips": [(0, 0)],
    "shift1": [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)],
    "shift2": [(0, 0), (2, 0), (-2, 0), (0, 2), (0, -2)],
    "diag1": [(0, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)],
}


def shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``x`` (batch, h, w, c) moved down by ``dy`` and right by ``dx`` pixels, zero-filled."""
    p = max(abs(dy), abs(dx))
    if p == 0:
        return x
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    return padded[:, p - dy : p - dy + h, p - dx : p - dx + w]


def view_probabilities(model: keras.Model, x: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Predicted probabilities of every shift in :data:`VIEWS`, averaged with
    the mirror image's (each shift predicted once)."""
    shifts = {v for views in VIEWS.values() for v in views}
    out = {}
    for dy, dx in shifts:
        moved = shift(x, dy, dx)
        pair = [model.predict(v, batch_size=256, verbose=0) for v in (moved, moved[:, :, ::-1])]
        out[(dy, dx)] = (pair[0] + pair[1]) / 2
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    models = [keras.models.load_model(path, compile=False) for path in argv]
    arrays = rdata.load_flowers32()
    data = rdata.pipelines(arrays, name="flowers32")  # for the training split's normalisation
    print(f"{'model':<40} {'split':<5} " + " ".join(f"{v:>7}" for v in VIEWS))
    for split in ("val", "test"):
        images, labels = getattr(arrays, split)
        x, y = data.normalize(images), np.asarray(labels)
        per_model = [view_probabilities(m, x) for m in models]
        probs = {
            v: [np.mean([p[s] for s in views], axis=0) for p in per_model]
            for v, views in VIEWS.items()
        }
        rows = [(path, i) for i, path in enumerate(argv)] + [(f"ensemble of {len(models)}", None)]
        for name, i in rows:
            accs = []
            for v in VIEWS:
                p = probs[v][i] if i is not None else np.mean(probs[v], axis=0)
                accs.append(float(np.mean(p.argmax(axis=1) == y)))
            print(f"{name[-40:]:<40} {split:<5} " + " ".join(f"{a:>7.1%}" for a in accs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
