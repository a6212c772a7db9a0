"""Node kinds: what updates a node, and what it needs (docs/papers.md §1, ch.4, ch.5, 002).

A node of a graph is one of these kinds (``Node(kind=...)``):

=============  ========  =========  ===============  =============================
kind           network   learns     checkpoint       what updates it
=============  ========  =========  ===============  =============================
``trainable``  yes       yes        forbidden        SGD on its gated incoming
                                                     edges (ch.3)
``frozen``     yes       no         required         nothing: a label-trained
                                                     teacher in inference mode
                                                     (docs/papers.md §1, the KD teacher)
``pretrained`` yes       yes        required         initialised from the
                                                     checkpoint, then SGD (002)
``ema``        yes       no         forbidden        after every update k,
                                                     ``a_k * ema + (1 - a_k) * theta_i``
                                                     of node ``of`` (ch.5),
                                                     ``a_k = min(1 - 1/(k+1), a)``
``ensemble``   no        no         forbidden        nothing: logits = mean of the
                                                     members' logits (eq 4.10)
``ssl``        yes       yes        forbidden        SGD on its gated own SSL
                                                     objective (views a, b; in
                                                     the label slot) and edges
                                                     (000, ``ktg_jax/ssl``)
=============  ========  =========  ===============  =============================

The ch.3 rule stays: a ``trainable`` node whose incoming edges are all Cutoff
never learns, so it *is* a frozen node (and needs a checkpoint).

Nodes that do not learn take no incoming edges. An ``ema`` node's parameters
are the average. Its BatchNorm running statistics are either the average too
(``bn="batch"``: the train-step forward normalises with the batch's
statistics, as Mean Teacher's code runs its teacher in train mode;
``bn="running"``: it normalises with the averaged running statistics), or its
own (``bn="own"``: the batch's statistics in the forward, and the running
statistics that forward accumulates under the averaged weights — Mean
Teacher's code averages ``parameters()`` only). ``evaluate`` always uses the
running statistics. Averaged statistics do not match averaged weights early in
a from-scratch run (a FixMatch EMA scored 15 % with them, 58 % with batch
statistics, after 200 iterations: README, ch.5), so ``"own"`` is the choice
for short runs.

Example:
  >>> KINDS["ema"].learns, KINDS["pretrained"].checkpoint
  (False, 'required')
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class NodeKind(NamedTuple):
  name: str
  has_model: bool   # runs a network of its own
  learns: bool      # takes gradients: edges may end in it
  checkpoint: str   # "required", "forbidden"


KINDS: dict[str, NodeKind] = {k.name: k for k in (
    NodeKind("trainable", True, True, "forbidden"),
    NodeKind("frozen", True, False, "required"),
    NodeKind("pretrained", True, True, "required"),
    NodeKind("ema", True, False, "forbidden"),
    NodeKind("ensemble", False, False, "forbidden"),
    NodeKind("ssl", True, True, "forbidden"),
)}
EMA_BN_MODES = ("batch", "running", "own")
DEFAULT_EMA_DECAY = 0.999  # ch.5 / Mean Teacher


def ema_update(ema, new, decay):
  """``ema <- decay * ema + (1 - decay) * new`` leaf by leaf (ch.5; Mean Teacher).

  Example:
    >>> float(ema_update(jnp.array(1.0), jnp.array(0.0), 0.75))
    0.75
  """
  return jax.tree_util.tree_map(
      lambda e, n: decay * e + (1.0 - decay) * n.astype(e.dtype), ema, new)


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


def ensemble_logits(member_logits):
  """Ensemble node output, thesis eq 4.10: the mean of the members' logits.

  ``member_logits``: float[M, ..., C] -> float[..., C].

  Example:
    >>> ensemble_logits(jnp.array([[1.0, 3.0], [3.0, 1.0]])).tolist()
    [2.0, 2.0]
  """
  return jnp.mean(member_logits, axis=0)
