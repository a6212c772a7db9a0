"""The one search-space protocol, and the machinery every space shares.

A *space* says which graphs of N nodes (node 0 the target) a search may
propose. Every space of the papers — ch.3, ch.4, 000, 002 and 003
(``spaces.SearchSpace``) and ch.5 (``semi_spaces.SemiSpace``) — is a typed
NamedTuple of data that subclasses ``Space`` and so answers one protocol:

* ``name``; ``parameters()`` (free parameter -> domain, what a searcher
  samples), ``all_parameters()``, ``size()``;
* ``validate()`` (raises ``SpaceError`` naming the field and the allowed
  values; returns the space), ``sample(rng)`` (a uniform random point);
* ``to_spec(point)`` (the ``GraphSpec``, or ``InfeasiblePoint``),
  ``feasible(point)``, ``describe()``, ``loss_kinds()``.

A *point* is a flat dict ``{parameter name: value}`` (what Nevergrad / Ray
suggest). Parameters are ``{option}_{i}`` per node and ``{option}_{s}_{t}``
per edge (``s`` may be ``label``): e.g. ``model_1``, ``gate_label_0``,
``f_1_0``, ``loss_2_1``.

What a family adds is data: its ``NODE_OPTIONS`` and ``EDGE_OPTIONS`` tables
(``NodeOption`` / ``EdgeOption`` rows, each active when its ``when(space)``
holds) and a few class attributes (self-loops, fixed gate parameters, the
label edges' fields). Everything else is written once, here:

* edge enumeration (``edges``): label -> every node, every ordered node pair,
  and self-loops where the family has them (ch.5 eq 5.9);
* the gate of every edge (``gate_{e}``) and, unless the family fixes them,
  the continuous parameters of its gates (Sine f, phi; gamma; tau; ranges of
  ``ktg_jax.core.gates``, docs/papers.md §3) — ``{param}_{e}``;
* constraints as data — ``fixed`` (a parameter takes one value),
  ``narrowed`` (a choice keeps a subset of its options), ``tied`` (a
  parameter copies another): enough for 003's spaces A, B, C, X;
* sampling, size, validation of the common fields and of the constraints;
* the point -> graph pipeline and its feasibility rules:

  1. every edge's gate; a node option may cut all of a node's inputs
     (002's ``pretrained_{i}``: the node is a frozen teacher);
  2. an edge option may make its end node another kind of node (ch.5's EMA
     edge: ``t`` becomes an EMA of ``s``); that node takes no input, at most
     one such edge may end in a node, and its source must learn;
  3. a node *learns* when one of its remaining incoming edges is not Cutoff;
     the first active node option with a ``learner`` hook that returns a
     node makes it (000's ``ssl`` node, 002's pre-trained initialisation),
     else ``Node(model)``;
  4. a node that never learns: **the target must learn** (else the point is
     infeasible); another node becomes a frozen pre-trained teacher — from
     the first node option with a ``frozen`` hook that returns a node, else
     from ``pretrained_checkpoints[model]`` — or the point is infeasible
     (docs/papers.md §1: a frozen node needs a checkpoint);
  5. kept edges (gate not Cutoff) become ``Edge(gate, **fields)``, the fields
     from the edge options (loss, views, samples);
  6. the family's ``score_node`` (ch.4's ensemble) is appended as the target.

``InfeasiblePoint`` from ``to_spec`` is what ``feasible`` returns False on;
the Nevergrad parametrization registers ``Feasible(space)`` as a cheap
constraint, so searches sample only feasible graphs (uniformly among them,
for random search).

Adding a node option is one table row. E.g. an auxiliary node that may be a
frozen teacher loaded from a checkpoint path::

  NodeOption("teacher", lambda sp: Choice((False, True)), aux_only=True,
             when=lambda sp: bool(sp.teacher_checkpoint), cuts_inputs=bool,
             frozen=lambda sp, model, v: Node(model, sp.teacher_checkpoint)
             if v else None)

Example:
  >>> from ktg_jax.search import presets
  >>> space = presets.get("tiny", num_nodes=1, gates=("through", "linear"))
  >>> space.parameters()
  {'gate_label_0': Choice(options=('through', 'linear'))}
  >>> space.to_spec({"gate_label_0": "linear"}).gate("label", 0).name
  'linear'
  >>> space.feasible({"gate_label_0": "cutoff"})
  False
"""

from __future__ import annotations

import math
import types
from typing import Any, Callable, Mapping, NamedTuple

from ktg_jax.core import gates as gates_lib
from ktg_jax import models as models_lib
from ktg_jax.core import LABEL, Edge, GraphSpec, Node


class SpaceError(ValueError):
  """A search space field is invalid; the message names the field and value."""


class InfeasiblePoint(ValueError):
  """A sampled point has no valid graph (e.g. the target gets no edge)."""


# --- parameter domains ----------------------------------------------------

class Choice(NamedTuple):
  options: tuple


class Uniform(NamedTuple):
  lower: float
  upper: float


class LogUniform(NamedTuple):
  lower: float
  upper: float


# Continuous gate parameters and their ranges (docs/papers.md §3; gates.py).
GATE_PARAM_DOMAINS = {
    "f": Uniform(*gates_lib.SINE_F_RANGE),
    "phi": Uniform(*gates_lib.SINE_PHI_RANGE),
    "gamma": LogUniform(*gates_lib.GAMMA_RANGE),
    "tau": Uniform(*gates_lib.TAU_RANGE),
    "ramp": Uniform(*gates_lib.RAMP_RANGE),
}


class SpaceSize(NamedTuple):
  """``plain``: product of the discrete choices; ``thesis``: the thesis's
  ``plain / 2`` (docs/papers.md §4; the /2 is never explained, 003 rounds it
  up); ``continuous``: number of continuous dimensions on top (0 = finite)."""
  plain: int
  thesis: int
  continuous: int

  def __str__(self):
    extra = (f" x {self.continuous} continuous dims" if self.continuous
             else "")
    return (f"{self.plain:,} graphs (plain product){extra}; "
            f"{self.thesis:,} with the thesis's /2 convention")


# --- option tables ----------------------------------------------------------

def _always(space) -> bool:
  del space
  return True


class NodeOption(NamedTuple):
  """A parameter ``{name}_{i}`` of every node (``aux_only``: nodes 1..N-1).

  ``domain(space)``: its ``Choice``. ``when(space)``: whether the space has
  it. Hooks (None: none), each given the space, the node's model and the
  option's value:
  ``cuts_inputs(value)``: True cuts every incoming edge (gate Cutoff);
  ``learner(space, model, value)``: the node a *learning* node becomes
  (None: the next option decides);
  ``frozen(space, model, value)``: the node a node that *never learns*
  becomes (None: the next option, then ``pretrained_checkpoints``).
  """
  name: str
  domain: Callable[[Any], Choice]
  aux_only: bool = False
  when: Callable[[Any], bool] = _always
  cuts_inputs: Callable[[Any], bool] | None = None
  learner: Callable[..., Node | None] | None = None
  frozen: Callable[..., Node | None] | None = None


class EdgeOption(NamedTuple):
  """A parameter ``{name}_{s}_{t}`` of the edges ``domain`` gives one for.

  ``domain(space, s, t)``: its domain, or None (the edge has no such
  parameter). ``when(space)``: whether the space has it. Hooks, given the
  space, the node models, the source ``s`` and the option's value:
  ``fields(space, models, s, value)``: ``Edge`` fields of a kept edge (loss,
  views, samples); ``node(space, models, s, value)``: a node the edge's end
  becomes when the edge is not Cutoff (None: none) — ch.5's EMA edge.
  """
  name: str
  domain: Callable[[Any, Any, int], Any]
  when: Callable[[Any], bool] = _always
  fields: Callable[..., dict] | None = None
  node: Callable[..., Node | None] | None = None


# ``model_{i}``: every family's auxiliary nodes choose their model.
MODEL = NodeOption("model", lambda space: Choice(tuple(space.aux_models)),
                   aux_only=True)


def edge_name(source, target: int) -> str:
  return f"{source}_{target}"


def edges(num_nodes: int, self_loops: bool = False) -> list[tuple]:
  """Every edge: label -> each node, then every ordered node pair (``t``
  outer, ``s`` inner), self-loops included when ``self_loops``."""
  out = [(LABEL, t) for t in range(num_nodes)]
  out += [(s, t) for t in range(num_nodes) for s in range(num_nodes)
          if self_loops or s != t]
  return out


def _in_domain(domain, value) -> bool:
  if isinstance(domain, Choice):
    return value in domain.options
  return (isinstance(value, (int, float)) and
          domain.lower <= value <= domain.upper)


def _gate_param_names(gate_names) -> list[str]:
  """The continuous parameters of ``gate_names``, in order of appearance."""
  names = []
  for g in gate_names:
    for p in gates_lib.BY_NAME[g].param_names:
      if p not in names:
        names.append(p)
  return names


class Space:
  """The protocol of every search space, and the machinery they share.

  A subclass is also a NamedTuple with at least the fields ``name``,
  ``num_nodes``, ``target_model``, ``aux_models``, ``gates``, ``fixed``,
  ``narrowed``, ``pretrained_checkpoints`` (``tied`` when it has ties), and
  sets the family's tables and attributes below.
  """
  __slots__ = ()

  NODE_OPTIONS: tuple[NodeOption, ...] = (MODEL,)   # in parameter order
  EDGE_OPTIONS: tuple[EdgeOption, ...] = ()         # after gate_, {param}_
  SELF_LOOPS = False          # whether node i -> node i edges exist
  # None: every continuous parameter of the space's gates is searched
  # (``{param}_{e}``); a mapping: none is, these values are used, and a gate
  # with another parameter is not allowed (ch.5: Threshold's tau).
  FIXED_GATE_PARAMS: Mapping[str, float] | None = None
  LABEL_EDGE: Mapping[str, Any] = types.MappingProxyType({})  # label fields
  SEMI_SUPERVISED = False     # trained on a labelled + unlabelled split
  tied: Mapping[str, str] = types.MappingProxyType({})

  # --- what a family may override --------------------------------------------

  def check(self) -> None:
    """The family's own field checks (raise ``self.error(...)``)."""

  def score_node(self, num_nodes: int) -> Node | None:
    """A node appended as the target (the score), or None (node 0 is)."""
    del num_nodes
    return None

  def loss_kinds(self) -> tuple[str, ...]:
    """The loss kinds every graph of the space may select; a search compiles
    them all into one program (``compile(..., loss_kinds=...)``). Empty: each
    graph compiles the losses it has (``fit``'s default)."""
    return ()

  def describe(self) -> str:
    """One paragraph for logs: what is searched and how big it is."""
    return f"space {self.name!r}: {self.num_nodes} nodes; size: {self.size()}"

  # --- parameters ---------------------------------------------------------------

  def node_options(self) -> tuple[NodeOption, ...]:
    return tuple(o for o in self.NODE_OPTIONS if o.when(self))

  def edge_options(self) -> tuple[EdgeOption, ...]:
    return tuple(o for o in self.EDGE_OPTIONS if o.when(self))

  def edges(self) -> list[tuple]:
    return edges(self.num_nodes, self.SELF_LOOPS)

  def gate_params(self) -> list[str]:
    """The searched continuous parameters of the space's gates."""
    if self.FIXED_GATE_PARAMS is not None:
      return []
    return _gate_param_names(self.gates)

  def all_parameters(self) -> dict[str, Any]:
    """Every parameter of the space and its domain, before constraints."""
    params = {}
    for opt in self.node_options():
      for i in range(1 if opt.aux_only else 0, self.num_nodes):
        params[f"{opt.name}_{i}"] = opt.domain(self)
    for s, t in self.edges():
      e = edge_name(s, t)
      params[f"gate_{e}"] = Choice(tuple(self.gates))
      for p in self.gate_params():
        params[f"{p}_{e}"] = GATE_PARAM_DOMAINS[p]
      for opt in self.edge_options():
        domain = opt.domain(self, s, t)
        if domain is not None:
          params[f"{opt.name}_{e}"] = domain
    return params

  def parameters(self) -> dict[str, Any]:
    """The free parameters a searcher samples: fixed and tied ones removed,
    narrowed ones with their kept options."""
    return {k: Choice(tuple(self.narrowed[k])) if k in self.narrowed else v
            for k, v in self.all_parameters().items()
            if k not in self.fixed and k not in self.tied}

  def size(self) -> SpaceSize:
    """Number of graphs: the product over the free discrete parameters."""
    plain, continuous = 1, 0
    for domain in self.parameters().values():
      if isinstance(domain, Choice):
        plain *= len(domain.options)
      else:
        continuous += 1
    return SpaceSize(plain, math.ceil(plain / 2), continuous)

  def sample(self, rng) -> dict[str, Any]:
    """A uniform random point (docs/papers.md §4 random graphs; ``rng``: a
    numpy Generator); it may be infeasible. Searches sample through
    Nevergrad; this is for tests and quick looks."""
    point = {}
    for k, domain in self.parameters().items():
      if isinstance(domain, Choice):
        point[k] = domain.options[rng.integers(len(domain.options))]
      elif isinstance(domain, LogUniform):
        point[k] = float(math.exp(rng.uniform(math.log(domain.lower),
                                              math.log(domain.upper))))
      else:
        point[k] = float(rng.uniform(domain.lower, domain.upper))
    return point

  # --- validation -----------------------------------------------------------------

  def error(self, field, value, allowed) -> SpaceError:
    return SpaceError(f"space {self.name!r}: {field}={value!r} is invalid; "
                      f"allowed: {allowed}")

  def validate(self):
    """Raises SpaceError naming the first bad field; returns the space."""
    n = self.num_nodes
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
      raise self.error("num_nodes", n, "an int >= 1")
    for field, names in (("target_model", [self.target_model]),
                         ("aux_models", self.aux_models)):
      for m in names:
        if not models_lib.exists(m):
          raise self.error(field, m, models_lib.names())
    if n > 1 and not self.aux_models:
      raise self.error("aux_models", self.aux_models, "at least one model")
    if not self.gates:
      raise self.error("gates", self.gates, sorted(gates_lib.GATE_TYPES))
    for g in self.gates:
      if g not in gates_lib.GATE_TYPES:
        raise self.error("gates", g, sorted(gates_lib.GATE_TYPES))
      fixed = self.FIXED_GATE_PARAMS
      if fixed is not None and set(gates_lib.BY_NAME[g].param_names) - set(
          fixed):
        raise self.error("gates", g, f"gates without continuous parameters "
                         f"(fixed: {dict(fixed)}) of "
                         f"{sorted(gates_lib.GATE_TYPES)}")
    self.check()
    self._check_constraints()
    return self

  def _check_constraints(self) -> None:
    every = self.all_parameters()
    for k, v in self.fixed.items():
      if k not in every:
        raise self.error("fixed", k, sorted(every))
      if not _in_domain(every[k], v):
        raise self.error(f"fixed[{k!r}]", v, every[k])
    for k, kept in self.narrowed.items():
      if k not in every or not isinstance(every[k], Choice):
        raise self.error("narrowed", k, "a choice parameter")
      if not kept or set(kept) - set(every[k].options):
        raise self.error(f"narrowed[{k!r}]", kept, f"a non-empty subset of "
                         f"{every[k].options}")
    for k, src in self.tied.items():
      if k not in every or src not in every or src in self.tied or k == src:
        raise self.error(f"tied[{k!r}]", src, "an untied parameter of the "
                         "same kind")
      if every[k] != every[src]:
        raise self.error(f"tied[{k!r}]", src, f"a parameter with domain "
                         f"{every[k]}")

  # --- point -> graph ---------------------------------------------------------

  def resolve(self, point: Mapping[str, Any]) -> dict[str, Any]:
    """The full assignment: the point, plus fixed values, plus tied copies."""
    full = dict(self.fixed)
    full.update({k: v for k, v in point.items() if k not in self.fixed})
    for k, src in self.tied.items():
      full[k] = full[src] if src in full else point.get(src)
    missing = sorted(set(self.all_parameters()) - set(full))
    if missing:
      raise InfeasiblePoint(f"space {self.name!r}: point lacks {missing}")
    return full

  def infeasible(self, why: str) -> InfeasiblePoint:
    return InfeasiblePoint(f"space {self.name!r}: {why}")

  def _gate(self, full: Mapping[str, Any], e: str) -> gates_lib.Gate:
    name = full[f"gate_{e}"]
    fixed = self.FIXED_GATE_PARAMS or {}
    return gates_lib.GATE_TYPES[name](**{
        p: float(fixed[p] if p in fixed else full[f"{p}_{e}"])
        for p in gates_lib.BY_NAME[name].param_names})

  def never_learns(self, i: int, model: str) -> InfeasiblePoint:
    """The reason a non-target node that never learns has no frozen node."""
    return self.infeasible(
        f"every edge into node {i} is Cutoff, so it is a frozen pre-trained "
        f"node, and pretrained_checkpoints has no checkpoint for model "
        f"{model!r} (docs/papers.md §1)")

  def _made_by(self, values, hook: str, model: str) -> Node | None:
    """The node the first node option's ``hook`` makes (None: none does);
    ``values``: [(option, its value at this node)]."""
    for option, value in values:
      make = getattr(option, hook)
      node = make(self, model, value) if make else None
      if node is not None:
        return node
    return None

  def to_spec(self, point: Mapping[str, Any]) -> GraphSpec:
    """The graph a point stands for; raises InfeasiblePoint (module doc)."""
    full = self.resolve(point)
    params = self.all_parameters()
    models = [self.target_model] + [full[f"model_{i}"]
                                    for i in range(1, self.num_nodes)]
    node_opts = [(o, i) for o in self.node_options()
                 for i in range(1 if o.aux_only else 0, self.num_nodes)]
    cut = {i for o, i in node_opts
           if o.cuts_inputs and o.cuts_inputs(full[f"{o.name}_{i}"])}
    gates = {(s, t): gates_lib.Cutoff() if t in cut else
             self._gate(full, edge_name(s, t)) for s, t in self.edges()}
    # 2. edges that make their end node (ch.5's EMA edge)
    made: dict[int, tuple] = {}
    for (s, t), g in gates.items():
      for o in self.edge_options():
        key = f"{o.name}_{edge_name(s, t)}"
        node = (o.node(self, models, s, full[key]) if o.node and key in
                params and g.name != "cutoff" else None)
        if node is not None:
          if t in made:
            raise self.infeasible(f"two {node.kind.upper()} edges into node "
                                  f"{t} ({made[t][0]} and {s})")
          made[t] = (s, node)
    # 5. the kept edges, and 3. who learns
    kept = {}
    for (s, t), g in gates.items():
      if t in made or g.name == "cutoff":
        continue
      fields = dict(self.LABEL_EDGE) if s == LABEL else {}
      for o in self.edge_options():
        key = f"{o.name}_{edge_name(s, t)}"
        if o.fields and key in params:
          fields.update(o.fields(self, models, s, full[key]))
      kept[(s, t)] = Edge(g, **fields)
    learns = {t for _, t in kept}
    nodes = []
    for i, model in enumerate(models):
      values = [(o, full[f"{o.name}_{i}"]) for o, j in node_opts if j == i]
      if i in made:
        s, node = made[i]
        if s not in learns:
          raise self.infeasible(f"node {i} is an {node.kind.upper()} of node "
                                f"{s}, which does not learn")
      elif i in learns:
        node = self._made_by(values, "learner", model) or Node(model)
      elif i == 0:  # 4. the target must learn
        raise self.infeasible("every edge into the target node 0 is Cutoff, "
                              "so it never learns")
      else:
        node = self._made_by(values, "frozen", model)
        if node is None and model in self.pretrained_checkpoints:
          node = Node(model, self.pretrained_checkpoints[model])
        if node is None:
          raise self.never_learns(i, model)
      nodes.append(node)
    score = self.score_node(len(nodes))
    if score is not None:  # e.g. thesis eq 4.10: the score, not an edge end
      return GraphSpec(nodes=tuple(nodes) + (score,), edges=kept,
                       target=len(nodes))
    return GraphSpec(nodes=tuple(nodes), edges=kept, target=0)

  def feasible(self, point: Mapping[str, Any]) -> bool:
    try:
      self.to_spec(point)
    except InfeasiblePoint:
      return False
    return True


class Feasible(NamedTuple):
  """Picklable ``point -> bool`` for any space (a Nevergrad constraint; a
  searcher's state is pickled on save)."""
  space: Any

  def __call__(self, point: Mapping[str, Any]) -> bool:
    return self.space.feasible(point)
