"""Wide ResNet WRN-depth-k (Zagoruyko & Komodakis 2016), pre-activation blocks.

depth = 6n + 4 (28 -> n = 4 blocks a stage); widths 16, 16k, 32k, 64k; a 1x1
conv shortcut where the shape changes; dropout off (the KTG protocols use none).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from ktg_jax.models.resnet import batch_norm, conv_init, head


class WideBlock(nn.Module):
  channels: int
  stride: int

  @nn.compact
  def __call__(self, x, train: bool):
    pre = nn.relu(batch_norm(train, "bn_a")(x))
    y = nn.Conv(self.channels, (3, 3), self.stride, padding=1, use_bias=False,
                kernel_init=conv_init, name="conv_a")(pre)
    y = nn.relu(batch_norm(train, "bn_b")(y))
    y = nn.Conv(self.channels, (3, 3), 1, padding=1, use_bias=False,
                kernel_init=conv_init, name="conv_b")(y)
    if self.stride != 1 or x.shape[-1] != self.channels:
      x = nn.Conv(self.channels, (1, 1), self.stride, use_bias=False,
                  kernel_init=conv_init, name="shortcut")(pre)
    return x + y


class WideResNet(nn.Module):
  depth: int
  widen: int
  num_classes: int
  OUTPUTS = ("logits", "features", "attention")

  @nn.compact
  def __call__(self, x, train: bool = True):
    if (self.depth - 4) % 6:
      raise ValueError(f"depth={self.depth}: must be 6n + 4 (16, 22, 28, 40)")
    n = (self.depth - 4) // 6
    x = nn.Conv(16, (3, 3), 1, padding=1, use_bias=False,
                kernel_init=conv_init, name="conv1")(x)
    for stage, width in enumerate((16 * self.widen, 32 * self.widen,
                                   64 * self.widen)):
      for i in range(n):
        stride = 2 if (stage > 0 and i == 0) else 1
        x = WideBlock(width, stride, name=f"block{stage + 1}_{i}")(x, train)
    x = nn.relu(batch_norm(train, "bn_final")(x))
    return head(x, self.num_classes)
