"""Running the course: the execution profile of the notebooks."""

from __future__ import annotations

import os

#: the profiles a notebook knows: ``full`` for learners, ``quick`` for CI and a
#: fast classroom check
PROFILES = ("full", "quick")


def profile() -> str:
    """Return the notebook profile: ``RNPA_PROFILE`` from the environment, default ``full``.

    Raises
    ------
    ValueError
        If ``RNPA_PROFILE`` is set to something other than ``full`` or ``quick``.
    """
    value = os.environ.get("RNPA_PROFILE", "full").strip().lower() or "full"
    if value not in PROFILES:
        raise ValueError(
            f"RNPA_PROFILE must be one of {', '.join(PROFILES)}, got {os.environ['RNPA_PROFILE']!r}"
        )
    return value


__all__ = ["PROFILES", "profile"]
