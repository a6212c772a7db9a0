"""The node models of ktg_jax.models in PyTorch, as the public KTG code builds them.

Submodule names equal the Flax module names (``layer1_0.conv_a``, ``fc``) so
that ``copy_from_flax`` maps weights by path. Benchmark-only: torch is never
imported by ``ktg_jax/``.

* CIFAR ResNet-(6n+2): option-A shortcut (stride-2 subsample, zero-padded
  channels appended after the input's, the reference ``DownsampleA``).
* WRN-d-k: pre-activation blocks, 1x1 conv shortcut from the pre-activation.
* SmallCNN: two conv+BN+ReLU+avg-pool stages, global mean, linear.

BatchNorm is torch's ``BatchNorm2d(momentum=0.1, eps=1e-5)`` = flax momentum
0.9, eps 1e-5. Training-mode normalisation is the same (biased batch
variance); the *running* variance differs: torch folds in the unbiased batch
variance (x n/(n-1)), flax the biased one — see ``flax_running_var``.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def _conv(cin, cout, k=3, stride=1):
  return nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=False)


def _bn(c):
  return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)


class BasicBlock(nn.Module):
  def __init__(self, cin, cout, stride):
    super().__init__()
    self.conv_a, self.bn_a = _conv(cin, cout, 3, stride), _bn(cout)
    self.conv_b, self.bn_b = _conv(cout, cout), _bn(cout)
    self.stride, self.pad = stride, cout - cin

  def forward(self, x):
    y = F.relu(self.bn_a(self.conv_a(x)))
    y = self.bn_b(self.conv_b(y))
    shortcut = x
    if self.stride != 1 or self.pad:  # option A: subsample, zero channels
      shortcut = F.pad(x[:, :, ::self.stride, ::self.stride],
                       (0, 0, 0, 0, 0, self.pad))
    return F.relu(shortcut + y)


class CifarResNet(nn.Module):
  def __init__(self, depth, num_classes, widths=(16, 32, 64), in_channels=3):
    super().__init__()
    n = (depth - 2) // 6
    self.conv1, self.bn1 = _conv(in_channels, widths[0]), _bn(widths[0])
    cin, self.blocks = widths[0], []
    for stage, width in enumerate(widths):
      for i in range(n):
        name = f"layer{stage + 1}_{i}"
        setattr(self, name, BasicBlock(cin, width,
                                       2 if stage > 0 and i == 0 else 1))
        self.blocks.append(name)
        cin = width
    self.fc = nn.Linear(widths[-1], num_classes)

  def forward(self, x):
    x = F.relu(self.bn1(self.conv1(x)))
    for name in self.blocks:
      x = getattr(self, name)(x)
    return self.fc(x.mean((2, 3)))


class WideBlock(nn.Module):
  def __init__(self, cin, cout, stride):
    super().__init__()
    self.bn_a, self.conv_a = _bn(cin), _conv(cin, cout, 3, stride)
    self.bn_b, self.conv_b = _bn(cout), _conv(cout, cout)
    self.shortcut = (_conv(cin, cout, 1, stride)
                     if stride != 1 or cin != cout else None)

  def forward(self, x):
    pre = F.relu(self.bn_a(x))
    y = self.conv_b(F.relu(self.bn_b(self.conv_a(pre))))
    return (x if self.shortcut is None else self.shortcut(pre)) + y


class WideResNet(nn.Module):
  def __init__(self, depth, widen, num_classes, in_channels=3):
    super().__init__()
    n = (depth - 4) // 6
    self.conv1 = _conv(in_channels, 16)
    cin, self.blocks = 16, []
    for stage, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
      for i in range(n):
        name = f"block{stage + 1}_{i}"
        setattr(self, name, WideBlock(cin, width,
                                      2 if stage > 0 and i == 0 else 1))
        self.blocks.append(name)
        cin = width
    self.bn_final = _bn(cin)
    self.fc = nn.Linear(cin, num_classes)

  def forward(self, x):
    x = self.conv1(x)
    for name in self.blocks:
      x = getattr(self, name)(x)
    return self.fc(F.relu(self.bn_final(x)).mean((2, 3)))


class SmallCNN(nn.Module):
  def __init__(self, num_classes, width=16, in_channels=3):
    super().__init__()
    self.conv0, self.bn0 = _conv(in_channels, width), _bn(width)
    self.conv1, self.bn1 = _conv(width, 2 * width), _bn(2 * width)
    self.fc = nn.Linear(2 * width, num_classes)

  def forward(self, x):
    for i in range(2):
      x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
      x = F.avg_pool2d(x, 2)
    return self.fc(x.mean((2, 3)))


def create(name: str, num_classes: int, in_channels: int = 3) -> nn.Module:
  """The torch twin of ``ktg_jax.models.create(name, num_classes)``;
  ``in_channels``: of the images (flax infers it at init, torch is told)."""
  if name == "small_cnn":
    return SmallCNN(num_classes, in_channels=in_channels)
  m = re.fullmatch(r"resnet(\d+)", name)
  if m:
    return CifarResNet(int(m.group(1)), num_classes, in_channels=in_channels)
  m = re.fullmatch(r"wrn(\d+)_(\d+)", name)
  if m:
    return WideResNet(int(m.group(1)), int(m.group(2)), num_classes,
                      in_channels=in_channels)
  raise ValueError(f"model={name!r} has no torch twin; allowed: small_cnn, "
                   "resnet{6n+2}, wrn{6n+4}_{k}")


def _flat(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, dict) or hasattr(v, "items"):
      yield from _flat(v, prefix + (k,))
    else:
      yield prefix + (k,), np.asarray(v)


# flax leaf name -> (torch attribute, layout change)
_LEAF = {
    "kernel": ("weight", lambda a: a.transpose(3, 2, 0, 1) if a.ndim == 4
               else a.T),  # HWIO -> OIHW; Dense (in, out) -> (out, in)
    "bias": ("bias", lambda a: a),
    "scale": ("weight", lambda a: a),
    "mean": ("running_mean", lambda a: a),
    "var": ("running_var", lambda a: a),
}


def copy_from_flax(module: nn.Module, variables) -> nn.Module:
  """Copies Flax ``{"params", "batch_stats"}`` into ``module`` in place.

  Every torch parameter and BN buffer must be written exactly once.
  """
  tensors = dict(module.named_parameters())
  tensors.update({k: v for k, v in module.named_buffers()
                  if not k.endswith("num_batches_tracked")})
  written = set()
  for collection in ("params", "batch_stats"):
    for path, value in _flat(variables.get(collection, {})):
      attr, convert = _LEAF[path[-1]]
      key = ".".join(path[:-1] + (attr,))
      if key not in tensors:
        raise KeyError(f"flax {collection}/{'/'.join(path)} -> torch {key}: "
                       "no such tensor")
      target = tensors[key]
      value = np.array(convert(value), copy=True, order="C")  # writable
      if tuple(target.shape) != value.shape:
        raise ValueError(f"{key}: torch {tuple(target.shape)} != flax "
                         f"{value.shape}")
      with torch.no_grad():
        target.copy_(torch.from_numpy(value).to(target.dtype))
      written.add(key)
  missing = set(tensors) - written
  if missing:
    raise KeyError(f"torch tensors not written from flax: {sorted(missing)}")
  return module


def to_flax_layout(module: nn.Module) -> dict:
  """Torch parameters and BN buffers as numpy, keyed by the Flax path tuple.

  Keys are ``(collection, *flax_path)`` so that tests compare leaf by leaf.
  """
  back = {"weight": None, "bias": "bias", "running_mean": "mean",
          "running_var": "var"}
  out = {}
  named = list(module.named_parameters()) + [
      (k, v) for k, v in module.named_buffers()
      if not k.endswith("num_batches_tracked")]
  bn_names = {n for n, m in module.named_modules()
              if isinstance(m, nn.BatchNorm2d)}
  for key, tensor in named:
    *mod, attr = key.split(".")
    a = tensor.detach().cpu().numpy()
    is_bn = ".".join(mod) in bn_names
    if attr == "weight":
      leaf = "scale" if is_bn else "kernel"
      if a.ndim == 4:
        a = a.transpose(2, 3, 1, 0)
      elif a.ndim == 2:
        a = a.T
    else:
      leaf = back[attr]
    collection = "batch_stats" if attr.startswith("running") else "params"
    out[(collection, *mod, leaf)] = a
  return out


def flax_running_var(torch_running_var, batch_size_per_channel: int,
                     num_updates: int, momentum: float = 0.1):
  """Torch's running variance rewritten as flax's (biased) one.

  Both start at 1 and after k updates hold ``(1-m)^k + m sum_j (1-m)^(k-j) v_j``
  with v_j the batch variance: unbiased (x n/(n-1)) in torch, biased in flax.
  So ``flax = (1-m)^k + (torch - (1-m)^k) (n-1)/n`` exactly (n = B*H*W).
  """
  n, decay = batch_size_per_channel, (1 - momentum) ** num_updates
  return decay + (torch_running_var - decay) * (n - 1) / n
