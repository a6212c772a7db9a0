"""CIFAR ResNet-(6n+2) of He et al. 2016, as the reference KTG code builds it.

Shortcut: option A (identity; on a stride-2 block the input is subsampled by 2
and the new channels are zero-padded) — the reference code's ``DownsampleA``.
Conv weights ~ N(0, 2 / (k*k*out_channels)) (fan-out), BN scale 1 / bias 0, the
classifier Kaiming-normal with zero bias, as there.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
dense_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def batch_norm(train: bool, name: str):
  # PyTorch's BN momentum 0.1 is flax's 0.9; eps as PyTorch's.
  return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                      epsilon=1e-5, name=name)


class BasicBlock(nn.Module):
  channels: int
  stride: int

  @nn.compact
  def __call__(self, x, train: bool):
    y = nn.Conv(self.channels, (3, 3), self.stride, padding=1, use_bias=False,
                kernel_init=conv_init, name="conv_a")(x)
    y = nn.relu(batch_norm(train, "bn_a")(y))
    y = nn.Conv(self.channels, (3, 3), 1, padding=1, use_bias=False,
                kernel_init=conv_init, name="conv_b")(y)
    y = batch_norm(train, "bn_b")(y)
    shortcut = x
    if self.stride != 1 or x.shape[-1] != self.channels:
      shortcut = x[:, ::self.stride, ::self.stride, :]
      pad = self.channels - x.shape[-1]
      shortcut = jnp.pad(shortcut, ((0, 0), (0, 0), (0, 0), (0, pad)))
    return nn.relu(shortcut + y)


class CifarResNet(nn.Module):
  """ResNet-depth for CIFAR: depth = 6n + 2 (20, 32, 44, 56, 110)."""
  depth: int
  num_classes: int
  OUTPUTS = ("logits", "features", "attention")
  widths: tuple[int, int, int] = (16, 32, 64)

  @nn.compact
  def __call__(self, x, train: bool = True):
    if (self.depth - 2) % 6:
      raise ValueError(f"depth={self.depth}: must be 6n + 2 (20, 32, 56, 110)")
    n = (self.depth - 2) // 6
    x = nn.Conv(self.widths[0], (3, 3), 1, padding=1, use_bias=False,
                kernel_init=conv_init, name="conv1")(x)
    x = nn.relu(batch_norm(train, "bn1")(x))
    for stage, width in enumerate(self.widths):
      for i in range(n):
        stride = 2 if (stage > 0 and i == 0) else 1
        x = BasicBlock(width, stride, name=f"layer{stage + 1}_{i}")(x, train)
    return head(x, self.num_classes)


def attention_map(feature_map):
  """Attention-Transfer map of a stage, ``Q = sum_c |A_c|^2`` (docs/papers.md §2, eq 2.11
  with p = 2): float[B, H, W, C] -> float[B, H, W]."""
  return jnp.sum(jnp.square(feature_map), axis=-1)


def head(feature_map, num_classes: int) -> dict:
  """Named outputs of a model from its last stage (``models`` docstring)."""
  features = jnp.mean(feature_map, axis=(1, 2))
  logits = nn.Dense(num_classes, kernel_init=dense_init, name="fc")(features)
  return {"logits": logits, "features": features,
          "attention": attention_map(feature_map)}
