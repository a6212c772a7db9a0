"""On-device augmentation: pure ``augment(rng, images) -> images`` functions.

They run *inside* the jitted KTG step (``ktg.compile(..., augment=fn)``), so
the host only slices arrays and the input pipeline cannot starve the step.
All nodes see the same augmented batch (docs/papers.md §1: one mini-batch for all).

Example:
  >>> import jax, jax.numpy as jnp
  >>> fn = crop_flip(pad=4)
  >>> fn(jax.random.key(0), jnp.ones((2, 32, 32, 3))).shape
  (2, 32, 32, 3)
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

Augment = Callable[[jax.Array, jax.Array], jax.Array]


def random_crop(rng, images, pad: int):
  """Zero-pads by ``pad`` and crops back to size at a random offset per image."""
  n, h, w, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  offsets = jax.random.randint(rng, (n, 2), 0, 2 * pad + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                 (h, w, image.shape[-1]))
  return jax.vmap(crop)(padded, offsets)


def random_flip(rng, images):
  """Flips each image left-right with probability 1/2."""
  flip = jax.random.bernoulli(rng, 0.5, (images.shape[0], 1, 1, 1))
  return jnp.where(flip, images[:, :, ::-1], images)


def crop_flip(pad: int = 4) -> Augment:
  """Pad-``pad`` random crop + horizontal flip (docs/papers.md §5, the CIFAR protocol)."""
  def augment(rng, images):
    crop_rng, flip_rng = jax.random.split(rng)
    return random_flip(flip_rng, random_crop(crop_rng, images, pad))
  return augment


def crop(pad: int = 2) -> Augment:
  """Random crop only: clothes and digits are not mirror-symmetric classes."""
  return lambda rng, images: random_crop(rng, images, pad)


# Data set name -> its augmentation (a registry, not an if-chain).
BY_DATASET: dict[str, Callable[[], Augment]] = {
    "cifar10": lambda: crop_flip(4),
    "cifar100": lambda: crop_flip(4),
    "fashion_mnist": lambda: crop(2),
    "digits": lambda: crop(1),
}


def for_dataset(name: str) -> Augment | None:
  """The augmentation of data set ``name``; None if it has none."""
  factory = BY_DATASET.get(name)
  return factory() if factory else None
