"""Node models by name: ``models.create("resnet32", num_classes=100)``.

Every model maps NHWC images to logits, ``apply(variables, x, train=...)``,
with BatchNorm statistics in the ``batch_stats`` collection.
"""

from __future__ import annotations

import functools
from typing import Callable

import flax.linen as nn

from ktg_jax.models.resnet import CifarResNet
from ktg_jax.models.small_cnn import SmallCNN
from ktg_jax.models.wrn import WideResNet

REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "small_cnn": SmallCNN,
    "resnet20": functools.partial(CifarResNet, 20),
    "resnet32": functools.partial(CifarResNet, 32),
    "resnet56": functools.partial(CifarResNet, 56),
    "resnet110": functools.partial(CifarResNet, 110),
    "wrn28_1": functools.partial(WideResNet, 28, 1),
    "wrn28_2": functools.partial(WideResNet, 28, 2),
    "wrn28_4": functools.partial(WideResNet, 28, 4),
    "wrn28_6": functools.partial(WideResNet, 28, 6),
    "wrn28_10": functools.partial(WideResNet, 28, 10),
}


def register(name: str, factory: Callable[..., nn.Module]) -> None:
  """Adds a model factory ``factory(num_classes=...) -> nn.Module``."""
  REGISTRY[name] = factory


def names() -> list[str]:
  return sorted(REGISTRY)


def create(name: str, num_classes: int) -> nn.Module:
  if name not in REGISTRY:
    raise ValueError(f"model={name!r} is unknown; allowed: {names()}")
  return REGISTRY[name](num_classes=num_classes)
