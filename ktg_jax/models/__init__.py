"""Node models by name: ``models.create("resnet32", num_classes=100)``.

Every model maps NHWC images to a dict of named outputs,
``apply(variables, x, train=...) -> {"logits": [B, C], ...}``, with BatchNorm
statistics in the ``batch_stats`` collection. ``logits`` always; ``features``
(the embedding before the classifier, [B, D]) and ``attention`` (a spatial map,
[B, H, W]: the Attention-Transfer map of the last stage) where the model has
them — a model class lists its outputs in ``OUTPUTS``; ``outputs(name)`` reads
it. A label edge trains every output of ``LABEL_OUTPUTS`` (``label_outputs``;
default just ``logits``) with the label CE. The classifier layer is named ``fc`` (``HEAD``): a pre-trained node
re-initialises it when the class count differs.
"""

from __future__ import annotations

import functools
import re
from typing import Callable

import flax.linen as nn
import jax

from ktg_jax.models import abn
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


# Any depth/width of the two families, e.g. "resnet8" or "wrn16_3".
_PATTERNS = (
    (re.compile(r"resnet(\d+)$"), lambda d: (d - 2) % 6 == 0 and d >= 8,
     lambda d: functools.partial(CifarResNet, d)),
    (re.compile(r"wrn(\d+)_(\d+)$"), lambda d, k: (d - 4) % 6 == 0 and d >= 10
     and k >= 1, lambda d, k: functools.partial(WideResNet, d, k)),
    *abn.PATTERNS,  # abn_resnet{6n+2}, abn_resnet{6n+2}_nobypass
    # small_cnn of another width (base channels; small_cnn is 16)
    (re.compile(r"small_cnn_w(\d+)$"), lambda w: w >= 1,
     lambda w: functools.partial(SmallCNN, width=w)),
)


def names() -> list[str]:
  return sorted(REGISTRY) + ["resnet{6n+2}", "wrn{6n+4}_{k}", "small_cnn_w{k}",
                             "abn_resnet{6n+2}", "abn_resnet{6n+2}_nobypass"]


def _lookup(name: str):
  if not isinstance(name, str):
    return None
  if name in REGISTRY:
    return REGISTRY[name]
  for pattern, valid, factory in _PATTERNS:
    m = pattern.match(name)
    if m and valid(*map(int, m.groups())):
      return factory(*map(int, m.groups()))
  return None


def exists(name: str) -> bool:
  return _lookup(name) is not None


HEAD = "fc"


def outputs(name: str) -> tuple[str, ...]:
  """The named outputs model ``name`` returns (``("logits",)`` if undeclared)."""
  factory = _lookup(name)
  cls = getattr(factory, "func", factory)
  return tuple(getattr(cls, "OUTPUTS", ("logits",)))


def label_outputs(name: str) -> tuple[str, ...]:
  """The outputs trained on the label of a label edge (``LABEL_OUTPUTS``,
  default ``("logits",)``): ABN adds ``attention_logits`` (ABN eq 1)."""
  factory = _lookup(name)
  cls = getattr(factory, "func", factory)
  return tuple(getattr(cls, "LABEL_OUTPUTS", ("logits",)))


def create(name: str, num_classes: int,
           module_name: str | None = None) -> nn.Module:
  """Model ``name``; ``module_name``: its flax name as a submodule."""
  factory = _lookup(name)
  if factory is None:
    raise ValueError(f"model={name!r} is unknown; allowed: {names()}")
  if module_name is not None:
    return factory(num_classes=num_classes, name=module_name)
  return factory(num_classes=num_classes)


def init(module: nn.Module, rng, images, **kwargs) -> dict:
  """``module.init(rng, images, train=False, **kwargs)`` as ONE compiled
  program, bit for bit the variables of flax's op-by-op eager init
  (tests/test_models.py). ``Program.init`` does NOT use it (issue 28 item 3):
  measured 2026-12-03 on the 2-core CPU at load ~11, ResNet-32 + WRN-28-2 at
  batch 64 took 28-30 s this way, 30 s as ``jax.jit(program.init)`` and
  21-22 s eager (eager reuses its per-op executables across modules and
  shapes, a whole-init program compiles every time); tests/test_step.py ran
  142 s with it in ``Program.init`` against 103 s without.

  Bit for bit: XLA's algebraic simplifier would fold the two constant
  factors of a normal initialiser (``sqrt(2) * erf_inv(u) * stddev``) into
  one and round once where eager rounds twice (1 ulp on ~1/3 of the conv
  weights), so this program is compiled without that pass (``NO_ALGSIMP``);
  ``jax.jit(program.init)`` is therefore NOT bit-identical to eager init.
  Compiled programs are cached by the module's repr (its architecture) and
  the shapes. Under an enclosing trace (``jax.jit`` / ``jax.vmap``) it is
  plain ``module.init``.

  >>> import jax.numpy as jnp
  >>> m = create("small_cnn", 3)
  >>> v = init(m, jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))
  >>> v["params"]["fc"]["kernel"].shape
  (32, 3)
  """
  kw = {"train": False, **kwargs}
  if any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(
      (rng, images, kwargs))):
    return module.init(rng, images, **kw)
  rng, images = jax.numpy.asarray(rng), jax.numpy.asarray(images)
  key = (type(module), repr(module), tuple(sorted(kw.items())),
         rng.shape, str(rng.dtype), images.shape, str(images.dtype))
  compiled = _COMPILED_INITS.get(key)
  if compiled is None:
    compiled = jax.jit(functools.partial(module.init, **kw)).lower(
        rng, images).compile(compiler_options=NO_ALGSIMP)
    if len(_COMPILED_INITS) >= 64:
      _COMPILED_INITS.pop(next(iter(_COMPILED_INITS)))
    _COMPILED_INITS[key] = compiled
  return compiled(rng, images)


NO_ALGSIMP = {"xla_disable_hlo_passes": "algsimp"}
_COMPILED_INITS: dict = {}  # (module, kwargs, shapes) -> compiled init
