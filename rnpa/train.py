"""Training: seeding (recipes and fit come with the training issue)."""

from __future__ import annotations

import keras

from rnpa.blocks import check_positive_int


def seed_everything(seed: int = 0, deterministic: bool = False) -> int:
    """Seed Python, NumPy and TensorFlow; optionally make TF ops deterministic.

    Parameters
    ----------
    seed : int
        Seed >= 0.
    deterministic : bool
        Also call ``tf.config.experimental.enable_op_determinism()`` (slower;
        two seeded runs then give identical results on the same machine).

    Returns
    -------
    int
        The seed.
    """
    seed = check_positive_int(seed, "seed", minimum=0)
    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return seed


__all__ = ["seed_everything"]
