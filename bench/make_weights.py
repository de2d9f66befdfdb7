"""Export a trained seed network as the weights shipped in rnpa/assets.

    python -m rnpa train --recipe default --seed 0 --out runs/pretrained
    python bench/make_weights.py runs/pretrained/final.keras

Checks that the model is the default ResNetPreAct, writes
``rnpa/assets/resnetpreact_flowers32.weights.h5`` (through a temporary file and a
rename) and prints its accuracy on flowers32's val and test splits, with and
without flipped copies, for ``rnpa/assets/WEIGHTS.md``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import rnpa  # noqa: E402
from rnpa import data as rdata  # noqa: E402
from rnpa.evaluate import evaluate  # noqa: E402
from rnpa.models import PRETRAINED_WEIGHTS  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    trained = keras.models.load_model(argv[0], compile=False)
    model = rnpa.ResNetPreAct()
    model.set_weights(trained.get_weights())  # raises unless it is the default network
    target = Path(rnpa.__file__).parent / "assets" / PRETRAINED_WEIGHTS["flowers32"]
    fd, tmp = tempfile.mkstemp(suffix=".weights.h5", dir=target.parent)
    os.close(fd)
    try:
        model.save_weights(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; package data is world-readable
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {target} ({target.stat().st_size / 1024:.0f} KB)")
    check = rnpa.ResNetPreAct(weights="flowers32")
    data = rdata.load("flowers32", augment="none")
    for split in ("val", "test"):
        plain = evaluate(check, data, split).accuracy
        tta = evaluate(check, data, split, tta_flip=True).accuracy
        print(f"{split}: accuracy {plain:.2%}, with flipped copies {tta:.2%}")
    print(f"tensorflow {__import__('tensorflow').__version__}, keras {keras.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
