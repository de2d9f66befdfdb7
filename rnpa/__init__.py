"""rnpa: pre-activation and bottleneck residual networks in Keras 3, for the course.

The public names below are imported from their modules when first used, so that
``import rnpa`` (and the command line's ``--help``) does not wait for TensorFlow,
and a notebook can quiet TensorFlow (:func:`setup_notebook`) before it loads.
"""

from __future__ import annotations

import importlib
from typing import Any

from rnpa._version import __version__

#: public name -> the module that defines it
_PUBLIC = {
    "postact_basic": "rnpa.blocks",
    "postact_bottleneck": "rnpa.blocks",
    "preact_basic": "rnpa.blocks",
    "preact_bottleneck": "rnpa.blocks",
    "residual_block": "rnpa.blocks",
    "residual_unit": "rnpa.blocks",
    "profile": "rnpa.course",
    "load": "rnpa.data",
    "load_flowers32": "rnpa.data",
    "ResNetPreAct": "rnpa.models",
    "build_model": "rnpa.models",
    "cifar_resnet": "rnpa.models",
    "plain_network": "rnpa.models",
    "preact_resnet": "rnpa.models",
    "resnet_original": "rnpa.models",
    "RECIPES": "rnpa.recipes",
    "get_recipe": "rnpa.recipes",
    "fit": "rnpa.train",
    "seed_everything": "rnpa.train",
    "setup_notebook": "rnpa.notebook",
    "notebook_parameters": "rnpa.notebook",
}
#: the modules, reachable as attributes (``rnpa.analysis``) after ``import rnpa``
_MODULES = (
    "analysis", "blocks", "callbacks", "cli", "course", "data", "datasets", "diagrams",
    "distribute", "evaluate", "exercises", "layers", "models", "notebook", "plots", "recipes",
    "run_folder", "speed", "train",
)  # fmt: skip

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"rnpa.{name}")
    else:
        raise AttributeError(f"module 'rnpa' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC) | set(_MODULES))
