"""rnpa: pre-activation and bottleneck residual networks in Keras 3, for the course."""

from rnpa.blocks import (
    postact_basic,
    postact_bottleneck,
    preact_basic,
    preact_bottleneck,
    residual_block,
    residual_unit,
)
from rnpa.course import profile
from rnpa.data import load, load_flowers32
from rnpa.models import (
    ResNetPreAct,
    cifar_resnet,
    plain_network,
    preact_resnet,
    resnet_original,
)
from rnpa.train import RECIPES, fit, get_recipe, seed_everything

__version__ = "0.1.0"

__all__ = [
    "RECIPES",
    "ResNetPreAct",
    "cifar_resnet",
    "fit",
    "get_recipe",
    "load",
    "load_flowers32",
    "plain_network",
    "postact_basic",
    "postact_bottleneck",
    "preact_basic",
    "preact_bottleneck",
    "preact_resnet",
    "profile",
    "residual_block",
    "residual_unit",
    "resnet_original",
    "seed_everything",
    "__version__",
]
