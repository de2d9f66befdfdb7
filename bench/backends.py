"""Training img/s of the same Keras model on Keras 3's TensorFlow, JAX and PyTorch backends.

The seed network (``rnpa.ResNetPreAct()``) trained by ``model.fit`` on numpy
batches of 128 (flowers32's training images, no augmentation), SGD with momentum:
the same Keras code on every backend. On TensorFlow the network has rnpa's
BatchNormalization (``rnpa.layers``: fused or separate forward, as
``forward_kind()`` picks) and, with ``--keras-bn``, also Keras' own; on JAX and
PyTorch rnpa's layer *is* Keras' computation (the fused path is TensorFlow's).
Each backend runs in a process of its own (Keras picks its backend once, at
import), one after the other, and each ``--isa`` (``bench/_isa.py``) likewise;
medians over ``--rounds`` epochs after a warm-up epoch (tracing, compilation).

    python bench/backends.py                                   # tensorflow, jax
    PYTHONPATH=/tmp/torchlib python bench/backends.py --backends tensorflow,jax,torch \\
        --isa native,avx2 --keras-bn

PyTorch is not in the course's requirements: install its CPU wheel outside the
virtual environment and put it on ``PYTHONPATH`` (``bench/README.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from _isa import ISAS, isa_env

BACKENDS = ("tensorflow", "jax", "torch")

_CHILD = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras
from _common import EpochClock, seed_network
from rnpa.datasets import load_flowers32
rounds, keras_bn = int(sys.argv[1]), sys.argv[2] == "1"
x, y = load_flowers32().train
x, y = x.astype("float32") / 255.0, y.astype("int32")


def rate(keras_bn_layer):
    model = seed_network(keras_bn_layer)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    clock = EpochClock()
    model.fit(x, y, batch_size=128, epochs=1 + rounds, verbose=0, callbacks=[clock])
    return [len(x) / s for s in clock.seconds[1:]]


out = {}
backend = keras.backend.backend()
if backend == "tensorflow":
    from rnpa.layers import forward_kind
    out[f"rnpa BN ({forward_kind()} forward)"] = rate(False)
    if keras_bn:
        out["Keras BN"] = rate(True)
else:
    out["Keras BN"] = rate(False)  # rnpa's layer is Keras' computation off TensorFlow
print("@@result", json.dumps({"backend": backend, "rates": out,
                              "load": os.getloadavg()[0]}), flush=True)
"""


def run_one(backend: str, isa: str, rounds: int, keras_bn: bool) -> dict | None:
    """One backend under one ISA in a fresh process: its rates, or None when it failed."""
    env = isa_env(isa)
    env["KERAS_BACKEND"] = backend
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    run = subprocess.run([sys.executable, "-c", _CHILD, str(rounds), "1" if keras_bn else "0"],
                         capture_output=True, text=True, env=env)  # fmt: skip
    for line in run.stdout.splitlines():
        if line.startswith("@@result "):
            return json.loads(line.split(" ", 1)[1])
    tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
    print(f"  {backend} ({isa}) failed: {tail[0]}", flush=True)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", default="tensorflow,jax",
                   help=f"comma-separated, of {', '.join(BACKENDS)}")  # fmt: skip
    p.add_argument("--isa", default="native", help=f"comma-separated, of {', '.join(ISAS)}")
    p.add_argument("--rounds", type=int, default=3, help="timed epochs per configuration")
    p.add_argument(
        "--keras-bn",
        action="store_true",
        help="on TensorFlow, also the network with Keras' own BatchNormalization",
    )
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    isas = [i.strip() for i in args.isa.split(",") if i.strip()]
    for b in backends:
        if b not in BACKENDS:
            p.error(f"--backends: {b!r} is not one of {', '.join(BACKENDS)}")
    for i in isas:
        if i not in ISAS:
            p.error(f"--isa: {i!r} is not one of {', '.join(ISAS)}")
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for isa in isas:
        for backend in backends:
            print(f"{backend}, --isa {isa} ...", flush=True)
            got = run_one(backend, isa, args.rounds, args.keras_bn)
            if got:
                for name, rates in got["rates"].items():
                    rows.setdefault((backend, name), {})[isa] = statistics.median(rates)
                    print(f"  {name}: " + ", ".join(f"{r:.0f}" for r in rates)
                          + f" img/s (load {got['load']:.1f})", flush=True)  # fmt: skip
    print("\n| backend | BatchNormalization | " + " | ".join(f"`{i}` img/s" for i in isas) + " |")
    print("|---|---|" + "---:|" * len(isas))
    for (backend, name), by_isa in rows.items():
        cells = " | ".join(f"{by_isa[i]:.0f}" if i in by_isa else "-" for i in isas)
        print(f"| {backend} | {name} | {cells} |")
    if args.json:
        from rnpa._files import write_atomic

        record = [{"backend": b, "bn": n, **r} for (b, n), r in rows.items()]
        write_atomic(args.json, json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
