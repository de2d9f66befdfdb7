"""Restrict TensorFlow's and PyTorch's CPU kernels to an instruction set (``--isa``).

Standard library only: the variables must be set before TensorFlow or PyTorch is
imported (oneDNN and ATen read them once, when they load), so a script calls
:func:`apply_isa` before its first ``import tensorflow``, or runs each ISA in a
subprocess with :func:`isa_env`.

* ``ONEDNN_MAX_CPU_ISA`` caps oneDNN, which TensorFlow (``TF_ENABLE_ONEDNN_OPTS``,
  on by default on x86 Linux) and PyTorch (``mkldnn``) both use for convolutions;
* ``ATEN_CPU_CAPABILITY`` caps PyTorch's own vectorised kernels (BatchNorm,
  ReLU, additions, the optimizer).

TensorFlow's Eigen kernels are compiled for one instruction set in the wheel and
do not change with either variable. :func:`probe` runs a convolution forward and
backward in a subprocess with ``ONEDNN_VERBOSE=1`` and reports the kernel names
that really ran (``brgconv_1x1:avx2``, ``jit_1x1:avx512_core``, ...).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys

#: --isa choices: the environment each one sets (``None``: the variable is removed)
ISAS: dict[str, dict[str, str | None]] = {
    "native": {"ONEDNN_MAX_CPU_ISA": None, "ATEN_CPU_CAPABILITY": None},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
    "avx512": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "ATEN_CPU_CAPABILITY": "avx512"},
}

_TF_PROBE = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
x = tf.random.normal((8, 16, 16, 128))
w1, w3 = tf.random.normal((1, 1, 128, 32)), tf.random.normal((3, 3, 32, 32))
with tf.GradientTape() as t:
    t.watch([x, w1, w3])
    y = tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME")), w3, 1, "SAME")
    loss = tf.reduce_sum(y)
t.gradient(loss, [x, w1, w3])
"""

_TORCH_PROBE = """
import torch
cl = torch.channels_last
x = torch.randn(8, 128, 16, 16).to(memory_format=cl).requires_grad_()
net = torch.nn.Sequential(torch.nn.Conv2d(128, 32, 1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
                          torch.nn.Conv2d(32, 32, 3, padding=1)).to(memory_format=cl)
net(x).sum().backward()
print("aten_cpu_capability", torch.backends.cpu.get_cpu_capability())
"""


def isa_env(isa: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) with ``isa``'s variables set.

    Raises
    ------
    ValueError
        For an ``isa`` not in :data:`ISAS`.
    """
    if isa not in ISAS:
        raise ValueError(f"isa must be one of {', '.join(ISAS)}, got {isa!r}")
    env = dict(os.environ if base is None else base)
    for key, value in ISAS[isa].items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def apply_isa(isa: str) -> None:
    """Set ``isa``'s variables in this process (before TensorFlow/PyTorch load).

    Raises
    ------
    RuntimeError
        If TensorFlow or PyTorch is already imported (the setting would not apply).
    """
    loaded = [m for m in ("tensorflow", "torch") if m in sys.modules]
    if loaded:
        raise RuntimeError(f"--isa must be applied before importing {', '.join(loaded)}")
    env = isa_env(isa)
    for key in ISAS[isa]:
        if key in env:
            os.environ[key] = env[key]
        else:
            os.environ.pop(key, None)


def isa_from_argv(argv: list[str]) -> list[str]:
    """The ``--isa`` values in ``argv`` (comma-separated or repeated), default ``["native"]``."""
    out: list[str] = []
    for i, a in enumerate(argv):
        if a == "--isa" and i + 1 < len(argv):
            out += argv[i + 1].split(",")
        elif a.startswith("--isa="):
            out += a.split("=", 1)[1].split(",")
    out = [s.strip().lower() for s in out if s.strip()] or ["native"]
    for s in out:
        if s not in ISAS:
            raise SystemExit(f"--isa must be one of {', '.join(ISAS)} (comma-separated), got {s!r}")
    return out


def _kernels(stdout: str) -> tuple[str, list[str]]:
    """oneDNN's CPU ISA line and the distinct (primitive, implementation) that executed."""
    isa_line, seen = "", collections.Counter()
    for line in stdout.splitlines():
        parts = line.split(",")
        if line.startswith("onednn_verbose") and ",info,cpu,isa:" in line:
            isa_line = line.split("isa:", 1)[1].strip()
        elif len(parts) > 6 and parts[2] == "primitive" and parts[3] == "exec":
            if parts[5] != "reorder":
                seen[f"{parts[5]} {parts[6]} ({parts[7]})"] += 1
    return isa_line, sorted(seen)


def probe(isa: str, torch_too: bool = True) -> str:
    """What ran under ``isa``: oneDNN's ISA and kernel names for TF (and PyTorch).

    Runs a small convolution forward and backward in a subprocess with
    ``ONEDNN_VERBOSE=1``; returns a few lines for a report.
    """
    env = isa_env(isa)
    env["ONEDNN_VERBOSE"] = "1"
    lines = [f"--isa {isa}: " + (", ".join(f"{k}={env.get(k, '(unset)')}" for k in ISAS[isa]))]
    frameworks = [("tensorflow", _TF_PROBE)] + ([("torch", _TORCH_PROBE)] if torch_too else [])
    for name, code in frameworks:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode:
            tail = (done.stderr.strip().splitlines() or ["?"])[-1]
            lines.append(f"  {name}: probe failed ({tail})")
            continue
        isa_line, kernels = _kernels(done.stdout)
        cap = [ln.split()[-1] for ln in done.stdout.splitlines() if ln.startswith("aten_cpu")]
        extra = f"; ATen capability {cap[0]}" if cap else ""
        lines.append(f"  {name}: oneDNN isa {isa_line or '?'}{extra}")
        lines += [f"    {k}" for k in kernels]
    return "\n".join(lines)


if __name__ == "__main__":  # python bench/_isa.py avx2 native
    for a in sys.argv[1:] or ["native", "avx2"]:
        print(probe(a))
