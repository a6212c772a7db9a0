"""Graph specs: nodes, gated edges, views, validation, JSON, the edge table.

A ``GraphSpec`` is data (docs/papers.md §1). Its *structure* — node kinds and models, the
edge slots with their views and samples, the loss kinds — is what a compiled
step is specialised on; its *edge table* — gate kind and parameters and loss
kind of every edge — becomes arrays that the step reads at run time, so graphs
of one structure share one program.

Nodes are indexed 0..N-1 (``target`` is the node whose accuracy counts: a
model, an EMA or an ensemble node); node kinds are in ``ktg_jax/core/nodes.py``.
The ground-truth label is the source ``"label"``. An edge not in the spec is
Cutoff.

Views and samples: a batch has a labelled part and, optionally, an unlabelled
part. An edge names the view its source sees and the view its target sees
(``source_view``, ``target_view``; default one shared view, ``"default"``) and
the samples it acts on (``samples``): label edges act on labelled samples only;
node edges on ``"all"`` (default), ``"labeled"`` or ``"unlabeled"`` ones.
Self-loops ``(i, i)`` (ch.5 eq 5.9) are edges like the others: the source side
is under ``stop_gradient``, so a self-loop with two views is Pi-model
consistency, or FixMatch with a Threshold gate and ``pseudo_label``.

Edge slots (what the step computes): every listed edge into a node that learns,
plus every unlisted pair (s, t) whose two nodes already run the default view
on all samples (Cutoff by default, at no extra forward), so graphs of the same
nodes that differ only in gates share one program.

Example:
  >>> from ktg_jax.core import gates
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
from typing import Mapping

import numpy as np

from ktg_jax.core import gates as gates_lib
from ktg_jax.core import losses as losses_lib
from ktg_jax.core import nodes as nodes_lib
from ktg_jax.core import rules
from ktg_jax.core.parts import (DEFAULT_VIEW, LABEL, Edge, EdgeTable,
                                GraphSpecError, Node, Slot, Source, field_error,
                                is_int)

_EDGE_KEYS = ("source", "target", "gate", "loss", "loss_param", "source_view",
              "target_view", "samples")
_NODE_KEYS = tuple(f.name for f in dataclasses.fields(Node))


@dataclasses.dataclass(frozen=True)
class GraphSpec:
  """A knowledge transfer graph: what ``compile`` and ``fit`` train.

  Attributes:
    nodes: the networks, ``Node``s (or model names: ``"resnet20"`` is
      ``Node("resnet20")``); index i is node i. A node is a model that
      learns, a frozen or pre-trained one (``checkpoint``), an EMA of another
      node (``of``), an ensemble of others (``members``) or a self-supervised
      learner (``learner``); see ``ktg_jax.core.nodes``.
    edges: ``{(source, target): gate or Edge}``. ``source`` is a node index
      or ``"label"`` (the ground truth); the loss on the edge (KL by default,
      ``Edge(gate, loss, ...)`` for others) is weighted by the gate
      (``ktg_jax.core.gates``: Through, Cutoff, Linear, Sine, ...). Pairs not
      listed are Cutoff. Validated on construction (``GraphSpecError`` names
      the field and the allowed values).
    target: the node whose accuracy is the graph's score.
    reduction: how per-sample losses reduce over the batch ("mean" or "sum").

  Graphs are values: equal specs compare equal, and ``save`` / ``load``
  (``to_json`` / ``from_json``) round-trip them through JSON, the format of
  ``experiments/train.py --graph=FILE.json``.

  >>> from ktg_jax.core import gates
  >>> spec = GraphSpec(nodes=["small_cnn", "small_cnn"],
  ...                  edges={("label", 0): gates.Through(),
  ...                         ("label", 1): gates.Through(),
  ...                         (1, 0): gates.Linear()})
  >>> spec.num_nodes, spec.gate(1, 0).name, spec.gate(0, 1).name
  (2, 'linear', 'cutoff')
  """

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
      raise field_error("edges", self.edges, "a mapping {(source, target): gate}")
    edges = {}
    for key, value in self.edges.items():
      edges[key] = value if isinstance(value, Edge) else Edge(value)
    object.__setattr__(self, "nodes", rules.canonical_nodes(self))
    n = len(self.nodes)
    own = [nodes_lib.KINDS[node.kind].views for node in self.nodes]
    view = [v[0] if v else DEFAULT_VIEW for v in own]  # an end's default view
    canon = {}
    for key, edge in edges.items():
      key = rules.canonical_key(key, n)
      canon[key] = rules.canonical_edge(
          key, edge, (None if key[0] == LABEL else view[key[0]], view[key[1]]),
          own[key[1]])
    order = lambda kv: (kv[0][0] != LABEL, str(kv[0][0]), kv[0][1])
    object.__setattr__(self, "edges", dict(sorted(canon.items(), key=order)))
    if is_int(self.target) and not isinstance(self.target, int):
      object.__setattr__(self, "target", int(self.target))
    rules.check_graph(self)

  # --- structure ---------------------------------------------------------

  @property
  def num_nodes(self) -> int:
    return len(self.nodes)

  def gate(self, source: Source, target: int) -> gates_lib.Gate:
    edge = self.edges.get((source, target))
    return edge.gate if edge is not None else gates_lib.Cutoff()

  def node_kinds(self) -> tuple[str, ...]:
    """Each node's effective kind: a node whose incoming edges are all Cutoff
    becomes its kind's ``when_cut`` (a trainable node is frozen, docs/papers.md §1)."""
    live = {t for (_, t), e in self.edges.items() if e.gate.name != "cutoff"}
    cut = lambda n: nodes_lib.KINDS[n.kind].when_cut
    return tuple(cut(n) if cut(n) and i not in live else n.kind
                 for i, n in enumerate(self.nodes))

  def frozen_nodes(self) -> tuple[int, ...]:
    """Nodes that never learn and are loaded from a checkpoint (docs/papers.md §1)."""
    return tuple(i for i, k in enumerate(self.node_kinds())
                 if nodes_lib.KINDS[k].loaded_frozen)

  def learning_nodes(self) -> tuple[int, ...]:
    return tuple(i for i, k in enumerate(self.node_kinds())
                 if nodes_lib.KINDS[k].learns)

  def slots(self) -> tuple[Slot, ...]:
    """The edges the step computes (module docstring): label slots first."""
    learn = set(self.learning_nodes())
    listed = [Slot(s, t, e.source_view, e.target_view, e.samples)
              for (s, t), e in self.edges.items() if t in learn]
    default = self.default_view_nodes()
    have = {(s.source, s.target) for s in listed}
    extra = [Slot(LABEL, t, None, DEFAULT_VIEW, "labeled") for t in sorted(learn)
             if t in default and (LABEL, t) not in have]
    extra += [Slot(s, t, DEFAULT_VIEW, DEFAULT_VIEW, "all")
              for t in sorted(learn) for s in sorted(default)
              if s != t and t in default and (s, t) not in have]
    key = lambda s: (s.source != LABEL, str(s.source), s.target)
    return tuple(sorted(listed + extra, key=key))

  def default_view_nodes(self) -> set:
    """Nodes that run the one shared view on every sample, as in ch.3: all but
    those at the end of an edge that names another view (views are opt-in per
    node), and ensembles with such a member. Unlisted pairs between them are
    Cutoff edges that cost no extra forward, so they are slots."""
    viewed = set()
    for (s, t), e in self.edges.items():
      if s != LABEL and e.source_view != DEFAULT_VIEW:
        viewed.add(s)
      if e.target_view != DEFAULT_VIEW:
        viewed.add(t)
    out = set()
    for i, node in enumerate(self.nodes):
      if i in viewed or nodes_lib.KINDS[node.kind].views:  # views of its own
        continue
      if node.members and viewed & set(node.members):
        continue
      out.add(i)
    return out

  def views(self) -> set:
    """The view names the step computes: its slots' views, and the own
    views of every node's kind (an ssl node's objective pairs view a with b)."""
    named = {v for s in self.slots() for v in (s.source_view, s.target_view)
             if v is not None}
    for n in self.nodes:
      named.update(nodes_lib.KINDS[n.kind].views[1:])
    return named

  def loss_kinds(self) -> tuple[str, ...]:
    """The node-edge loss kinds of this spec ("kl" always: unlisted slots)."""
    return tuple(sorted({"kl"} | {e.loss for (s, _), e in self.edges.items()
                                  if s != LABEL}))

  def structure(self) -> tuple:
    """What a compiled step is specialised on."""
    kinds = self.node_kinds()
    nodes = tuple(nodes_lib.NodeRecord(k, n.model, n.of, n.decay, n.bn,
                                       n.members, n.learner)
                  for k, n in zip(kinds, self.nodes))
    return (nodes, self.slots(), self.loss_kinds(), self.reduction)

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
        kind = losses_lib.BY_NAME[e.loss]
        table.kind[src, tgt] = e.gate.kind.id
        table.params[src, tgt] = e.gate.params()
        table.loss_kind[src, tgt] = kind.id
        table.loss_param[src, tgt] = (kind.default_param if e.loss_param is None
                                      else e.loss_param)
    return table

  # --- JSON ----------------------------------------------------------------

  def to_json(self) -> dict:
    nodes = []
    for node in self.nodes:
      d = dataclasses.asdict(node)
      d["members"] = list(node.members) if node.members else None
      d["reinit"] = list(node.reinit)
      defaults = Node()
      nodes.append({k: v for k, v in d.items()
                    if k in ("model", "kind") or v != getattr(defaults, k)
                    and not (k == "reinit" and not v)})
    return {
        "nodes": nodes,
        "edges": [{"source": s, "target": t, "gate": e.gate.to_json(),
                   "loss": e.loss, "loss_param": e.loss_param,
                   "source_view": e.source_view, "target_view": e.target_view,
                   "samples": e.samples}
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
      raise field_error("spec", obj, "a JSON object")
    unknown = set(obj) - {"nodes", "edges", "target", "reduction"}
    if unknown:
      raise field_error("spec keys", sorted(unknown),
                 ["nodes", "edges", "target", "reduction"])
    if not isinstance(obj.get("nodes"), list):
      raise field_error("nodes", obj.get("nodes"), "a list of {'model': ...}")
    nodes = []
    for i, n in enumerate(obj["nodes"]):
      if isinstance(n, str):
        n = {"model": n}
      if not isinstance(n, dict) or set(n) - set(_NODE_KEYS):
        raise field_error(f"nodes[{i}]", n, f"a model name or a dict with keys "
                   f"{list(_NODE_KEYS)}")
      n = dict(n)
      for k in ("members", "reinit"):
        if isinstance(n.get(k), list):
          n[k] = tuple(n[k])
      nodes.append(Node(**n))
    raw_edges = obj.get("edges", [])
    if not isinstance(raw_edges, list):
      raise field_error("edges", raw_edges, "a list of {'source', 'target', 'gate'}")
    edges = {}
    for i, e in enumerate(raw_edges):
      if not isinstance(e, dict) or "source" not in e or "target" not in e:
        raise field_error(f"edges[{i}]", e, "{'source', 'target', 'gate', ...}")
      if set(e) - set(_EDGE_KEYS):
        raise field_error(f"edges[{i}] keys", sorted(set(e) - set(_EDGE_KEYS)),
                   list(_EDGE_KEYS))
      try:
        gate = gates_lib.from_json(e.get("gate"))
      except gates_lib.GateError as err:
        raise GraphSpecError(f"edges[{i}].gate: {err}") from None
      key = (e["source"], e["target"])
      if not all(isinstance(k, (str, int)) for k in key):
        raise field_error(f"edges[{i}] (source, target)", key, "'label' or node "
                   "indices")
      if key in edges:
        raise field_error(f"edges[{i}]", key, "each (source, target) once")
      edges[key] = Edge(gate, e.get("loss"), e.get("loss_param"),
                        e.get("source_view"), e.get("target_view"),
                        e.get("samples"))
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
