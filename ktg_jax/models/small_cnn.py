"""A tiny conv net for fast tests and CPU demos: two conv+BN+ReLU+pool stages."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from ktg_jax.models.resnet import batch_norm, conv_init, head


class SmallCNN(nn.Module):
  num_classes: int
  width: int = 16
  OUTPUTS = ("logits", "features", "attention")

  @nn.compact
  def __call__(self, x, train: bool = True):
    for i, mult in enumerate((1, 2)):
      x = nn.Conv(self.width * mult, (3, 3), padding=1, use_bias=False,
                  kernel_init=conv_init, name=f"conv{i}")(x)
      x = nn.relu(batch_norm(train, f"bn{i}")(x))
      x = nn.avg_pool(x, (2, 2), (2, 2))
    return head(x, self.num_classes)
