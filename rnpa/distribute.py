"""Devices: the ``tf.distribute`` strategy, the precision policy, and the workers of a cluster.

:func:`rnpa.train.fit` asks this module which strategy and dtype policy to train
under, rebuilds the network under them (:func:`rebuild`), and, with several
machines, which worker it is (:func:`worker_role`). TensorFlow and Keras are
imported when a function runs (the command line lists :data:`STRATEGIES` at once).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

from rnpa._checks import check_choice
from rnpa.recipes import PRECISIONS

STRATEGIES = ("auto", "default", "mirrored", "tpu", "multiworker")


def resolve_precision(precision: str = "auto") -> str:
    """The Keras dtype policy name for ``precision`` on this machine."""
    check_choice(precision, "precision", PRECISIONS)
    import tensorflow as tf

    if precision == "mixed_bfloat16" and not tf.config.list_logical_devices("GPU"):
        _check_cpu_bfloat16()
    if precision != "auto":
        return precision
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    # not bfloat16 on a CPU, even one with AMX: for this small network the casts
    # cost more than the bf16 matrix units save (bench/README.md: 564 vs 688 img/s)
    return "float32"


def _check_cpu_bfloat16() -> None:
    """Refuse ``mixed_bfloat16`` on an x86 CPU whose oneDNN runs below AVX-512.

    There TensorFlow's oneDNN has no bfloat16 convolution: the first training step
    fails with "could not create a primitive descriptor for the convolution"
    (seen with ``ONEDNN_MAX_CPU_ISA=AVX2``, ``bench/README.md``).
    """
    from rnpa.layers import x86_below_avx512

    if x86_below_avx512():
        raise ValueError(
            "precision 'mixed_bfloat16' needs a GPU or a CPU with AVX-512 (TensorFlow's "
            "oneDNN has no bfloat16 convolution on this one); use 'float32' or 'auto'"
        )


def get_strategy(strategy: Any = "auto") -> Any:
    """Return a ``tf.distribute`` strategy.

    Parameters
    ----------
    strategy : str or tf.distribute.Strategy
        ``"auto"``: a TPU if one is attached (Colab, Cloud), MirroredStrategy
        with several GPUs, else the default strategy; ``"default"``: one device;
        ``"mirrored"``: MirroredStrategy over every GPU, or over the logical CPUs
        when there is no GPU; ``"tpu"``: TPUStrategy (raises without a TPU);
        ``"multiworker"``: MultiWorkerMirroredStrategy over the machines that the
        ``TF_CONFIG`` environment variable names (one process per machine, each
        started with its own ``task``; without ``TF_CONFIG``, this machine alone);
        a strategy object is returned as it is.

    Notes
    -----
    TensorFlow wants MultiWorkerMirroredStrategy created early, before other
    TensorFlow work: call ``get_strategy("multiworker")`` at the top of the
    program and pass the object to :func:`fit`.
    """
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ValueError(
            f"strategy must be one of {', '.join(map(repr, STRATEGIES))} or a "
            f"tf.distribute.Strategy; got {strategy!r}"
        )
    if strategy in ("auto", "tpu"):
        tpu = None
        if strategy == "tpu" or os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
            try:
                resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
                tf.config.experimental_connect_to_cluster(resolver)
                tf.tpu.experimental.initialize_tpu_system(resolver)
                tpu = tf.distribute.TPUStrategy(resolver)
            except (ValueError, RuntimeError, tf.errors.NotFoundError) as err:
                if strategy == "tpu":
                    raise ValueError(f"strategy='tpu' but no TPU was found ({err})") from None
        if tpu is not None:
            return tpu
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if strategy == "multiworker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as err:  # "Collective ops must be configured at program startup"
            raise RuntimeError(
                f"strategy='multiworker' must be created before other TensorFlow work ({err}): "
                "call rnpa.train.get_strategy('multiworker') at the top of the program and "
                "pass the strategy object to fit"
            ) from err
    if strategy == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def rebuild(model: keras.Model, strategy: Any, policy: str) -> keras.Model:
    """Clone ``model`` with its weights under ``strategy`` and dtype ``policy``.

    The output layer stays float32 (softmax and loss in full precision).
    """
    import keras

    output_layers = {t._keras_history[0].name for t in model.outputs}  # noqa: SLF001

    def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if "dtype" in config and not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = "float32" if layer.name in output_layers else policy
        return layer.__class__.from_config(config)

    with strategy.scope():
        clone = keras.models.clone_model(model, clone_function=clone_layer)
        clone.set_weights(model.get_weights())
    return clone


def worker_role(strategy: Any) -> tuple[int, bool, str]:
    """``(workers, is_chief, task)`` of this process under ``strategy``.

    One worker, chief, ``""`` for everything but a MultiWorkerMirroredStrategy
    over several machines. Its chief is the ``chief`` task of ``TF_CONFIG``, or
    worker 0 when there is none (TensorFlow's rule); ``task`` is e.g. ``"worker1"``.
    """
    import tensorflow as tf

    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1, True, ""
    jobs = resolver.cluster_spec().as_dict()
    workers = sum(len(jobs.get(job, [])) for job in ("chief", "worker"))
    if workers <= 1:
        return 1, True, ""
    task = f"{resolver.task_type}{resolver.task_id}"
    return workers, bool(strategy.extended.should_checkpoint), task


class KerasMultiWorkerFixes:
    """Work around Keras 3's TensorFlow trainer under MultiWorkerMirroredStrategy.

    Keras 3.15's ``fit`` fails with several workers (keras-team/keras#20585):
    (1) before the first step it reduces a whole ``(x, y)`` batch across workers
    only to learn its shapes (``_maybe_symbolic_build``), which
    ``strategy.reduce`` cannot do for a tuple; (2) it averages each step's
    scalar logs with ``strategy.reduce("MEAN", v, axis=0)``, and a scalar has
    no axis 0. While active, the model learns the shapes from this worker's
    part of the batch, and scalar logs are averaged over the replicas
    (``axis=None``). TensorFlow still does all the distributed work.
    """

    def __init__(self, model: keras.Model, strategy: Any) -> None:
        self.model, self.strategy = model, strategy

    def _build(self, iterator: Any = None, data_batch: Any = None) -> None:
        import tensorflow as tf
        from keras import tree

        if iterator is not None:
            for _, _, it in iterator:
                data_batch = next(it)
                break

        def local(v: Any) -> Any:
            if isinstance(v, tf.distribute.DistributedValues):
                return self.strategy.experimental_local_results(v)[0]
            return v

        with self.strategy.scope():
            self.model._symbolic_build(data_batch=tree.map_structure(local, data_batch))  # noqa: SLF001

    def __enter__(self) -> KerasMultiWorkerFixes:
        from keras import tree
        from keras.src.backend.tensorflow import trainer

        self._module, self._reduce = trainer, trainer.reduce_per_replica
        strategy, original = self.strategy, self._reduce

        def reduce_per_replica(values: Any, strategy_: Any, reduction: str = "auto") -> Any:
            if strategy_ is strategy and reduction in ("auto", "mean"):
                return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
            return original(values, strategy_, reduction)

        trainer.reduce_per_replica = reduce_per_replica
        self.model._maybe_symbolic_build = self._build  # noqa: SLF001
        return self

    def __exit__(self, *exc: Any) -> None:
        self._module.reduce_per_replica = self._reduce
        del self.model._maybe_symbolic_build  # noqa: SLF001


def average_over_workers(model: keras.Model, strategy: Any) -> None:
    """Set the non-trainable weights (BN moving statistics) to their mean over the workers.

    The trainable weights are the same on every worker (the gradients are
    averaged), but each worker's BatchNormalization layers average the
    statistics of its own images; after this, every worker holds the same model.
    """
    import tensorflow as tf

    variables = list(model.non_trainable_weights)
    if not variables:
        return
    values = [tf.convert_to_tensor(v) for v in variables]

    @tf.function
    def mean() -> Any:
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("MEAN", values))

    for variable, value in zip(variables, mean(), strict=True):
        variable.assign(strategy.experimental_local_results(value)[0])


__all__ = [
    "STRATEGIES",
    "get_strategy",
    "rebuild",
    "resolve_precision",
    "worker_role",
]
