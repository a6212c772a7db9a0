"""The ``ssl`` node kind's moving parts (paper 000), called by the one step.

An ``ssl`` node (``Node(model, kind="ssl", learner=name)``, ``name`` one of
``objectives.OBJECTIVES``) is a backbone with its learner's heads
(``ktg_jax.ssl.model``) that runs on the two views ``a`` and ``b`` of every
batch. Its **own term** is its method's objective on those views, and it sits
in the node's *label slot*: the edge ``("label", i)`` carries the objective
instead of the cross-entropy, gated like any label edge (Through, Cutoff,
Positive-/Negative-Gamma, docs/papers.md §3)::

    L_i = G_{y,i}(L_own(a, b)) + sum_s G_{s,i}(L_{s,i})

No label is read. Where the method has a momentum encoder (MoCo v2, BYOL,
DINO), the state's ``ema`` holds it under ``momentum_key(i)``: after every
update ``theta_m <- m_k theta_m + (1 - m_k) theta`` (the EMA node's rule,
``nodes.ema_update``), ``m_k`` the method's published schedule
(``objectives.Objective.momentum``: MoCo constant 0.999; BYOL and DINO
cosine 0.996 -> 1 over the run, k = update count). It runs on the same views
in train mode (batch statistics) under ``stop_gradient``. Extra state (MoCo's
key queue, DINO's centre) lives in ``KTGState.ssl[node_key(i)]`` and is
returned updated by the objective each step.

Node-level defaults that differ from ``objectives``: MoCo's queue is 4,096
keys (the official MoCo CIFAR-10 demo's; 65,536 is ImageNet's).

Example:
  >>> momentum_key(3), NODE_DEFAULTS["moco"]
  ('node3_momentum', {'queue_size': 4096})
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ktg_jax.ssl import objectives

VIEW_A, VIEW_B = "a", "b"
VIEWS = (VIEW_A, VIEW_B)
PAIRED = "projection_b"  # view b's projection, added to view a's outputs
NODE_DEFAULTS = {"moco": {"queue_size": 4096}}


def momentum_key(i: int) -> str:
  """Where node i's momentum encoder sits in ``KTGState.ema``."""
  return f"node{i}_momentum"


def has_momentum(learner: str) -> bool:
  return objectives.get(learner).momentum_encoder


def init_state(learner: str, rng, module):
  """The learner's extra state (``()`` when none); widths from the module."""
  obj = objectives.get(learner)
  hp = {**obj.defaults, **NODE_DEFAULTS.get(learner, {})}
  dim = (module.num_prototypes if "prototypes" in obj.heads
         else module.proj_dim)
  return obj.init_state(rng, dim, **hp)


def momentum(learner: str, step, total_steps: int):
  """The momentum-encoder coefficient ``m_k`` at update ``step``."""
  return objectives.get(learner).momentum(step, total_steps)


def pair_views(node_outputs: dict) -> dict:
  """Adds view b's projection to each view-a chunk as ``projection_b``, so an
  edge loss (DoGo) reads both views from one slot: ``(view, part) -> dict``."""
  out = dict(node_outputs)
  for (v, p), d in node_outputs.items():
    if v == VIEW_A and (VIEW_B, p) in node_outputs:
      out[(v, p)] = {**d, PAIRED: node_outputs[(VIEW_B, p)][
          objectives.PROJECTION]}
  return out


def _views(node_outputs: dict, parts) -> tuple:
  def cat(v):
    ds = [node_outputs[(v, p)] for p in parts]
    return {k: jnp.concatenate([d[k] for d in ds]) for k in ds[0]}
  return tuple(cat(v) for v in VIEWS)


def own_terms(learners: dict, outputs, momentum_outputs: dict, states: dict,
              parts) -> tuple[dict, dict, dict]:
  """Every SSL node's own objective on views a, b of the samples ``parts``.

  Args:
    learners: node index -> learner name (the SSL nodes with a label slot).
    outputs: per node, ``(view, part) -> output dict`` (online network).
    momentum_outputs: node index -> the same for its momentum encoder.
    states: ``"node{i}"`` -> the learner's extra state.
    parts: the batch parts the label slot covers (``("l",)``).

  Returns:
    (node index -> scalar loss, ``"node{i}"`` -> new state, node index ->
    ``embedding_std`` of its view-a projection: the collapse monitor).
  """
  losses, new_states, stds = {}, {}, {}
  for i, name in learners.items():
    online = _views(outputs[i], parts)
    target = (_views(momentum_outputs[i], parts) if i in momentum_outputs
              else online)
    key = f"node{i}"
    losses[i], new_states[key] = objectives.loss_and_state(
        name, online, target, states[key], **NODE_DEFAULTS.get(name, {}))
    stds[i] = embedding_std(jax.lax.stop_gradient(
        online[0][objectives.PROJECTION]))
  return losses, new_states, stds


def embedding_std(z) -> jax.Array:
  """Collapse monitor (SimSiam §4.1): the mean over dimensions of the std over
  the batch of ``z / ||z||``; ~``1/sqrt(D)`` when spread, 0 when collapsed."""
  return jnp.mean(jnp.std(objectives.l2_normalize(z), axis=0))


__all__ = ["NODE_DEFAULTS", "PAIRED", "VIEWS", "VIEW_A", "VIEW_B",
           "embedding_std", "has_momentum", "init_state", "momentum",
           "momentum_key", "own_terms", "pair_views"]
