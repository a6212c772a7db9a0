"""Attention Branch Network (Fukui et al., CVPR 2019) on a CIFAR ResNet-(6n+2).

The ch.4 ensemble nodes (thesis §4.4.1, paper 004) are ABNs; their attention
map is what the attention edges crop (docs/papers.md §2, ``ktg_jax.families.ensemble.attention``).

Layout, as the authors' CIFAR code (machine-perception-robotics-group/
attention_branch_network, ``models/cifar/resnet.py`` at 5e41878), with this
project's ResNet blocks (``BasicBlock``, option-A shortcut, its inits):

  feature extractor : conv3x3(16) BN ReLU, stage 1 (16), stage 2 (32, /2)
  attention branch  : stage "att" (64, n blocks, stride 1), BN,
                      conv1x1(K) BN ReLU  -> two heads:
                        logits: conv1x1(K) -> GAP            [B, K]
                        map   : conv kxk(1) BN sigmoid       [B, H, W] in (0, 1)
  attention mechanism: g'(x) = g(x) * (1 + M(x))  (ABN eq 2, residual), or
                      g(x) * M(x) when ``residual=False``
  perception branch : stage 3 (64, /2), GAP -> features [B, 64], fc -> logits

K = num_classes. Paper vs code: the paper draws the map head as a 1x1 conv;
the public code uses a 3x3 conv (``att_conv3``, padding 1) and an extra 1x1
K->K conv before the GAP of the logits head (``att_conv2``). This module
follows the code; ``map_kernel=1`` gives the paper's head. The public code uses
Bottleneck blocks from depth 44 and 1x1-conv shortcuts; here BasicBlock and
option A at every depth, as ``CifarResNet``.

Bypass: ``abn_resnet{6n+2}`` is ABN as published (``residual=True``); the
thesis' ch.4 models drop the bypass ("バイパス処理は行わない", §4.4.1, docs/papers.md
§2): ``abn_resnet{6n+2}_nobypass``. Training an ABN adds the label CE of
``attention_logits`` to that of ``logits`` (ABN eq 1): ``LABEL_OUTPUTS``, which
the step's label edges read (``models.label_outputs``).

Example:
  >>> import jax, jax.numpy as jnp
  >>> model = AbnResNet(depth=8, num_classes=10)
  >>> x = jnp.zeros((2, 16, 16, 3))
  >>> variables = model.init(jax.random.PRNGKey(0), x, train=False)
  >>> out = model.apply(variables, x, train=False)
  >>> {k: v.shape for k, v in sorted(out.items())}
  {'attention': (2, 8, 8), 'attention_logits': (2, 10), 'features': (2, 64), 'logits': (2, 10)}
"""

from __future__ import annotations

import functools
import re

import flax.linen as nn
import jax.numpy as jnp

from ktg_jax.models.resnet import BasicBlock, batch_norm, conv_init, dense_init


class AbnResNet(nn.Module):
  """ABN on a CIFAR ResNet-depth, depth = 6n + 2; returns a dict of outputs.

  ``{"logits": [B, K] perception, "attention_logits": [B, K] attention branch,
  "attention": [B, H/2, W/2] map in (0, 1), "features": [B, 64]}``.
  """
  depth: int
  num_classes: int
  residual: bool = True
  OUTPUTS = ("logits", "attention_logits", "attention", "features")
  LABEL_OUTPUTS = ("logits", "attention_logits")   # ABN eq 1: L_att + L_per
  map_kernel: int = 3
  widths: tuple[int, int, int] = (16, 32, 64)

  @nn.compact
  def __call__(self, x, train: bool = True):
    if (self.depth - 2) % 6 or self.depth < 8:
      raise ValueError(f"depth={self.depth}: must be 6n + 2 >= 8 (8, 20, 32, 56, 110)")
    if self.map_kernel not in (1, 3):
      raise ValueError(f"map_kernel={self.map_kernel}; allowed: [1, 3]")
    n = (self.depth - 2) // 6
    conv = functools.partial(nn.Conv, use_bias=False, kernel_init=conv_init)
    x = conv(self.widths[0], (3, 3), 1, padding=1, name="conv1")(x)
    x = nn.relu(batch_norm(train, "bn1")(x))
    for stage, width in enumerate(self.widths[:2]):        # feature extractor
      for i in range(n):
        stride = 2 if (stage > 0 and i == 0) else 1
        x = BasicBlock(width, stride, name=f"layer{stage + 1}_{i}")(x, train)

    a = x                                                    # attention branch
    for i in range(n):
      a = BasicBlock(self.widths[2], 1, name=f"att_layer_{i}")(a, train)
    a = batch_norm(train, "att_bn")(a)
    a = conv(self.num_classes, (1, 1), name="att_conv")(a)
    a = nn.relu(batch_norm(train, "att_bn2")(a))
    attention_logits = jnp.mean(
        conv(self.num_classes, (1, 1), name="att_logit_conv")(a), axis=(1, 2))
    k = self.map_kernel
    m = conv(1, (k, k), padding=k // 2, name="att_map_conv")(a)
    m = nn.sigmoid(batch_norm(train, "att_map_bn")(m))       # [B, H, W, 1]

    x = x * (1.0 + m) if self.residual else x * m            # attention mechanism
    for i in range(n):                                       # perception branch
      x = BasicBlock(self.widths[2], 2 if i == 0 else 1,
                     name=f"layer3_{i}")(x, train)
    features = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, kernel_init=dense_init, name="fc")(features)
    return {"logits": logits, "attention_logits": attention_logits,
            "attention": m[..., 0], "features": features}


def _valid(depth: int) -> bool:
  return (depth - 2) % 6 == 0 and depth >= 8


# (name pattern, validity, factory) rows for models/__init__._PATTERNS.
PATTERNS = (
    (re.compile(r"abn_resnet(\d+)$"), _valid,
     lambda d: functools.partial(AbnResNet, d, residual=True)),
    (re.compile(r"abn_resnet(\d+)_nobypass$"), _valid,
     lambda d: functools.partial(AbnResNet, d, residual=False)),
)
