"""The ``ensemble`` node kind (ch.4): the mean of its members' logits.

``Node(kind="ensemble", members=(i, j, ...))`` has no network and takes no
gradient; its logits are ``ensemble_logits`` of its members' (thesis eq 4.10),
so as a target it is the score of an ensemble KTG (ch.4), and as a source it
distils the ensemble's distribution (Table 4.9).

Example:
  >>> from ktg_jax.core import nodes
  >>> k = nodes.KINDS["ensemble"]
  >>> k.has_model, k.learns, k.fields
  (False, False, ('members',))
"""

from __future__ import annotations

import jax.numpy as jnp

from ktg_jax.core import nodes
from ktg_jax.core.parts import Node, field_error, is_int


def ensemble_logits(member_logits):
  """Ensemble node output, thesis eq 4.10: the mean of the members' logits.

  ``member_logits``: float[M, ..., C] -> float[..., C].

  Example:
    >>> ensemble_logits(jnp.array([[1.0, 3.0], [3.0, 1.0]])).tolist()
    [2.0, 2.0]
  """
  return jnp.mean(member_logits, axis=0)


class EnsembleNode(nodes.NodeKind):
  """See the module docstring."""
  name, has_model, learns, fields = "ensemble", False, False, ("members",)

  def canonical(self, spec_nodes, i, node):
    n, f = len(spec_nodes), f"nodes[{i}]"
    if node.model is not None:
      raise field_error(f"{f}.model", node.model, "None: an ensemble node has no "
                 "network of its own")
    m = node.members
    if (not isinstance(m, (tuple, list)) or len(m) < 2
        or not all(is_int(j) and 0 <= j < n and j != i for j in m)
        or len(set(m)) != len(m)):
      raise field_error(f"{f}.members", m, f"two or more distinct node indices "
                 f"in 0..{n - 1}, other than {i}")
    for j in m:
      k = spec_nodes[j].kind if isinstance(spec_nodes[j], Node) else None
      if not (isinstance(k, str) and k in nodes.KINDS
              and nodes.KINDS[k].has_model):
        raise field_error(f"{f}.members", m, "nodes with a network (not an "
                   "ensemble)")
    object.__setattr__(node, "members", tuple(int(j) for j in m))
    return node

  def outputs(self, node):
    return ("logits",)

  def combine(self, record, member_logits):
    return ensemble_logits(jnp.stack(member_logits))  # thesis eq 4.10


nodes.register(EnsembleNode())
