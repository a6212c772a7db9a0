"""Graph specs: nodes, gated edges, views, validation, JSON, the edge table.

A ``GraphSpec`` is data (SPEC §1). Its *structure* — node kinds and models, the
edge slots with their views and samples, the loss kinds — is what a compiled
step is specialised on; its *edge table* — gate kind and parameters and loss
kind of every edge — becomes arrays that the step reads at run time, so graphs
of one structure share one program.

Nodes are indexed 0..N-1 (``target`` is the node whose accuracy counts: a
model, an EMA or an ensemble node); node kinds are in ``ktg_jax/nodes.py``.
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
import numbers
from typing import Any, Mapping, NamedTuple, Union

import numpy as np

from ktg_jax import gates as gates_lib
from ktg_jax import losses as losses_lib
from ktg_jax import models as models_lib
from ktg_jax import nodes as nodes_lib
from ktg_jax.ssl import learner as ssl_learner
from ktg_jax.ssl import objectives as ssl_objectives

LABEL = "label"
LABEL_LOSS = "ce"  # KL(onehot(y) || p_t) is the label cross-entropy (SPEC §2).
DEFAULT_VIEW = "default"
SAMPLES = ("all", "labeled", "unlabeled")
# Losses that are not constant when a node is compared with itself on one view
# (Pseudo-Label: CE to its own argmax).
SAME_VIEW_SELF_LOOP_LOSSES = ("pseudo_label",)

Source = Union[str, int]


class GraphSpecError(ValueError):
  """A graph spec field is invalid; the message names the field and value."""


def _err(field: str, value, allowed) -> GraphSpecError:
  return GraphSpecError(f"{field}={value!r} is invalid; allowed: {allowed}")


def _is_int(x) -> bool:
  return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _is_real(x) -> bool:
  return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


@dataclasses.dataclass(frozen=True)
class Node:
  """A node. ``kind``: see ``ktg_jax/nodes.py``.

  ``checkpoint``: variables to load (frozen and pre-trained nodes).
  ``of``: the node an ``ema`` node averages; ``decay``: its ``a``; ``bn``: the
  BatchNorm statistics its train-step forward uses and keeps ("batch",
  "running" or "own": ``ktg_jax.nodes``).
  ``members``: the nodes an ``ensemble`` node averages.
  ``reinit``: top-level layers of a ``pretrained`` node that are initialised
  afresh instead of loaded (the classifier head is re-initialised anyway when
  its class count differs from the checkpoint's).
  ``learner``: the self-supervised method of an ``ssl`` node (000; one of
  ``ktg_jax.ssl.objectives.OBJECTIVES``): its heads, its own objective in the
  label slot, its momentum encoder (``ktg_jax/ssl/learner.py``). Edges at an
  ``ssl`` node default to view ``"a"``; its label edge must use view "a".
  """
  model: str | None = None
  checkpoint: str | None = None
  kind: str = "trainable"
  of: int | None = None
  decay: float = nodes_lib.DEFAULT_EMA_DECAY
  bn: str = "batch"
  members: tuple[int, ...] | None = None
  reinit: tuple[str, ...] = ()
  learner: str | None = None


@dataclasses.dataclass(frozen=True)
class Edge:
  """A gated loss from a source to a target node (SPEC §1, §2).

  ``loss``: "ce" on label edges; a name of ``losses.BY_NAME`` on node edges
  (default "kl"). ``loss_param``: the loss's parameter (KD temperature); None =
  its default. Views and samples: see the module docstring.
  """
  gate: gates_lib.Gate
  loss: str | None = None
  loss_param: float | None = None
  source_view: str | None = None
  target_view: str | None = None
  samples: str | None = None


class EdgeTable(NamedTuple):
  """The edges as arrays. Node edges are indexed ``[source, target]``; the
  diagonal holds self-loops."""
  label_kind: Any   # int32[N] gate id of label -> n
  label_params: Any  # float32[N, 2]
  kind: Any         # int32[N, N]
  params: Any       # float32[N, N, 2]
  loss_kind: Any    # int32[N, N]
  loss_param: Any   # float32[N, N]


class Slot(NamedTuple):
  """One edge the compiled step computes: ``source`` is LABEL or a node."""
  source: Source
  target: int
  source_view: str | None
  target_view: str
  samples: str


_EDGE_KEYS = ("source", "target", "gate", "loss", "loss_param", "source_view",
              "target_view", "samples")
_NODE_KEYS = tuple(f.name for f in dataclasses.fields(Node))


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
      edges[key] = value if isinstance(value, Edge) else Edge(value)
    self._validate_nodes()
    n = len(self.nodes)
    view = [ssl_learner.VIEW_A if node.kind == "ssl" else DEFAULT_VIEW
            for node in self.nodes]  # an end's default view
    canon = {}
    for key, edge in edges.items():
      key = self._validate_key(key, n)
      canon[key] = self._canonical_edge(
          key, edge, (None if key[0] == LABEL else view[key[0]], view[key[1]]))
    order = lambda kv: (kv[0][0] != LABEL, str(kv[0][0]), kv[0][1])
    object.__setattr__(self, "edges", dict(sorted(canon.items(), key=order)))
    if _is_int(self.target) and not isinstance(self.target, int):
      object.__setattr__(self, "target", int(self.target))
    self._validate_graph()

  # --- validation ----------------------------------------------------------

  def _validate_nodes(self):
    if not isinstance(self.nodes, tuple) or not self.nodes:
      raise _err("nodes", self.nodes, "a non-empty list of Node")
    n = len(self.nodes)
    canon = []
    for i, node in enumerate(self.nodes):
      f = f"nodes[{i}]"
      if not isinstance(node, Node):
        raise _err(f, node, "Node(model=...) or a model name")
      node = dataclasses.replace(node)  # a copy: canonical fields set below
      if not (isinstance(node.kind, str) and node.kind in nodes_lib.KINDS):
        raise _err(f"{f}.kind", node.kind, list(nodes_lib.KINDS))
      kind = nodes_lib.KINDS[node.kind]
      if node.checkpoint is not None and not isinstance(node.checkpoint, str):
        raise _err(f"{f}.checkpoint", node.checkpoint, "a path or None")
      if kind.checkpoint == "required" and node.checkpoint is None:
        raise _err(f"{f}.checkpoint", None, f"a path: a {node.kind} node is "
                   "loaded from the checkpoint of a label-only run")
      if node.kind == "ensemble":
        if node.model is not None:
          raise _err(f"{f}.model", node.model, "None: an ensemble node has no "
                     "network of its own")
        m = node.members
        if (not isinstance(m, (tuple, list)) or len(m) < 2
            or not all(_is_int(j) and 0 <= j < n and j != i for j in m)
            or len(set(m)) != len(m)):
          raise _err(f"{f}.members", m, f"two or more distinct node indices "
                     f"in 0..{n - 1}, other than {i}")
        for j in m:
          k = self.nodes[j].kind if isinstance(self.nodes[j], Node) else None
          if not (isinstance(k, str) and k in nodes_lib.KINDS
                  and nodes_lib.KINDS[k].has_model):
            raise _err(f"{f}.members", m, "nodes with a network (not an "
                       "ensemble)")
        object.__setattr__(node, "members", tuple(int(j) for j in m))
      elif node.members is not None:
        raise _err(f"{f}.members", node.members, "None (only ensemble nodes)")
      if node.kind == "ema":
        if not (_is_int(node.of) and 0 <= node.of < n and node.of != i):
          raise _err(f"{f}.of", node.of, f"the index of another node in "
                     f"0..{n - 1}")
        src = self.nodes[node.of]
        if not isinstance(src, Node) or src.kind not in ("trainable",
                                                         "pretrained"):
          raise _err(f"{f}.of", node.of, "a trainable or pretrained node")
        if node.model is None:
          object.__setattr__(node, "model", src.model)
        if node.model != src.model:
          raise _err(f"{f}.model", node.model, f"{src.model!r}: an EMA node "
                     "has the model of the node it averages")
        object.__setattr__(node, "of", int(node.of))
        if not (_is_real(node.decay) and 0.0 <= node.decay < 1.0):
          raise _err(f"{f}.decay", node.decay, "a number in [0, 1)")
        if not (isinstance(node.bn, str) and node.bn in nodes_lib.EMA_BN_MODES):
          raise _err(f"{f}.bn", node.bn, list(nodes_lib.EMA_BN_MODES))
      elif node.of is not None:
        raise _err(f"{f}.of", node.of, "None (only ema nodes)")
      if kind.has_model and not models_lib.exists(node.model):
        raise _err(f"{f}.model", node.model, models_lib.names())
      if (not isinstance(node.reinit, (tuple, list))
          or not all(isinstance(r, str) for r in node.reinit)
          or (node.reinit and node.kind != "pretrained")):
        raise _err(f"{f}.reinit", node.reinit, "a list of layer names, only "
                   "on pretrained nodes")
      object.__setattr__(node, "reinit", tuple(node.reinit))
      if node.kind == "ssl":
        if not (isinstance(node.learner, str)
                and node.learner in ssl_objectives.BY_NAME):
          raise _err(f"{f}.learner", node.learner,
                     sorted(ssl_objectives.BY_NAME))
      elif node.learner is not None:
        raise _err(f"{f}.learner", node.learner, "None (only ssl nodes)")
      canon.append(node)
    object.__setattr__(self, "nodes", tuple(canon))

  @staticmethod
  def _validate_key(key, n):
    if not (isinstance(key, tuple) and len(key) == 2):
      raise _err("edges key", key, "(source, target) with source 'label' or "
                 "a node index")
    src, tgt = key
    node_ids = f"node indices 0..{n - 1}"
    if not (src == LABEL if isinstance(src, str)
            else _is_int(src) and 0 <= src < n):
      raise _err(f"edges[{key!r}] source", src, f"'label' or {node_ids}")
    if not (_is_int(tgt) and 0 <= tgt < n):
      raise _err(f"edges[{key!r}] target", tgt, node_ids)
    return (src if src == LABEL else int(src), int(tgt))

  @staticmethod
  def _canonical_edge(key, edge, default_views=(DEFAULT_VIEW, DEFAULT_VIEW)
                      ) -> Edge:
    """Validates one edge; returns it with explicit loss, views and samples
    (``default_views``: of its source and target when not named)."""
    field = f"edges[{key!r}]"
    try:
      gates_lib.validate(edge.gate)
    except gates_lib.GateError as e:
      raise GraphSpecError(f"{field}.gate: {e}") from None
    for name in ("source_view", "target_view"):
      v = getattr(edge, name)
      if v is not None and not (isinstance(v, str) and v):
        raise _err(f"{field}.{name}", v, "a view name (a non-empty string)")
    if key[0] == LABEL:
      if not (edge.loss is None or edge.loss == LABEL_LOSS):
        raise _err(f"{field}.loss", edge.loss, [LABEL_LOSS])
      if edge.loss_param is not None:
        raise _err(f"{field}.loss_param", edge.loss_param, "None: the label "
                   "cross-entropy has no parameter")
      if edge.source_view is not None:
        raise _err(f"{field}.source_view", edge.source_view, "None: the label "
                   "has no view")
      if edge.samples not in (None, "labeled"):
        raise _err(f"{field}.samples", edge.samples, ["labeled"])
      view = edge.target_view or default_views[1]
      if default_views[1] == ssl_learner.VIEW_A and view != ssl_learner.VIEW_A:
        raise _err(f"{field}.target_view", view, f"{ssl_learner.VIEW_A!r}: "
                   "an ssl node's own objective runs on views a and b")
      return Edge(edge.gate, LABEL_LOSS, None, None, view, "labeled")
    loss = "kl" if edge.loss is None else edge.loss
    if not (isinstance(loss, str) and loss in losses_lib.BY_NAME):
      raise _err(f"{field}.loss", edge.loss, sorted(losses_lib.BY_NAME))
    kind = losses_lib.BY_NAME[loss]
    p = edge.loss_param
    if p is not None and not (kind.param_name and _is_real(p)
                              and math.isfinite(p) and p > 0):
      allowed = (f"None or a finite number > 0 ({kind.param_name})"
                 if kind.param_name else f"None: {loss!r} has no parameter")
      raise _err(f"{field}.loss_param", p, allowed)
    param = (float(kind.default_param if p is None else p)
             if kind.param_name else None)
    samples = "all" if edge.samples is None else edge.samples
    if not (isinstance(samples, str) and samples in SAMPLES):
      raise _err(f"{field}.samples", edge.samples, list(SAMPLES))
    return Edge(edge.gate, loss, param, edge.source_view or default_views[0],
                edge.target_view or default_views[1], samples)

  def _validate_graph(self):
    n = len(self.nodes)
    if not (_is_int(self.target) and 0 <= self.target < n):
      raise _err("target", self.target, f"a node index in 0..{n - 1}")
    if self.reduction not in losses_lib.REDUCTIONS:
      raise _err("reduction", self.reduction, list(losses_lib.REDUCTIONS))
    kinds = self.node_kinds()
    for (src, tgt), e in self.edges.items():
      if not nodes_lib.KINDS[self.nodes[tgt].kind].learns:
        raise _err(f"edges[{(src, tgt)!r}] target", tgt, "a node that "
                   f"learns: node {tgt} is {self.nodes[tgt].kind!r} and takes "
                   "no gradient")
      if (src == tgt and e.source_view == e.target_view
          and e.loss not in SAME_VIEW_SELF_LOOP_LOSSES):
        raise _err(f"edges[{(src, tgt)!r}].target_view", e.target_view,
                   f"a view other than the source_view: a self-loop on one "
                   f"view with loss {e.loss!r} compares p with itself (only "
                   f"{list(SAME_VIEW_SELF_LOOP_LOSSES)} may)")
    for i, node in enumerate(self.nodes):
      if node.kind == "trainable" and kinds[i] == "frozen":
        if node.checkpoint is None:
          raise GraphSpecError(
              f"nodes[{i}].checkpoint=None is invalid: every edge into node "
              f"{i} is Cutoff, so it is a frozen pre-trained node and needs "
              "the checkpoint of a label-only run (SPEC §1); allowed: a path")
      elif node.kind == "trainable" and node.checkpoint is not None:
        raise _err(f"nodes[{i}].checkpoint", node.checkpoint, "None: node "
                   f"{i} learns (an incoming edge is not Cutoff), so a "
                   "checkpoint would be ignored; use kind='pretrained' to "
                   "start from it, or cut its edges to freeze it")
      elif node.kind == "frozen" and any(
          t == i and e.gate.name != "cutoff" for (_, t), e in self.edges.items()):
        raise _err(f"nodes[{i}].kind", "frozen", "a kind that learns: node "
                   f"{i} has an incoming edge that is not Cutoff")
    for i, node in enumerate(self.nodes):
      if node.kind == "ema" and kinds[node.of] == "frozen":
        raise _err(f"nodes[{i}].of", node.of, "a node that learns: every "
                   f"edge into node {node.of} is Cutoff")
    if kinds[self.target] == "frozen":
      raise GraphSpecError(f"target={self.target} is invalid: the target "
                           "node has no incoming edge (all Cutoff); allowed: "
                           "a node with at least one non-Cutoff incoming edge")

  # --- structure ---------------------------------------------------------

  @property
  def num_nodes(self) -> int:
    return len(self.nodes)

  def gate(self, source: Source, target: int) -> gates_lib.Gate:
    edge = self.edges.get((source, target))
    return edge.gate if edge is not None else gates_lib.Cutoff()

  def node_kinds(self) -> tuple[str, ...]:
    """Each node's effective kind: a trainable node whose incoming edges are
    all Cutoff is frozen (SPEC §1)."""
    live = {t for (_, t), e in self.edges.items() if e.gate.name != "cutoff"}
    return tuple("frozen" if n.kind == "trainable" and i not in live
                 else n.kind for i, n in enumerate(self.nodes))

  def frozen_nodes(self) -> tuple[int, ...]:
    """Nodes that never learn and are loaded from a checkpoint (SPEC §1)."""
    return tuple(i for i, k in enumerate(self.node_kinds()) if k == "frozen")

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
      if i in viewed or node.kind == "ssl":  # ssl nodes run views a, b
        continue
      if node.kind == "ensemble" and viewed & set(node.members):
        continue
      out.add(i)
    return out

  def views(self) -> set:
    """The view names the step computes: its slots' views, and view b of
    every ssl node (its own objective pairs view a with b)."""
    named = {v for s in self.slots() for v in (s.source_view, s.target_view)
             if v is not None}
    if any(n.kind == "ssl" for n in self.nodes):
      named.add(ssl_learner.VIEW_B)
    return named

  def loss_kinds(self) -> tuple[str, ...]:
    """The node-edge loss kinds of this spec ("kl" always: unlisted slots)."""
    return tuple(sorted({"kl"} | {e.loss for (s, _), e in self.edges.items()
                                  if s != LABEL}))

  def structure(self) -> tuple:
    """What a compiled step is specialised on."""
    kinds = self.node_kinds()
    nodes = tuple((k, n.model, n.of, n.decay, n.bn, n.members, n.learner)
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
      if not isinstance(n, dict) or set(n) - set(_NODE_KEYS):
        raise _err(f"nodes[{i}]", n, f"a model name or a dict with keys "
                   f"{list(_NODE_KEYS)}")
      n = dict(n)
      for k in ("members", "reinit"):
        if isinstance(n.get(k), list):
          n[k] = tuple(n[k])
      nodes.append(Node(**n))
    raw_edges = obj.get("edges", [])
    if not isinstance(raw_edges, list):
      raise _err("edges", raw_edges, "a list of {'source', 'target', 'gate'}")
    edges = {}
    for i, e in enumerate(raw_edges):
      if not isinstance(e, dict) or "source" not in e or "target" not in e:
        raise _err(f"edges[{i}]", e, "{'source', 'target', 'gate', ...}")
      if set(e) - set(_EDGE_KEYS):
        raise _err(f"edges[{i}] keys", sorted(set(e) - set(_EDGE_KEYS)),
                   list(_EDGE_KEYS))
      try:
        gate = gates_lib.from_json(e.get("gate"))
      except gates_lib.GateError as err:
        raise GraphSpecError(f"edges[{i}].gate: {err}") from None
      key = (e["source"], e["target"])
      if not all(isinstance(k, (str, int)) for k in key):
        raise _err(f"edges[{i}] (source, target)", key, "'label' or node "
                   "indices")
      if key in edges:
        raise _err(f"edges[{i}]", key, "each (source, target) once")
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
