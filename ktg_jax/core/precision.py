"""Mixed precision: a node's forward and backward in bfloat16, its variables in float32.

``compile(..., compute_dtype="bfloat16")`` wraps every node's flax module in
``Mixed``: at each ``apply`` the float32 parameters and the images are cast to
the compute dtype (the cast is differentiable, so the gradients arrive in
float32 at the float32 parameters and the optimizer updates float32 master
weights); the outputs (logits, features, attention) are cast back to float32,
so the KTG losses and gates (SPEC §1–§3), the softmaxes and the optimizer
state stay in float32. BatchNorm computes its batch statistics in float32
(flax's reductions) and keeps its running statistics in float32.

On a GPU with bf16 tensor cores (Ampere, Hopper) this is where the step's
speed lives; on a CPU it is slower (XLA:CPU has no fast bf16 convolution), so
the default stays float32 (``compute_dtype=None``).

  >>> import jax, jax.numpy as jnp
  >>> from ktg_jax import models
  >>> m = Mixed(models.create("small_cnn", 3), "bfloat16")
  >>> v = m.init(jax.random.PRNGKey(0), jnp.zeros((2, 8, 8, 1)))
  >>> str(v["params"]["fc"]["kernel"].dtype)      # variables stay float32
  'float32'
  >>> out = m.apply(v, jnp.ones((2, 8, 8, 1)), train=False)
  >>> str(out["logits"].dtype)                    # outputs come back float32
  'float32'
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

# compute_dtype names that compile() accepts (None: float32, no cast at all).
DTYPES = ("float32", "bfloat16", "float16")


def check(compute_dtype) -> str | None:
  """The canonical name of ``compute_dtype`` (None stays None)."""
  if compute_dtype is None:
    return None
  try:
    name = jnp.dtype(compute_dtype).name
  except TypeError:
    name = str(compute_dtype)
  if name not in DTYPES:
    raise ValueError(f"compute_dtype={compute_dtype!r}; allowed: None or one "
                     f"of {list(DTYPES)}")
  return name


def cast_floats(tree, dtype):
  """Every floating leaf of ``tree`` as ``dtype`` (integers untouched)."""
  return jax.tree_util.tree_map(
      lambda a: a.astype(dtype) if jnp.issubdtype(jnp.result_type(a),
                                                  jnp.floating) else a, tree)


class Mixed:
  """A flax module whose ``apply`` runs in ``compute_dtype``; ``init`` and
  every variable stay float32. Anything else is the wrapped module's."""

  def __init__(self, module, compute_dtype: str):
    self.module, self.compute_dtype = module, jnp.dtype(check(compute_dtype))

  def init(self, rng, images, *args, **kwargs):
    return self.module.init(rng, images, *args, **kwargs)

  def apply(self, variables, images, *args, mutable: Any = False, **kwargs):
    low = dict(variables)
    low["params"] = cast_floats(variables["params"], self.compute_dtype)
    out = self.module.apply(low, cast_floats(images, self.compute_dtype),
                            *args, mutable=mutable, **kwargs)
    if mutable is not False:
      out, new = out
      return cast_floats(out, jnp.float32), cast_floats(new, jnp.float32)
    return cast_floats(out, jnp.float32)

  def __getattr__(self, name):
    if name == "module":  # not set yet (copy, pickle): no recursion
      raise AttributeError(name)
    return getattr(self.module, name)

  def __repr__(self):
    return f"Mixed({self.module!r}, {self.compute_dtype.name})"


def wrap(module, compute_dtype):
  """``module`` run in ``compute_dtype`` (None / float32 / no module: as is)."""
  name = check(compute_dtype)
  if module is None or name in (None, "float32"):
    return module
  return Mixed(module, name)
