"""Layers of rnpa's own: Keras' BatchNormalization on TensorFlow's fused kernel.

Keras 3 computes batch normalisation from separate operations (``moments``, then
``(x - mean) * rsqrt(var + eps) * gamma + beta``): on a CPU each is one more pass
over the activations, forwards and backwards. TensorFlow has one fused kernel for
the whole of it, ``FusedBatchNormV3`` (oneDNN on x86 CPUs, cuDNN on GPUs), with
its own fused gradient. :class:`BatchNormalization` is Keras' layer with its call
routed through that kernel: the same weights, configuration and arithmetic, so
parameter counts, layer names, saved weights and the course's tables stay as they
are. Measured on a 2-core AVX-512 CPU (``bench/README.md``), it trains the seed
network about 1.6-1.8x faster than Keras' own layer.

The moving statistics are updated exactly as Keras does it (the biased batch
variance, ``moving = moving * momentum + batch * (1 - momentum)``), not with the
kernel's own Bessel-corrected update, so a model trained with either layer has the
same meaning. Anything the fused kernel does not cover (another backend, inputs
that are not 4-D with channels last, masks, batch renormalisation, synchronised
statistics across replicas) falls back to Keras' implementation.

One difference shows with NaN inputs: in a compiled training step TensorFlow's
graph optimiser fuses each fused-BN-then-ReLU pair into one kernel, whose ReLU
turns NaN into 0, so NaN *pixels* need not reach the loss (with Keras' layer they
do). Diverged weights still make the loss NaN (the classifier is not behind such
a pair), which is what ``rnpa.train.fit``'s NaN stop watches for; rnpa's loaders
never produce NaN pixels.

**Below AVX-512 the fused kernel's forward is slow.** Where oneDNN runs with
AVX2 only (an AMD EPYC or Ryzen, many laptops; or ``ONEDNN_MAX_CPU_ISA=AVX2``),
its batch-normalisation forward took 56% of oneDNN's time in a training step,
15x its AVX-512 time, and training with it was no faster than with Keras'
layer (``bench/README.md``, 2026-12-01). There (:func:`forward_kind`
``"auto"``) the training-mode forward pass is computed from ``tf.nn.moments``
and one multiply-add, and the gradient still comes from the fused gradient
kernel (``FusedBatchNormGradV3``), which is not the slow part; the NaN remark
above does not apply there. Inference keeps the fused kernel, which is as
fast as the multiply-add on AVX2 and faster on AVX-512.
:data:`FORWARD` (or ``RNPA_BN_FORWARD``) chooses by hand.
"""

from __future__ import annotations

import os
from typing import Any

import keras

_FUSED_INPUT_DTYPES = ("float32", "float16", "bfloat16")

#: how the training-mode forward pass is computed: ``"fused"`` (TensorFlow's fused
#: kernel), ``"separate"`` (``tf.nn.moments`` and a multiply-add, with the fused
#: kernel's gradient) or ``"auto"`` (:func:`forward_kind` decides per CPU).
#: Read when a model is traced; the environment variable ``RNPA_BN_FORWARD`` sets
#: it at import.
FORWARD = os.environ.get("RNPA_BN_FORWARD", "auto")
FORWARDS = ("auto", "fused", "separate")

# oneDNN's ONEDNN_MAX_CPU_ISA values below AVX-512 (oneDNN's documented names)
_BELOW_AVX512 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2")


def onednn_avx512(environ: Any = None, cpu_features: Any = None) -> bool:
    """Whether oneDNN's kernels run with AVX-512 here (x86 CPU with AVX-512 and no lower cap).

    The CPU's features come from NumPy's dispatch table (``AVX512_SKX``: the
    AVX-512 subsets oneDNN's ``avx512_core`` needs), the cap from
    ``ONEDNN_MAX_CPU_ISA``; ``environ`` and ``cpu_features`` replace them in tests.
    """
    environ = os.environ if environ is None else environ
    if cpu_features is None:
        import numpy as np

        core = getattr(np, "_core", None) or np.core
        cpu_features = core._multiarray_umath.__cpu_features__
    cap = environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return bool(cpu_features.get("AVX512_SKX")) and cap not in _BELOW_AVX512


def x86_below_avx512() -> bool:
    """Whether this is an x86 CPU whose oneDNN runs below AVX-512 (:func:`onednn_avx512`)."""
    import platform

    x86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
    return x86 and not onednn_avx512()


def forward_kind(choice: str | None = None) -> str:
    """``"fused"`` or ``"separate"``: how the layer's training-mode forward pass runs.

    ``choice`` (default :data:`FORWARD`) ``"auto"`` picks the faster one
    measured per CPU kind (``bench/README.md``, 2026-12-01): ``"separate"`` on an
    x86 CPU where oneDNN runs below AVX-512 and no GPU is visible, ``"fused"``
    everywhere else (AVX-512 CPUs, GPUs with cuDNN, other CPUs: not measured).
    """
    choice = FORWARD if choice is None else choice
    if choice not in FORWARDS:
        raise ValueError(
            f"rnpa.layers.FORWARD (or RNPA_BN_FORWARD) must be one of "
            f"{', '.join(FORWARDS)}, got {choice!r}"
        )
    if choice != "auto":
        return choice
    import tensorflow as tf

    if x86_below_avx512() and not tf.config.list_logical_devices("GPU"):
        return "separate"
    return "fused"


def _separate_forward(x: Any, gamma: Any, beta: Any, epsilon: float) -> tuple[Any, Any, Any]:
    """Training-mode batch normalisation of NHWC float32 ``x``: ``(y, mean, variance)``.

    The forward pass from ``tf.nn.moments`` and one multiply-add (the biased
    variance, as Keras); the gradient from TensorFlow's fused gradient kernel,
    which takes the batch mean and biased variance as its reserve spaces on a CPU
    and includes the path through the batch statistics (checked against Keras'
    autodiff in ``tests/test_layers.py``), so the statistics get no gradient of
    their own.
    """
    import tensorflow as tf

    mean, variance = tf.nn.moments(x, axes=[0, 1, 2])

    @tf.custom_gradient
    def normalise(x: Any, gamma: Any, beta: Any, mean: Any, variance: Any) -> Any:
        scale = gamma * tf.math.rsqrt(variance + epsilon)
        y = x * scale + (beta - mean * scale)

        def grad(dy: Any) -> tuple[Any, ...]:
            dx, dgamma, dbeta, *_ = tf.raw_ops.FusedBatchNormGradV3(
                y_backprop=dy, x=x, scale=gamma, reserve_space_1=mean,
                reserve_space_2=variance, reserve_space_3=tf.zeros([0]),
                epsilon=epsilon, data_format="NHWC", is_training=True,
            )  # fmt: skip
            return dx, dgamma, dbeta, None, None

        return y, grad

    return normalise(x, gamma, beta, mean, variance), mean, variance


@keras.saving.register_keras_serializable(package="rnpa")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by TensorFlow's fused kernel.

    The fused kernel is used on the TensorFlow backend only: on JAX or PyTorch
    every call is Keras' own (``tests/test_backends.py`` checks it on JAX).
    Takes the same arguments as Keras' layer and keeps its class name, so a
    model summary reads the same. A model saved as it is names it
    ``rnpa>BatchNormalization`` (load it after ``import rnpa``);
    :func:`portable` gives the same model with Keras' own layer, which loads
    anywhere, and :func:`fused` turns it back.
    """

    def _fused_applies(self, inputs: Any, mask: Any) -> bool:
        axis = self.axis if isinstance(self.axis, int) else None
        return (
            # TensorFlow's kernel: on another backend Keras' own computation, always
            keras.backend.backend() == "tensorflow"
            # the kernel keeps float32 statistics and takes float32/16/bf16 inputs:
            # a pure float16, bfloat16 or float64 policy is left to Keras
            and self.variable_dtype == "float32"
            and keras.backend.standardize_dtype(inputs.dtype) in _FUSED_INPUT_DTYPES
            and mask is None
            and not getattr(self, "renorm", False)  # Keras < 3.14 has no renorm
            and not getattr(self, "synchronized", False)
            and len(inputs.shape) == 4
            and axis in (-1, 3)
        )

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        """Normalise ``inputs`` (fused kernel where it applies, else Keras' own)."""
        if not self._fused_applies(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)  # as Keras: statistics in float32
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        if training and self.trainable:
            if forward_kind() == "separate":
                y, mean, variance = _separate_forward(x, gamma, beta, self.epsilon)
            else:
                y, mean, var_unbiased, *_ = tf.compat.v1.nn.fused_batch_norm(
                    x, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
                )
                # the kernel returns the Bessel-corrected variance; Keras keeps the biased one
                n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
                variance = var_unbiased * tf.maximum(n - 1.0, 1.0) / tf.maximum(n, 1.0)
            momentum = self.momentum
            self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(
                self.moving_variance * momentum + variance * (1.0 - momentum)
            )
        else:  # inference: the fused kernel, as fast as a multiply-add on AVX2 (bench/README.md)
            y, *_ = tf.compat.v1.nn.fused_batch_norm(
                x,
                gamma,
                beta,
                mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32),
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
        return tf.cast(y, self.compute_dtype)


def _swap_batchnorm(model: keras.Model, to: type) -> keras.Model:
    """A copy of ``model`` with every BatchNormalization of another class made ``to``."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.BatchNormalization) and type(layer) is not to:
            return to.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def portable(model: keras.Model) -> keras.Model:
    """The same network with Keras' own BatchNormalization: it loads without rnpa.

    Same layers, names, weights and predictions; only the class of the
    normalisation layers differs, so a ``.keras`` file saved from it loads with
    plain ``keras.models.load_model``. ``rnpa.train.fit`` saves its models so.
    """
    return _swap_batchnorm(model, keras.layers.BatchNormalization)


def fused(model: keras.Model) -> keras.Model:
    """The same network with rnpa's fused BatchNormalization (faster training on a CPU).

    The inverse of :func:`portable`, e.g. to train a loaded ``best.keras`` further.
    """
    return _swap_batchnorm(model, BatchNormalization)
