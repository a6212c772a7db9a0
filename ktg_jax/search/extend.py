"""A 2-node graph's gate pattern extended to N nodes (thesis Table 3.4 grid).

The tabulated 2-node ch.3 space (docs/ch3_table.md) names four edges:
label->0, label->1, 1->0 and 0->1 (node 0 the target, node 1 the auxiliary).
``extend_point`` gives every edge of an N-node graph the gate of the 2-node
edge that plays the same *role*:

=================================  ====================
N-node edge                        copies the gate of
=================================  ====================
label -> 0 (the target)            ``gate_label_0``
label -> j, every aux j >= 1       ``gate_label_1``
j -> 0, every aux j                ``gate_1_0``
0 -> j and i -> j (aux to aux)     ``gate_0_1``
=================================  ====================

so all-Through stays DML, and a node whose two 2-node inputs are Cutoff
stays all-Cutoff at every N: a frozen, pre-trained auxiliary
(``extended_spec`` takes one checkpoint per such node, so the N - 1 teachers
of an extended KD graph can be different models' or seeds' checkpoints —
``SearchSpace.pretrained_checkpoints`` maps a *model* to one checkpoint).

Example:
  >>> p = {"gate_label_0": "through", "gate_label_1": "through",
  ...      "gate_1_0": "correct", "gate_0_1": "linear"}
  >>> q = extend_point(p, 3)
  >>> q["gate_2_0"], q["gate_2_1"], q["gate_label_2"]
  ('correct', 'linear', 'through')
  >>> spec = extended_spec(p, ["resnet8", "wrn10_2", "wrn10_2"])
  >>> spec.num_nodes, spec.edges[(1, 2)].gate.name
  (3, 'linear')
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ktg_jax.core import gates as gates_lib
from ktg_jax.core import LABEL, Edge, GraphSpec, Node
from ktg_jax.search import space_ops

ROLES = ("gate_label_0", "gate_label_1", "gate_1_0", "gate_0_1")


def role(source, target: int) -> str:
  """The 2-node edge (a ``ROLES`` key) whose gate edge ``source -> target``
  copies (module table).

  >>> role("label", 0), role("label", 3), role(2, 0), role(0, 2), role(3, 1)
  ('gate_label_0', 'gate_label_1', 'gate_1_0', 'gate_0_1', 'gate_0_1')
  """
  if source == LABEL:
    return "gate_label_0" if target == 0 else "gate_label_1"
  if source == target:
    raise ValueError(f"edge ({source}, {target}) is a self-loop; allowed: "
                     "label -> node or two different nodes")
  return "gate_1_0" if target == 0 else "gate_0_1"


def _check(point: Mapping[str, str], num_nodes: int) -> None:
  missing = [k for k in ROLES if k not in point]
  if missing:
    raise ValueError(f"point is missing {missing}; allowed: a 2-node point "
                     f"with the gates of {list(ROLES)}")
  for k in ROLES:
    g = point[k]
    if g not in gates_lib.GATE_TYPES or gates_lib.BY_NAME[g].param_names:
      raise ValueError(f"point[{k!r}]={g!r}; allowed: a gate without "
                       "parameters, one of " + str(sorted(
                           n for n in gates_lib.GATE_TYPES
                           if not gates_lib.BY_NAME[n].param_names)))
  if not isinstance(num_nodes, int) or num_nodes < 2:
    raise ValueError(f"num_nodes={num_nodes!r}; allowed: an int >= 2")


def extend_point(point: Mapping[str, str], num_nodes: int) -> dict[str, str]:
  """The N-node point (``gate_<source>_<target>`` -> gate name, every edge of
  ``space_ops.edges(num_nodes)``) of the 2-node ``point``; N = 2 gives
  ``point`` back."""
  _check(point, num_nodes)
  return {f"gate_{space_ops.edge_name(s, t)}": point[role(s, t)]
          for s, t in space_ops.edges(num_nodes)}


def extended_spec(point: Mapping[str, str], models: Sequence[str],
                  checkpoints: Mapping[int, str] | None = None) -> GraphSpec:
  """The graph of ``extend_point(point, len(models))``: node i runs
  ``models[i]`` (node 0 the target), Cutoff edges are dropped, each kept
  edge is ``Edge(gate)`` (label CE / KL, as ``SearchSpace.to_spec``), and a
  node with no kept incoming edge is frozen at ``checkpoints[i]``.

  Raises:
    ValueError: the target never learns, or a frozen node has no checkpoint.
  """
  n = len(models)
  full = extend_point(point, n)
  kept = {}
  for s, t in space_ops.edges(n):
    name = full[f"gate_{space_ops.edge_name(s, t)}"]
    if name != "cutoff":
      kept[(s, t)] = Edge(gates_lib.GATE_TYPES[name]())
  learns = {t for _, t in kept}
  if 0 not in learns:
    raise ValueError(f"point={dict(point)}: every edge into the target is "
                     "Cutoff; allowed: a label or aux edge into node 0 not "
                     "Cutoff")
  checkpoints = dict(checkpoints or {})
  nodes = []
  for i, model in enumerate(models):
    if i in learns:
      nodes.append(Node(model))
    elif i in checkpoints:
      nodes.append(Node(model, checkpoints[i]))
    else:
      raise ValueError(f"checkpoints={checkpoints}: node {i} ({model}) never "
                       f"learns (its inputs are Cutoff); allowed: a "
                       f"checkpoint for every frozen node {sorted(set(range(n)) - learns)}")
  return GraphSpec(nodes=tuple(nodes), edges=kept, target=0)
