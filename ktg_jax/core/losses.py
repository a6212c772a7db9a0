"""Per-sample edge losses (docs/papers.md §2), a registry by name, and batch reductions.

Every loss takes the *source* logits (already ``stop_gradient``-ed by the
caller), the *target* logits and a scalar parameter, and returns one value per
sample; gating and the batch reduction happen afterwards (docs/papers.md §2: "per sample,
then gated, then reduced over the batch"). All work in log space through
``log_softmax``: no ``+1e-10`` in a log.

Example:
  >>> import jax.numpy as jnp
  >>> z = jnp.array([[2.0, 0.0, -1.0]])
  >>> float(kl(z, z, 1.0)[0])                     # KL(p || p) = 0
  0.0
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

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
  """``KL(p_s || p_t) = sum_c p_s^c (log p_s^c - log p_t^c)``, T = 1 (docs/papers.md §2)."""
  del param
  return _kl_with_temperature(source_logits, target_logits, 1.0)


def kd(source_logits, target_logits, temperature):
  """Hinton KD: ``T^2 KL(softmax(z_s / T) || softmax(z_t / T))`` (docs/papers.md §2)."""
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


def consistency_mse(source_logits, target_logits, param):
  """Squared error of the probabilities, mean over classes (ch.5 consistency, MSE
  variant; Mean Teacher's ``mse_loss(softmax, softmax, sum) / num_classes``)."""
  del param
  p_s = jax.nn.softmax(source_logits, axis=-1)
  p_t = jax.nn.softmax(target_logits, axis=-1)
  return jnp.mean(jnp.square(p_s - p_t), axis=-1)


def pseudo_label(source_logits, target_logits, param):
  """``CE(onehot(argmax p_s), p_t)`` (ch.5, docs/papers.md §2: Pseudo-Label; with a
  Threshold gate on the edge it is FixMatch's masked term)."""
  del param
  return cross_entropy(jnp.argmax(source_logits, axis=-1), target_logits)


def weighted(fn: Callable) -> Callable:
  """``param * fn(source, target)``: a loss whose parameter is its weight."""
  def loss(source_logits, target_logits, weight):
    weight = jnp.asarray(weight)
    return weight * fn(source_logits, target_logits, None)
  loss.__name__ = fn.__name__
  loss.__doc__ = fn.__doc__
  return loss


def on_logits(fn: Callable) -> Callable:
  """Lifts ``fn(source_logits, target_logits, param)`` to node-output dicts
  (plain logits arrays are taken as they are)."""
  def loss(source, target, param):
    get = lambda o: o["logits"] if isinstance(o, Mapping) else o
    return fn(get(source), get(target), param)
  loss.__name__ = fn.__name__
  loss.__doc__ = fn.__doc__
  return loss


class LossKind(NamedTuple):
  """One row of the edge-loss registry.

  ``fn(source_outputs, target_outputs, param) -> float[..., B]`` takes the two
  nodes' output dicts (the source's already under ``stop_gradient``); ``reads``
  names the outputs it needs, so a spec whose models lack one is rejected and a
  step computes only what its losses read.
  """
  id: int
  name: str
  fn: Callable
  param_name: str | None
  default_param: float
  reads: tuple[str, ...] = ("logits",)


# The ids are the array encoding in the edge table: never reorder, only append.
KINDS: list[LossKind] = [
    LossKind(0, "kl", on_logits(kl), None, 0.0),
    LossKind(1, "kd", on_logits(kd), "temperature", 2.0),
    LossKind(2, "prob_cosine", on_logits(prob_cosine), None, 0.0),
    # ch.5 eq 5.1, R = KL; direction not printed, this project: KL(f_s || f_t).
    # ch.5 losses carry a weight (lambda_u / the consistency weight): gates
    # only scale in [0, 1].
    LossKind(3, "consistency", on_logits(weighted(kl)), "weight", 1.0),
    LossKind(4, "consistency_mse", on_logits(weighted(consistency_mse)),
             "weight", 1.0),
    LossKind(5, "pseudo_label", on_logits(weighted(pseudo_label)), "weight",
             1.0),
]
BY_NAME = {k.name: k for k in KINDS}


def register(name: str, fn: Callable, *, reads=("logits",),
             param_name: str | None = None,
             default_param: float = 0.0) -> LossKind:
  """Adds an edge loss (attention crops, DoGo, DisCo, ...): the next id."""
  if name in BY_NAME:
    raise ValueError(f"loss name={name!r} is taken; taken: {sorted(BY_NAME)}")
  kind = LossKind(len(KINDS), name, fn, param_name, float(default_param),
                  tuple(reads))
  KINDS.append(kind)
  BY_NAME[name] = kind
  return kind


def select(kinds, loss_id, param, source, target):
  """Per-sample loss of one encoded edge, evaluating only ``kinds``.

  Args:
    kinds: the LossKinds a structure can select (static).
    loss_id: int[] the edge's loss id; param: float[] its parameter.
    source, target: output dicts of the two nodes.

  Returns:
    float[B]. An unselected kind gets its default parameter, so a 0 meant for
    another kind never reaches KD's 1/T (NaN gradients survive a select even
    when multiplied by 0).
  """
  if len(kinds) == 1:
    return kinds[0].fn(source, target, param)
  outs = [k.fn(source, target,
               jnp.where(loss_id == k.id, param, k.default_param))
          for k in kinds]
  ids = jnp.asarray([k.id for k in kinds])
  return jnp.stack(outs)[jnp.argmax(ids == loss_id)]


REDUCTIONS = ("mean", "sum")


def reduce_batch(per_sample, reduction: str):
  """docs/papers.md §2: 'mean' over the batch (reference code; masked samples still count
  in the denominator) or 'sum' (thesis eq 3.2). Reduces the last axis."""
  if reduction == "mean":
    return jnp.mean(per_sample, axis=-1)
  if reduction == "sum":
    return jnp.sum(per_sample, axis=-1)
  raise ValueError(f"reduction={reduction!r}; allowed: {list(REDUCTIONS)}")
