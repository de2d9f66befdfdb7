"""Where a training step of the seed network goes: TF ops and oneDNN primitives, summed.

Trains the seed network (``ResNetPreAct()``, rnpa's BatchNormalization, whose
forward pass ``RNPA_BN_FORWARD`` chooses, unless ``--keras-bn``) with the
``default`` recipe's optimizer on cached random batches, like ``step_rate.py``;
after a warm-up, ``--steps`` steps run under TensorFlow's profiler. Two
summaries, both in milliseconds per step:

* the TF ops that ran (the profiler's host threads, summed over the threads),
  by op type, each marked ``oneDNN`` (``_Mkl*`` ops: TensorFlow's oneDNN
  kernels) or ``Eigen/TF`` (TensorFlow's own kernels);
* with ``--onednn``, the oneDNN primitives (``ONEDNN_VERBOSE=profile_exec`` in a
  subprocess) by kind, implementation, direction and kernel size: which
  convolutions' forward or backward passes cost what, and which kernels
  (``brgconv_1x1:avx2``, ``jit:avx512_core``, ...) ran.

    python bench/profile_step.py --isa avx2 --onednn
    python bench/profile_step.py --isa native --keras-bn --steps 20
    python bench/profile_step.py --isa avx2 --remapper-off --threads 1 2

``--isa`` is that of ``throughput.py`` (``bench/_isa.py``), set before TensorFlow loads.
"""

from __future__ import annotations

import os
import sys

from _isa import ISAS, apply_isa, isa_from_argv

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if __name__ == "__main__":
    apply_isa(isa_from_argv(sys.argv[1:])[-1])

import argparse  # noqa: E402
import collections  # noqa: E402
import glob  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

_START, _STOP = "@@profile start", "@@profile stop"


def op_summary(logdir: str, steps: int) -> list[tuple[str, str, float, int]]:
    """(op type, kernel family, ms per step, calls per step) from the profiler's trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
    if not files:
        raise RuntimeError(f"no profile written under {logdir}")
    space = xplane_pb2.XSpace()
    with open(files[0], "rb") as f:
        space.ParseFromString(f.read())
    total: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for ev in line.events:
                name = names.get(ev.metadata_id, "")
                # executor op events are "op name:op type"; skip python and runtime events
                if ":" not in name or "::" in name or name.startswith(("$", "Iterator")):
                    continue
                op_type = name.rsplit(":", 1)[1]
                if not re.fullmatch(r"_?[A-Z][A-Za-z0-9_]*", op_type):
                    continue
                total[op_type] += ev.duration_ps / 1e9  # ms
                calls[op_type] += 1
    rows = []
    for op, ms in total.most_common():
        family = "oneDNN" if op.startswith("_Mkl") else "Eigen/TF"
        rows.append((op, family, ms / steps, round(calls[op] / steps)))
    return rows


def _kernel(desc: str) -> str:
    m = re.search(r"kh(\d+)", desc)
    k = m.group(1) if m else "?"
    return f"{k}x{k}" if m else ""


def onednn_summary(stdout: str, steps: int) -> list[tuple[str, float, int]]:
    """(primitive, ms per step, calls per step) from ``ONEDNN_VERBOSE=profile_exec`` lines
    between the start and stop markers."""
    on, total, calls = False, collections.Counter(), collections.Counter()
    for line in stdout.splitlines():
        if line.startswith(_START):
            on = True
        elif line.startswith(_STOP):
            on = False
        elif on and line.startswith("onednn_verbose") and ",primitive,exec," in line:
            parts = line.split(",")
            # onednn_verbose,v1,primitive,exec,cpu,KIND,IMPL,PROP,MDS,ATTR,AUX,DESC,TIME
            kind, impl, prop, desc = parts[5], parts[6], parts[7], parts[-2]
            key = f"{kind} {_kernel(desc) if kind == 'convolution' else ''} {prop} [{impl}]"
            total[" ".join(key.split())] += float(parts[-1])
            calls[" ".join(key.split())] += 1
    return [(k, ms / steps, round(calls[k] / steps)) for k, ms in total.most_common()]


def train_and_profile(args: argparse.Namespace) -> int:
    """Build, warm up, and run ``args.steps`` steps between the markers (and under the profiler)."""
    import keras
    import numpy as np
    import tensorflow as tf
    from _common import seed_network

    import rnpa
    from rnpa import train as rtrain

    if args.threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.threads[0])
        tf.config.threading.set_intra_op_parallelism_threads(args.threads[1])
    if args.remapper_off:
        tf.config.optimizer.set_experimental_options({"remapping": False})
    recipe = rtrain.get_recipe("default")
    model = seed_network(args.keras_bn)
    if not args.keras_bn:
        from rnpa.layers import forward_kind

        print(f"rnpa BatchNormalization forward: {forward_kind()} (rnpa.layers.forward_kind)")
    model.compile(
        optimizer=rtrain.make_optimizer(recipe, 23),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=args.jit,
    )
    rng = np.random.default_rng(0)
    bs = args.batch_size
    x = rng.random((10 * bs, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 5, 10 * bs)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(bs).cache().repeat()
    ds = ds.with_options(rnpa.data.pipeline_options())
    model.fit(ds, steps_per_epoch=5, epochs=2, verbose=0)  # trace, warm up
    logdir = tempfile.mkdtemp(prefix="rnpa_profile_")
    if not args.no_tf_profile:
        tf.profiler.experimental.start(logdir)
    print(_START, flush=True)
    t = time.perf_counter()
    model.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0)
    wall = (time.perf_counter() - t) / args.steps
    print(_STOP, flush=True)
    if not args.no_tf_profile:
        tf.profiler.experimental.stop()
    print(f"wall time per step {wall * 1000:.0f} ms ({bs / wall:.0f} img/s); "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if args.no_tf_profile:
        return 0
    rows = op_summary(logdir, args.steps)
    busy = sum(r[2] for r in rows)
    cores = os.cpu_count() or 1
    print(f"\nTF ops, ms per step summed over threads (total {busy:.0f} ms; "
          f"{busy / (wall * 1000) / cores:.0%} of {cores} cores' wall time)")  # fmt: skip
    fam: collections.Counter = collections.Counter()
    for op, family, ms, n in rows:
        fam[family] += ms
        if ms >= args.min_ms:
            print(f"  {op:<40} {family:<9} {ms:8.1f} ms  x{n}")
    print("  by family: " + ", ".join(f"{k} {v:.0f} ms ({v / busy:.0%})" for k, v in fam.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--isa", default="native", help=f"one of {', '.join(ISAS)} (bench/_isa.py)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--keras-bn", action="store_true", help="Keras' own BatchNormalization")
    p.add_argument("--jit", action="store_true", help="XLA for the whole step")
    p.add_argument("--remapper-off", action="store_true",
                   help="Grappler's remapper off (no conv+bias / BN+ReLU fusions)")  # fmt: skip
    p.add_argument("--threads", type=int, nargs=2, metavar=("INTER", "INTRA"))
    p.add_argument(
        "--onednn",
        action="store_true",
        help="also sum oneDNN's primitives (ONEDNN_VERBOSE=profile_exec, a subprocess)",
    )
    p.add_argument("--no-tf-profile", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--min-ms", type=float, default=1.0, help="show ops of at least this much")
    args = p.parse_args(argv)
    if args.onednn:
        cmd = [sys.executable, __file__, *[a for a in (argv or sys.argv[1:]) if a != "--onednn"],
               "--no-tf-profile"]  # fmt: skip
        env = dict(os.environ, ONEDNN_VERBOSE="profile_exec")
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-2000:])
            return done.returncode
        rows = onednn_summary(done.stdout, args.steps)
        tot = sum(r[1] for r in rows)
        wall = [ln for ln in done.stdout.splitlines() if ln.startswith("wall")]
        print(f"oneDNN primitives, ms per step (sum {tot:.0f} ms; {wall[0] if wall else '?'})")
        for key, ms, n in rows:
            if ms >= args.min_ms / 4:
                print(f"  {key:<70} {ms:8.1f} ms  x{n}")
        print()
    return train_and_profile(args)


if __name__ == "__main__":
    sys.exit(main())
