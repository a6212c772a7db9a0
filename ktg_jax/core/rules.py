"""The rules a graph spec obeys (docs/papers.md §1-§2), checked when it is built.

Each broken rule raises ``GraphSpecError`` naming the field, the value and
what is allowed: node kinds and their fields (``canonical_nodes``), edge
keys (``canonical_key``), each edge's gate, loss, views and samples
(``canonical_edge``, which also fills the defaults in), and the rules across
nodes and edges (``check_graph``).

Example:
  >>> from ktg_jax.core import gates
  >>> canonical_edge(("label", 0), Edge(gates.Through())).samples
  'labeled'
  >>> canonical_key(("label", 3), 2)
  Traceback (most recent call last):
  ...
  ktg_jax.core.parts.GraphSpecError: edges[('label', 3)] target=3 is invalid; allowed: node indices 0..1
"""

from __future__ import annotations

import dataclasses
import math

from ktg_jax.core import gates as gates_lib
from ktg_jax.core import losses as losses_lib
from ktg_jax import models as models_lib
from ktg_jax.core import nodes as nodes_lib
from ktg_jax.core.parts import (DEFAULT_VIEW, LABEL, LABEL_LOSS, SAMPLES,
                                 SAME_VIEW_SELF_LOOP_LOSSES, Edge,
                                 GraphSpecError, Node, field_error, is_int,
                                 is_real)


def canonical_nodes(spec) -> tuple:
  """``spec.nodes`` validated, with their implied fields set (an EMA node's
  model, tuples for lists). What a kind checks of its own fields is its
  ``NodeKind.canonical``; a field it does not take must stay unset."""
  if not isinstance(spec.nodes, tuple) or not spec.nodes:
    raise field_error("nodes", spec.nodes, "a non-empty list of Node")
  canon = []
  for i, node in enumerate(spec.nodes):
    f = f"nodes[{i}]"
    if not isinstance(node, Node):
      raise field_error(f, node, "Node(model=...) or a model name")
    node = dataclasses.replace(node)  # a copy: canonical fields set below
    if not (isinstance(node.kind, str) and node.kind in nodes_lib.KINDS):
      raise field_error(f"{f}.kind", node.kind, list(nodes_lib.KINDS))
    kind = nodes_lib.KINDS[node.kind]
    if node.checkpoint is not None and not isinstance(node.checkpoint, str):
      raise field_error(f"{f}.checkpoint", node.checkpoint, "a path or None")
    if kind.checkpoint == "required" and node.checkpoint is None:
      raise field_error(f"{f}.checkpoint", None, f"a path: a {node.kind} node is "
                 "loaded from the checkpoint of a label-only run")
    node = kind.canonical(spec.nodes, i, node)
    for name in nodes_lib.OPTIONAL_FIELDS:
      value = getattr(node, name)
      if name not in kind.fields and value is not None and not (
          isinstance(value, (tuple, list)) and not value):
        allowed = ("a list of layer names, only on "
                   f"{'/'.join(nodes_lib.taking(name))} nodes"
                   if name == "reinit" else
                   f"None (only {'/'.join(nodes_lib.taking(name))} nodes)")
        raise field_error(f"{f}.{name}", value, allowed)
    if kind.has_model and not models_lib.exists(node.model):
      raise field_error(f"{f}.model", node.model, models_lib.names())
    if (not isinstance(node.reinit, (tuple, list))
        or not all(isinstance(r, str) for r in node.reinit)):
      raise field_error(f"{f}.reinit", node.reinit, "a list of layer names, only "
                 f"on {'/'.join(nodes_lib.taking('reinit'))} nodes")
    object.__setattr__(node, "reinit", tuple(node.reinit))
    canon.append(node)
  return tuple(canon)

def canonical_key(key, n: int) -> tuple:
  """An edge key validated: (LABEL or a node index, a node index)."""
  if not (isinstance(key, tuple) and len(key) == 2):
    raise field_error("edges key", key, "(source, target) with source 'label' or "
               "a node index")
  src, tgt = key
  node_ids = f"node indices 0..{n - 1}"
  if not (src == LABEL if isinstance(src, str)
          else is_int(src) and 0 <= src < n):
    raise field_error(f"edges[{key!r}] source", src, f"'label' or {node_ids}")
  if not (is_int(tgt) and 0 <= tgt < n):
    raise field_error(f"edges[{key!r}] target", tgt, node_ids)
  return (src if src == LABEL else int(src), int(tgt))

def canonical_edge(key, edge: Edge,
                   default_views=(DEFAULT_VIEW, DEFAULT_VIEW),
                   own_views=()) -> Edge:
  """Validates one edge; returns it with explicit loss, views and samples
  (``default_views``: of its source and target when not named;
  ``own_views``: the target kind's own views, where its label edge must use
  the first)."""
  field = f"edges[{key!r}]"
  try:
    gates_lib.validate(edge.gate)
  except gates_lib.GateError as e:
    raise GraphSpecError(f"{field}.gate: {e}") from None
  for name in ("source_view", "target_view"):
    v = getattr(edge, name)
    if v is not None and not (isinstance(v, str) and v):
      raise field_error(f"{field}.{name}", v, "a view name (a non-empty string)")
  if key[0] == LABEL:
    if not (edge.loss is None or edge.loss == LABEL_LOSS):
      raise field_error(f"{field}.loss", edge.loss, [LABEL_LOSS])
    if edge.loss_param is not None:
      raise field_error(f"{field}.loss_param", edge.loss_param, "None: the label "
                 "cross-entropy has no parameter")
    if edge.source_view is not None:
      raise field_error(f"{field}.source_view", edge.source_view, "None: the label "
                 "has no view")
    if edge.samples not in (None, "labeled"):
      raise field_error(f"{field}.samples", edge.samples, ["labeled"])
    view = edge.target_view or default_views[1]
    if own_views and view != own_views[0]:
      raise field_error(f"{field}.target_view", view, f"{own_views[0]!r}: the "
                 f"node's own objective runs on its views {list(own_views)}")
    return Edge(edge.gate, LABEL_LOSS, None, None, view, "labeled")
  loss = "kl" if edge.loss is None else edge.loss
  if not (isinstance(loss, str) and loss in losses_lib.BY_NAME):
    raise field_error(f"{field}.loss", edge.loss, sorted(losses_lib.BY_NAME))
  kind = losses_lib.BY_NAME[loss]
  p = edge.loss_param
  if p is not None and not (kind.param_name and is_real(p)
                            and math.isfinite(p) and p > 0):
    allowed = (f"None or a finite number > 0 ({kind.param_name})"
               if kind.param_name else f"None: {loss!r} has no parameter")
    raise field_error(f"{field}.loss_param", p, allowed)
  param = (float(kind.default_param if p is None else p)
           if kind.param_name else None)
  samples = "all" if edge.samples is None else edge.samples
  if not (isinstance(samples, str) and samples in SAMPLES):
    raise field_error(f"{field}.samples", edge.samples, list(SAMPLES))
  return Edge(edge.gate, loss, param, edge.source_view or default_views[0],
              edge.target_view or default_views[1], samples)

def check_graph(spec) -> None:
  """The rules across nodes and edges (targets learn, self-loops compare two
  views, frozen / trainable / checkpoint agree with the incoming gates)."""
  n = len(spec.nodes)
  if not (is_int(spec.target) and 0 <= spec.target < n):
    raise field_error("target", spec.target, f"a node index in 0..{n - 1}")
  if spec.reduction not in losses_lib.REDUCTIONS:
    raise field_error("reduction", spec.reduction, list(losses_lib.REDUCTIONS))
  kinds = spec.node_kinds()
  for (src, tgt), e in spec.edges.items():
    if not nodes_lib.KINDS[spec.nodes[tgt].kind].learns:
      raise field_error(f"edges[{(src, tgt)!r}] target", tgt, "a node that "
                 f"learns: node {tgt} is {spec.nodes[tgt].kind!r} and takes "
                 "no gradient")
    if (src == tgt and e.source_view == e.target_view
        and e.loss not in SAME_VIEW_SELF_LOOP_LOSSES):
      raise field_error(f"edges[{(src, tgt)!r}].target_view", e.target_view,
                 f"a view other than the source_view: a self-loop on one "
                 f"view with loss {e.loss!r} compares p with itself (only "
                 f"{list(SAME_VIEW_SELF_LOOP_LOSSES)} may)")
  for i, node in enumerate(spec.nodes):
    kind = nodes_lib.KINDS[node.kind]
    if kinds[i] != node.kind:  # cut: every incoming edge is Cutoff
      if node.checkpoint is None:
        raise GraphSpecError(
            f"nodes[{i}].checkpoint=None is invalid: every edge into node "
            f"{i} is Cutoff, so it is a frozen pre-trained node and needs "
            "the checkpoint of a label-only run (docs/papers.md §1); "
            "allowed: a path")
    elif kind.when_cut is not None and node.checkpoint is not None:
      raise field_error(f"nodes[{i}].checkpoint", node.checkpoint, "None: node "
                 f"{i} learns (an incoming edge is not Cutoff), so a "
                 "checkpoint would be ignored; use kind='pretrained' to "
                 "start from it, or cut its edges to freeze it")
  for i, node in enumerate(spec.nodes):
    nodes_lib.KINDS[node.kind].check(spec, i, kinds)
  if nodes_lib.KINDS[kinds[spec.target]].loaded_frozen:
    raise GraphSpecError(f"target={spec.target} is invalid: the target "
                         "node has no incoming edge (all Cutoff); allowed: "
                         "a node with at least one non-Cutoff incoming edge")
