"""Per-sample edge losses (SPEC §2), a registry by name, and batch reductions.

Every loss takes the *source* logits (already ``stop_gradient``-ed by the
caller), the *target* logits and a scalar parameter, and returns one value per
sample; gating and the batch reduction happen afterwards (SPEC §2: "per sample,
then gated, then reduced over the batch"). All work in log space through
``log_softmax``: no ``+1e-10`` in a log.

Example:
  >>> import jax.numpy as jnp
  >>> z = jnp.array([[2.0, 0.0, -1.0]])
  >>> float(kl(z, z, 1.0)[0])                     # KL(p || p) = 0
  0.0
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


def cross_entropy(labels, target_logits):
  """Label CE, ``CE(y, p_t) = KL(onehot(y) || p_t) = -log p_t[y]``.

  ``labels``: int[B]; ``target_logits``: float[..., B, C] -> float[..., B].
  """
  logp = jax.nn.log_softmax(target_logits, axis=-1)
  onehot = jax.nn.one_hot(labels, logp.shape[-1], dtype=logp.dtype)
  return -jnp.sum(onehot * logp, axis=-1)


def kl(source_logits, target_logits, param):
  """``KL(p_s || p_t) = sum_c p_s^c (log p_s^c - log p_t^c)``, T = 1 (SPEC §2)."""
  del param
  return _kl_with_temperature(source_logits, target_logits, 1.0)


def kd(source_logits, target_logits, temperature):
  """Hinton KD: ``T^2 KL(softmax(z_s / T) || softmax(z_t / T))`` (SPEC §2)."""
  return jnp.asarray(temperature) ** 2 * _kl_with_temperature(
      source_logits, target_logits, temperature)


def prob_cosine(source_logits, target_logits, param):
  """Cosine of the two probability vectors (ch.4 "Prob(-)": minimising pushes apart)."""
  del param
  p_s = jax.nn.softmax(source_logits, axis=-1)
  p_t = jax.nn.softmax(target_logits, axis=-1)
  # Probabilities are positive, so the norms are > 0: no epsilon needed.
  return jnp.sum(p_s * p_t, -1) / (
      jnp.linalg.norm(p_s, axis=-1) * jnp.linalg.norm(p_t, axis=-1))


def _kl_with_temperature(source_logits, target_logits, temperature):
  # temperature broadcasts against the per-sample shape [..., B]; add the class axis.
  temperature = jnp.asarray(temperature)[..., None]
  logp_s = jax.nn.log_softmax(source_logits / temperature, axis=-1)
  logp_t = jax.nn.log_softmax(target_logits / temperature, axis=-1)
  return jnp.sum(jnp.exp(logp_s) * (logp_s - logp_t), axis=-1)


class LossKind(NamedTuple):
  id: int
  name: str
  fn: Callable  # (source_logits, target_logits, param) -> [B]
  param_name: str | None
  default_param: float


# The ids are the array encoding in the edge table: never reorder, only append.
KINDS: tuple[LossKind, ...] = (
    LossKind(0, "kl", kl, None, 0.0),
    LossKind(1, "kd", kd, "temperature", 2.0),
    LossKind(2, "prob_cosine", prob_cosine, None, 0.0),
)
BY_NAME = {k.name: k for k in KINDS}


def edge_losses(kind, param, source_logits, target_logits):
  """Per-sample loss of encoded edges: evaluates every kind, selects by id.

  Args:
    kind: int[...] loss ids; param: float[...] their parameter.
    source_logits, target_logits: float[..., B, C] (broadcastable).

  Returns:
    float[..., B].
  """
  # Every kind is evaluated; an unselected one gets its default parameter, so a
  # 0 meant for another kind never reaches KD's 1/T (NaN gradients survive a
  # select even when multiplied by 0).
  outs = [k.fn(source_logits, target_logits,
               jnp.where(kind == k.id, param, k.default_param)[..., None])
          for k in KINDS]
  shape = jnp.broadcast_shapes(kind.shape + (1,), *(o.shape for o in outs))
  every = jnp.stack([jnp.broadcast_to(o, shape) for o in outs], axis=-1)
  kind = jnp.broadcast_to(kind[..., None, None], every.shape[:-1] + (1,))
  return jnp.take_along_axis(every, kind, axis=-1)[..., 0]


REDUCTIONS = ("mean", "sum")


def reduce_batch(per_sample, reduction: str):
  """SPEC §2: 'mean' over the batch (reference code; masked samples still count
  in the denominator) or 'sum' (thesis eq 3.2). Reduces the last axis."""
  if reduction == "mean":
    return jnp.mean(per_sample, axis=-1)
  if reduction == "sum":
    return jnp.sum(per_sample, axis=-1)
  raise ValueError(f"reduction={reduction!r}; allowed: {list(REDUCTIONS)}")
