"""Graph specs: nodes, gated edges, validation, JSON, the edge table as arrays.

A ``GraphSpec`` is data (SPEC §1). Its *structure* — the node models and which
nodes are frozen — is what a compiled step is specialised on; its *edge table*
— gate kind and parameters and loss kind of every edge — becomes arrays that
the step reads at run time, so graphs of the same structure share one program.

Node indices are 0..N-1 (node ``target`` is the one whose accuracy counts);
the ground-truth label is the source ``"label"``. An edge not in the spec is
Cutoff.

Example:
  >>> from ktg_jax import gates
  >>> spec = GraphSpec(nodes=[Node("small_cnn"), Node("small_cnn")],
  ...                  edges={("label", 0): gates.Through(),
  ...                         ("label", 1): gates.Through(),
  ...                         (1, 0): gates.Sine(f=0.5, phi=4.71)})
  >>> GraphSpec.from_json(spec.to_json()) == spec
  True
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Mapping, NamedTuple, Union

import numpy as np

from ktg_jax import gates as gates_lib
from ktg_jax import losses as losses_lib
from ktg_jax import models as models_lib

LABEL = "label"
LABEL_LOSS = "ce"  # KL(onehot(y) || p_t) is the label cross-entropy (SPEC §2).

Source = Union[str, int]


class GraphSpecError(ValueError):
  """A graph spec field is invalid; the message names the field and value."""


@dataclasses.dataclass(frozen=True)
class Node:
  """A model node. ``checkpoint``: variables of a label-only run (frozen nodes)."""
  model: str
  checkpoint: str | None = None


@dataclasses.dataclass(frozen=True)
class Edge:
  """A gated loss from a source to a target node.

  ``loss``: "ce" on label edges; "kl" (default), "kd" or "prob_cosine" on node
  edges. ``loss_param``: the loss's parameter (KD temperature); None = default.
  """
  gate: gates_lib.Gate
  loss: str | None = None
  loss_param: float | None = None


class EdgeTable(NamedTuple):
  """The edges as arrays. Node edges are indexed ``[source, target]``."""
  label_kind: Any   # int32[N] gate id of label -> n
  label_params: Any  # float32[N, 2]
  kind: Any         # int32[N, N]
  params: Any       # float32[N, N, 2]
  loss_kind: Any    # int32[N, N]
  loss_param: Any   # float32[N, N]


def _err(field: str, value, allowed) -> GraphSpecError:
  return GraphSpecError(f"{field}={value!r} is invalid; allowed: {allowed}")


@dataclasses.dataclass(frozen=True)
class GraphSpec:
  nodes: tuple[Node, ...]
  edges: Mapping[tuple[Source, int], Edge]
  target: int = 0
  reduction: str = "mean"

  def __post_init__(self):
    nodes = self.nodes
    if isinstance(nodes, (list, tuple)):
      nodes = tuple(Node(n) if isinstance(n, str) else n for n in nodes)
    object.__setattr__(self, "nodes", nodes)
    if not isinstance(self.edges, Mapping):
      raise _err("edges", self.edges, "a mapping {(source, target): gate}")
    edges = {}
    for key, value in self.edges.items():
      edge = value if isinstance(value, Edge) else Edge(value)
      edges[key] = edge
    object.__setattr__(self, "edges", edges)
    self._validate()
    # Canonical form: explicit loss names and parameters, sorted keys.
    canon = {}
    for (src, tgt), e in sorted(edges.items(), key=lambda kv: (
        kv[0][0] != LABEL, str(kv[0][0]), kv[0][1])):
      if src == LABEL:
        canon[(src, tgt)] = Edge(e.gate, LABEL_LOSS, None)
      else:
        kind = losses_lib.BY_NAME[e.loss or "kl"]
        param = (kind.default_param if e.loss_param is None
                 else float(e.loss_param))
        canon[(src, tgt)] = Edge(e.gate, kind.name,
                                 param if kind.param_name else None)
    object.__setattr__(self, "edges", canon)

  # --- validation ----------------------------------------------------------

  def _validate(self):
    if not isinstance(self.nodes, tuple) or not self.nodes:
      raise _err("nodes", self.nodes, "a non-empty list of Node")
    for i, node in enumerate(self.nodes):
      if not isinstance(node, Node):
        raise _err(f"nodes[{i}]", node, "Node(model=...) or a model name")
      if not models_lib.exists(node.model):
        raise _err(f"nodes[{i}].model", node.model, models_lib.names())
      if node.checkpoint is not None and not isinstance(node.checkpoint, str):
        raise _err(f"nodes[{i}].checkpoint", node.checkpoint, "a path or None")
    n = len(self.nodes)
    if (isinstance(self.target, bool) or not isinstance(self.target, int)
        or not 0 <= self.target < n):
      raise _err("target", self.target, f"a node index in 0..{n - 1}")
    if self.reduction not in losses_lib.REDUCTIONS:
      raise _err("reduction", self.reduction, list(losses_lib.REDUCTIONS))
    for key, edge in self.edges.items():
      self._validate_edge(key, edge, n)
    for i in self.frozen_nodes():
      if self.nodes[i].checkpoint is None:
        raise GraphSpecError(
            f"nodes[{i}].checkpoint=None is invalid: every edge into node {i} "
            "is Cutoff, so it is a frozen pre-trained node and needs the "
            "checkpoint of a label-only run (SPEC §1); allowed: a path")
    if self.target in self.frozen_nodes():
      raise GraphSpecError(f"target={self.target} is invalid: the target node "
                           "has no incoming edge (all Cutoff); allowed: a "
                           "node with at least one non-Cutoff incoming edge")

  @staticmethod
  def _validate_edge(key, edge, n):
    field = f"edges[{key!r}]"
    if not (isinstance(key, tuple) and len(key) == 2):
      raise _err("edges key", key, "(source, target) with source 'label' or "
                 "a node index")
    src, tgt = key
    node_ids = f"node indices 0..{n - 1}"
    if src != LABEL and (isinstance(src, bool) or not isinstance(src, int)
                         or not 0 <= src < n):
      raise _err(f"{field} source", src, f"'label' or {node_ids}")
    if isinstance(tgt, bool) or not isinstance(tgt, int) or not 0 <= tgt < n:
      raise _err(f"{field} target", tgt, node_ids)
    if src == tgt:
      raise _err(f"{field}", key, "edges between different nodes (self-loop "
                 "edges of ch.5 are not supported yet)")
    try:
      gates_lib.validate(edge.gate)
    except gates_lib.GateError as e:
      raise GraphSpecError(f"{field}.gate: {e}") from None
    if src == LABEL:
      if edge.loss not in (None, LABEL_LOSS):
        raise _err(f"{field}.loss", edge.loss, [LABEL_LOSS])
      return
    if edge.loss is not None and edge.loss not in losses_lib.BY_NAME:
      raise _err(f"{field}.loss", edge.loss, sorted(losses_lib.BY_NAME))
    if edge.loss_param is not None:
      p = edge.loss_param
      if not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
        raise _err(f"{field}.loss_param", p, "a finite number > 0")

  # --- structure ---------------------------------------------------------

  @property
  def num_nodes(self) -> int:
    return len(self.nodes)

  def gate(self, source: Source, target: int) -> gates_lib.Gate:
    edge = self.edges.get((source, target))
    return edge.gate if edge is not None else gates_lib.Cutoff()

  def frozen_nodes(self) -> tuple[int, ...]:
    """Nodes whose incoming edges are all Cutoff: they never learn (SPEC §1)."""
    live = {t for (_, t), e in self.edges.items() if e.gate.name != "cutoff"}
    return tuple(i for i in range(len(self.nodes)) if i not in live)

  def structure(self) -> tuple:
    """What a compiled step is specialised on: models, frozen set, reduction."""
    return (tuple(n.model for n in self.nodes), self.frozen_nodes(),
            self.reduction)

  def edge_table(self) -> EdgeTable:
    n = len(self.nodes)
    cutoff = gates_lib.BY_NAME["cutoff"].id
    table = EdgeTable(
        label_kind=np.full((n,), cutoff, np.int32),
        label_params=np.zeros((n, gates_lib.NUM_PARAMS), np.float32),
        kind=np.full((n, n), cutoff, np.int32),
        params=np.zeros((n, n, gates_lib.NUM_PARAMS), np.float32),
        loss_kind=np.zeros((n, n), np.int32),
        loss_param=np.zeros((n, n), np.float32))
    for (src, tgt), e in self.edges.items():
      if src == LABEL:
        table.label_kind[tgt] = e.gate.kind.id
        table.label_params[tgt] = e.gate.params()
      else:
        table.kind[src, tgt] = e.gate.kind.id
        table.params[src, tgt] = e.gate.params()
        table.loss_kind[src, tgt] = losses_lib.BY_NAME[e.loss].id
        table.loss_param[src, tgt] = (
            e.loss_param if e.loss_param is not None
            else losses_lib.BY_NAME[e.loss].default_param)
    return table

  # --- JSON ----------------------------------------------------------------

  def to_json(self) -> dict:
    return {
        "nodes": [dataclasses.asdict(n) for n in self.nodes],
        "edges": [{"source": s, "target": t, "gate": e.gate.to_json(),
                   "loss": e.loss, "loss_param": e.loss_param}
                  for (s, t), e in self.edges.items()],
        "target": self.target,
        "reduction": self.reduction,
    }

  def dumps(self) -> str:
    return json.dumps(self.to_json(), indent=2)

  @classmethod
  def from_json(cls, obj: dict | str) -> "GraphSpec":
    if isinstance(obj, str):
      obj = json.loads(obj)
    if not isinstance(obj, dict):
      raise _err("spec", obj, "a JSON object")
    unknown = set(obj) - {"nodes", "edges", "target", "reduction"}
    if unknown:
      raise _err("spec keys", sorted(unknown),
                 ["nodes", "edges", "target", "reduction"])
    if not isinstance(obj.get("nodes"), list):
      raise _err("nodes", obj.get("nodes"), "a list of {'model': ...}")
    nodes = []
    for i, n in enumerate(obj["nodes"]):
      if isinstance(n, str):
        n = {"model": n}
      if not isinstance(n, dict) or set(n) - {"model", "checkpoint"}:
        raise _err(f"nodes[{i}]", n, "{'model': str, 'checkpoint': str|null}")
      nodes.append(Node(n.get("model"), n.get("checkpoint")))
    edges = {}
    for i, e in enumerate(obj.get("edges", [])):
      if not isinstance(e, dict) or "source" not in e or "target" not in e:
        raise _err(f"edges[{i}]", e, "{'source', 'target', 'gate', ...}")
      try:
        gate = gates_lib.from_json(e.get("gate"))
      except gates_lib.GateError as err:
        raise GraphSpecError(f"edges[{i}].gate: {err}") from None
      key = (e["source"], e["target"])
      if key in edges:
        raise _err(f"edges[{i}]", key, "each (source, target) once")
      edges[key] = Edge(gate, e.get("loss"), e.get("loss_param"))
    return cls(nodes=tuple(nodes), edges=edges,
               target=obj.get("target", 0),
               reduction=obj.get("reduction", "mean"))

  @classmethod
  def load(cls, path: str) -> "GraphSpec":
    with open(path) as f:
      return cls.from_json(json.load(f))

  def save(self, path: str) -> None:
    with open(path, "w") as f:
      f.write(self.dumps())


def stack_edge_tables(tables) -> EdgeTable:
  """Stacks edge tables along a new leading axis: a population for ``jax.vmap``."""
  return EdgeTable(*(np.stack(xs) for xs in zip(*tables)))
