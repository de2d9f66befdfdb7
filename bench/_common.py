"""What the bench scripts share (run them as ``python bench/<script>.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import keras

import rnpa


class EpochClock(keras.callbacks.Callback):
    """Seconds of every epoch, from its start to its end as ``fit`` sees them.

    The fixed cost of a ``fit`` call (callbacks, the data adapter) is left out;
    ``every`` > 0 also prints the running total and the logs every that many epochs.
    """

    def __init__(self, every: int = 0):
        super().__init__()
        self.seconds: list[float] = []
        self.every = every

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t)
        if self.every and (epoch + 1) % self.every == 0:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in (logs or {}).items())
            print(f"  epoch {epoch + 1}: {sum(self.seconds):.0f} s, {shown}", flush=True)


def seed_network(keras_bn: bool = False, policy: str = "float32", reg: float = 0.0) -> keras.Model:
    """``rnpa.ResNetPreAct(reg=reg)`` under ``policy``; with ``keras_bn``, built with
    Keras' own BatchNormalization instead of rnpa's fused one (for comparisons)."""
    from rnpa import blocks, models

    keras.mixed_precision.set_global_policy(policy)
    saved = blocks.BatchNormalization, models.BatchNormalization
    try:
        if keras_bn:
            blocks.BatchNormalization = models.BatchNormalization = keras.layers.BatchNormalization
        return rnpa.ResNetPreAct(reg=reg)
    finally:
        blocks.BatchNormalization, models.BatchNormalization = saved
        keras.mixed_precision.set_global_policy("float32")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX, Linux only)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
