"""Time TensorFlow's fused BatchNormalization (training mode) alone, per instruction set.

The seed network's 16 BatchNormalization layers normalise 128 x 16 x 16 x 128 and
128 x 16 x 16 x 32 activations (batch 128). This times, in a ``tf.function``, the
forward pass alone and forward + backward of ``tf.compat.v1.nn.fused_batch_norm``
(which oneDNN runs as ``bnorm_tbb_jit``), next to a 1x1 convolution of the same
input for scale, and the same normalisation from separate operations
(``tf.nn.moments`` then a multiply-add: Keras' own layer's way). Medians of
``--reps`` calls, milliseconds.

    python bench/bn_forward.py --isa native,avx2     # one process per ISA
"""

from __future__ import annotations

import os
import subprocess
import sys

from _isa import apply_isa, isa_env, isa_from_argv

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if __name__ == "__main__":
    _ISAS = isa_from_argv(sys.argv[1:])
    if len(_ISAS) > 1:
        for _isa in _ISAS:
            argv = sys.argv[1:]
            rest = [a for i, a in enumerate(argv) if "--isa" not in (a, argv[i - 1] if i else "")]
            print(f"--isa {_isa}", flush=True)
            subprocess.run([sys.executable, __file__, *rest, "--isa", _isa], env=isa_env(_isa))
        sys.exit(0)
    apply_isa(_ISAS[0])

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--isa", default="native")
    p.add_argument("--reps", type=int, default=20)
    args = p.parse_args()
    import tensorflow as tf

    def timed(fn, *xs) -> float:
        fn(*xs)  # trace
        out = []
        for _ in range(args.reps):
            t = time.perf_counter()
            fn(*xs)
            out.append(time.perf_counter() - t)
        return statistics.median(out) * 1000

    def fused_fwd(x, gamma, beta):
        return tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, is_training=True)[0]

    def fused_fwd_bwd(x, gamma, beta):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, is_training=True)[0]
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, x)

    def moments_fwd(x, gamma, beta):
        mean, var = tf.nn.moments(x, axes=[0, 1, 2])
        return tf.nn.batch_normalization(x, mean, var, beta, gamma, 1e-3)

    def moments_fwd_bwd(x, gamma, beta):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(moments_fwd(x, gamma, beta) ** 2)
        return tape.gradient(loss, x)

    def conv1x1(x, w):
        return tf.nn.conv2d(x, w, 1, "SAME")

    for c in (128, 32):
        x = tf.random.normal((128, 16, 16, c))
        gb = (tf.ones((c,)), tf.zeros((c,)))
        w = tf.random.normal((1, 1, c, c))
        res = {
            "fused BN forward": timed(tf.function(fused_fwd), x, *gb),
            "fused BN forward+backward": timed(tf.function(fused_fwd_bwd), x, *gb),
            "moments + multiply-add forward": timed(tf.function(moments_fwd), x, *gb),
            "the same forward+backward": timed(tf.function(moments_fwd_bwd), x, *gb),
            "the same, XLA, forward+backward": timed(
                tf.function(moments_fwd_bwd, jit_compile=True), x, *gb
            ),
            f"1x1 conv {c}->{c} forward": timed(tf.function(conv1x1), x, w),
        }
        print(f"  128x16x16x{c}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in res.items()))
    print(f"  load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
