"""The ``ema`` node kind (ch.5, Mean Teacher): an averaged copy of a node.

``Node(kind="ema", of=j, decay=a, bn=...)`` holds, after every update k,
``a_k * ema + (1 - a_k) * theta_j`` (``ktg_jax.core.nodes.ema_update``, the one
averaging rule), ``a_k = min(1 - 1/(k+1), a)`` (``ema_decay_at``). It takes no
gradient and no incoming edge; it starts as a copy of node ``of``.

Its BatchNorm running statistics are either the average too
(``bn="batch"``: the train-step forward normalises with the batch's
statistics, as Mean Teacher's code runs its teacher in train mode;
``bn="running"``: it normalises with the averaged running statistics), or its
own (``bn="own"``: the batch's statistics in the forward, and the running
statistics that forward accumulates under the averaged weights — Mean
Teacher's code averages ``parameters()`` only), or a copy of the student's
current ones (``bn="student"``: batch statistics in the forward; USB's
``EMA`` averages parameters and copies the buffers, which is what its
FixMatch evaluates). ``evaluate`` always uses the running statistics.
Averaged statistics do not match averaged weights early in a from-scratch
run (a FixMatch EMA scored 15 % with them, 58 % with batch statistics, after
200 iterations: docs, ch.5), so ``"own"`` is the choice for short runs; at
the end of a 20,000-iteration FixMatch run the student's statistics scored
the EMA weights 1 point above their own (docs/semi_regime.md).

Example:
  >>> from ktg_jax.core import nodes
  >>> nodes.KINDS["ema"].learns, nodes.KINDS["ema"].fields
  (False, ('of',))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ktg_jax.core import nodes
from ktg_jax.core.parts import Node, field_error, is_int, is_real

EMA_BN_MODES = ("batch", "running", "own", "student")
# bn -> nodes.Averaging.stats
_AVERAGING_STATS = {"own": "own", "student": "source"}


def ema_decay_at(decay, step):
  """The EMA decay of update ``step``: ``min(1 - 1 / (step + 1), decay)``.

  Mean Teacher's warm-up (Tarvainen & Valpola 2017, ``update_ema_variables``
  in their published code: "use the true average until the exponential
  average is more correct"). ``step`` counts the updates done *before* this
  one (``KTGState.step``), so the first update copies the student
  (decay 0), the k-th (0-based) leaves ``ema`` the plain mean of the student's
  iterates 1..k+1, and from ``k >= 1 / (1 - decay) - 1`` on the decay is
  ``decay``. (Their code counts the update just done, which keeps the random
  init in the mean with weight ``1 / (k + 2)``; ours drops it.) Without it an
  EMA at decay 0.999 is still ``0.999**150 ~ 86%`` its init after 150 updates.

  Example:
    >>> [round(float(ema_decay_at(0.9, k)), 3) for k in (0, 1, 3, 50)]
    [0.0, 0.5, 0.75, 0.9]
  """
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(1.0 - 1.0 / (step + 1.0), decay)


class EMANode(nodes.NodeKind):
  """Mean Teacher's teacher: see the module docstring."""
  name, learns, fields, initialises = "ema", False, ("of",), False

  def canonical(self, spec_nodes, i, node):
    n, f = len(spec_nodes), f"nodes[{i}]"
    if not (is_int(node.of) and 0 <= node.of < n and node.of != i):
      raise field_error(f"{f}.of", node.of, f"the index of another node in "
                 f"0..{n - 1}")
    src = spec_nodes[node.of]
    if not (isinstance(src, Node) and src.kind in nodes.KINDS
            and nodes.KINDS[src.kind].averageable):
      averageable = [k for k, v in nodes.KINDS.items() if v.averageable]
      raise field_error(f"{f}.of", node.of, f"a node of kind {averageable}")
    if node.model is None:
      object.__setattr__(node, "model", src.model)
    if node.model != src.model:
      raise field_error(f"{f}.model", node.model, f"{src.model!r}: an EMA node "
                 "has the model of the node it averages")
    object.__setattr__(node, "of", int(node.of))
    if not (is_real(node.decay) and 0.0 <= node.decay < 1.0):
      raise field_error(f"{f}.decay", node.decay, "a number in [0, 1)")
    if not (isinstance(node.bn, str) and node.bn in EMA_BN_MODES):
      raise field_error(f"{f}.bn", node.bn, list(EMA_BN_MODES))
    return node

  def check(self, spec, i, kinds):
    of = spec.nodes[i].of
    if not nodes.KINDS[kinds[of]].learns:
      raise field_error(f"nodes[{i}].of", of, "a node that learns: every "
                 f"edge into node {of} is Cutoff")

  def init_state(self, i, record, module, rng, copy_of):
    return {nodes.node_key(i): copy_of(record.of)}, None  # starts as a copy

  def forward(self, i, record, module, variables, state, x):
    train = record.bn != "running"  # batch statistics, as Mean Teacher's
    out = module.apply(state.ema[nodes.node_key(i)], x, train=train,
                       mutable=["batch_stats"] if train else False)
    stats = None
    if train:
      out, stats = out
    own = jax.lax.stop_gradient(stats) if record.bn == "own" else None
    return nodes.Forward(jax.lax.stop_gradient(out), None, own)

  def averages(self, i, record, step, total_steps, state):
    return (nodes.Averaging(nodes.node_key(i), record.of,
                            ema_decay_at(record.decay, step),  # warm-up
                            stats=_AVERAGING_STATS.get(record.bn,
                                                       "average")),)


nodes.register(EMANode())
