"""The ``ssl`` node kind (paper 000), registered with the core's node kinds.

An ``ssl`` node (``Node(model, kind="ssl", learner=name)``, ``name`` one of
``objectives.OBJECTIVES``) is a backbone with its learner's heads
(``ktg_jax.families.ssl.model``) that runs on the two views ``a`` and ``b`` of every
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
cosine 0.996 -> 1 over the run, k = update count; the learner string's
``momentum`` sets the base, e.g. ``"byol:momentum=0.99"``). It runs on the same views
in train mode (batch statistics) under ``stop_gradient``. Extra state (MoCo's
key queue, DINO's centre) lives in ``KTGState.kind_state[node_key(i)]`` and is
returned updated by the objective each step.

Node-level defaults that differ from ``objectives``: MoCo's queue is 4,096
keys (the official MoCo CIFAR-10 demo's; 65,536 is ImageNet's).

The ``learner`` string may carry the method's hyper-parameters and the
heads' widths (``ktg_jax.named``): ``"simclr:temperature=0.2,hidden_dim=512"``
sets NT-Xent's T and the projector's hidden width of that node only; keys are
the objective's ``defaults`` (plus ``queue_size``) and ``MODULE_PARAMS``.
The graph then states its learners' settings in graph.json.

Example:
  >>> momentum_key(3), NODE_DEFAULTS["moco"]
  ('node3_momentum', {'queue_size': 4096})
  >>> learner_params("simclr:temperature=0.2,proj_dim=64")
  ('simclr', {'temperature': 0.2}, {'proj_dim': 64})
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ktg_jax import named
from ktg_jax.core import nodes
from ktg_jax.core.parts import field_error
from ktg_jax.families.ssl import model as ssl_model
from ktg_jax.families.ssl import objectives

VIEW_A, VIEW_B = "a", "b"
VIEWS = (VIEW_A, VIEW_B)
PAIRED = "projection_b"  # view b's projection, added to view a's outputs
NODE_DEFAULTS = {"moco": {"queue_size": 4096}}
MODULE_PARAMS = ("hidden_dim", "proj_dim", "num_prototypes")  # SSLModel widths


def learner_params(learner: str) -> tuple[str, dict, dict]:
  """``(method, objective overrides, module widths)`` of a learner string
  (``"simclr"`` or ``"simclr:temperature=0.2,hidden_dim=512"``); ValueError
  naming an unknown method or parameter and the allowed ones."""
  parsed = named.parse(learner)
  objective = objectives.get(parsed.name)
  allowed = set(objective.defaults) | {"queue_size"} | set(MODULE_PARAMS)
  named.check_keys(learner, parsed.params, allowed)
  module = {k: v for k, v in parsed.params.items() if k in MODULE_PARAMS}
  loss = {**NODE_DEFAULTS.get(parsed.name, {}),
          **{k: v for k, v in parsed.params.items() if k not in MODULE_PARAMS}}
  return parsed.name, loss, module


def momentum_key(i: int) -> str:
  """Where node i's momentum encoder sits in ``KTGState.ema``."""
  return f"node{i}_momentum"


def has_momentum(learner: str) -> bool:
  return objectives.get(learner_params(learner)[0]).momentum_encoder


def init_state(learner: str, rng, module):
  """The learner's extra state (``()`` when none); widths from the module."""
  name, loss_hp, _ = learner_params(learner)
  obj = objectives.get(name)
  hp = {**obj.defaults, **loss_hp}
  dim = (module.num_prototypes if "prototypes" in obj.heads
         else module.proj_dim)
  return obj.init_state(rng, dim, **hp)


def momentum(learner: str, step, total_steps: int):
  """The momentum-encoder coefficient ``m_k`` at update ``step`` (its base
  the learner string's ``momentum`` if given)."""
  name, loss_hp, _ = learner_params(learner)
  return objectives.momentum_schedule(name, **loss_hp)(step, total_steps)


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


def embedding_std(z) -> jax.Array:
  """Collapse monitor (SimSiam §4.1): the mean over dimensions of the std over
  the batch of ``z / ||z||``; ~``1/sqrt(D)`` when spread, 0 when collapsed."""
  return jnp.mean(jnp.std(objectives.l2_normalize(z), axis=0))


class SSLNode(nodes.NodeKind):
  """A self-supervised learner as a node kind (module docstring)."""
  name, fields, views, metric = "ssl", ("learner",), VIEWS, "knn"
  own_objective = True

  def canonical(self, spec_nodes, i, node):
    if not (isinstance(node.learner, str)
            and named.parse(node.learner).name in objectives.BY_NAME):
      raise field_error(f"nodes[{i}].learner", node.learner,
                 sorted(objectives.BY_NAME))
    try:
      learner_params(node.learner)
    except ValueError as e:
      raise ValueError(f"nodes[{i}].learner: {e}") from None
    return node

  def outputs(self, node):
    return ssl_model.outputs(learner_params(node.learner)[0])

  def module(self, record, num_classes):
    name, _, widths = learner_params(record.learner)
    return ssl_model.ssl_model(record.model, name, num_classes, **widths)

  def init_state(self, i, record, module, rng, copy_of):
    ema = {momentum_key(i): copy_of(i)} if has_momentum(record.learner) else {}
    return ema, init_state(record.learner, jax.random.fold_in(rng, 1), module)

  def extra_outputs(self, i, record, module, state, x, split):
    key = momentum_key(i)  # MoCo / BYOL / DINO: the momentum encoder
    if key not in state.ema:
      return None
    return split(jax.lax.stop_gradient(module.apply(
        state.ema[key], x, train=True, mutable=["batch_stats"])[0]))

  def paired(self, outputs):
    return pair_views(outputs)

  def own_loss(self, record, outputs, extra, kind_state, parts):
    """Its method's objective on views a, b of the samples ``parts``, the new
    learner state, and ``embedding_std`` of its view-a projection (the
    collapse monitor)."""
    online = _views(outputs, parts)
    target = _views(extra, parts) if extra is not None else online
    name, loss_hp, _ = learner_params(record.learner)
    loss, new_state = objectives.loss_and_state(
        name, online, target, kind_state, **loss_hp)
    std = embedding_std(jax.lax.stop_gradient(
        online[0][objectives.PROJECTION]))
    return loss, new_state, {"embedding_std": std}

  def averages(self, i, record, step, total_steps, state):
    key = momentum_key(i)
    if key not in state.ema:
      return ()
    return (nodes.Averaging(key, i, momentum(record.learner, step,
                                             total_steps)),)


nodes.register(SSLNode())

__all__ = ["MODULE_PARAMS", "NODE_DEFAULTS", "learner_params", "PAIRED", "SSLNode", "VIEWS", "VIEW_A", "VIEW_B",
           "embedding_std", "has_momentum", "init_state", "momentum",
           "momentum_key", "pair_views"]
