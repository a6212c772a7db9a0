"""Search spaces over KTG graph structures, as data (docs/papers.md §4).

A ``SearchSpace`` says, for a graph of N nodes (node 0 is the target):

* which model each auxiliary node may use (``aux_models``);
* which gates every edge may carry, label edges included (``gates``);
* the continuous parameters those gates bring (Sine f, phi; gamma; tau), with
  the ranges of ``ktg_jax.gates`` (docs/papers.md §3);
* optionally whether an auxiliary node is a frozen pre-trained teacher
  (``search_pretrained``), and how every node is initialised (002:
  ``init_sources``, below);
* constraints as data: ``fixed`` (a parameter takes one value), ``narrowed``
  (a choice parameter keeps a subset of its options) and ``tied`` (a parameter
  copies another one) — enough to write the 003 spaces A, B, C and X.

A *point* is a flat dict ``{param name: value}`` (what Nevergrad/Ray suggest);
``to_spec(space, point)`` turns it into a ``GraphSpec``. Parameter names:
``model_{i}``, ``pretrained_{i}``, ``init_{i}``, ``gate_{s}_{t}`` and
``{param}_{s}_{t}`` (e.g. ``gate_label_0``, ``f_1_0``, ``gamma_2_1``).

Frozen nodes (docs/papers.md §1, 002). A node whose incoming edges are all Cutoff never
learns; the core requires it to be a frozen, label-pre-trained node with a
checkpoint. This module's rule, stated once:

* an auxiliary node that ends up all-Cutoff becomes ``Node(model, checkpoint=
  pretrained_checkpoints[model])`` when that mapping has its model;
* ``pretrained_{i} = True`` (only in spaces with ``search_pretrained``) forces
  all of node i's incoming edges to Cutoff and attaches the checkpoint, i.e.
  the node is a frozen teacher as in KD;
* every other all-Cutoff node (the target always; an auxiliary node whose model
  has no checkpoint) makes the point *infeasible*: ``to_spec`` raises
  ``InfeasiblePoint`` and ``feasible`` returns False. The Nevergrad
  parametrization registers ``feasible`` as a cheap constraint, so searches
  sample only feasible graphs (uniformly among them, for random search).

Pre-trained initialisation (002: RN18 / PIRN18 / PFRN18 as node options).
``init_sources = {source: {model: checkpoint}}`` adds ``init_{i}`` in
``("scratch", *sources)`` for every node, target included: a node that is
not "scratch" becomes ``Node(model, checkpoint, kind="pretrained")`` —
initialised from the checkpoint pre-trained on that source (head re-initialised
when the class count differs) and then trained in the graph, not frozen. (A
node whose edges are all Cutoff follows the frozen rule above instead.)
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

from ktg_jax import gates as gates_lib
from ktg_jax import losses_attention
from ktg_jax import models as models_lib
from ktg_jax.graph import LABEL, Edge, GraphSpec, Node
from ktg_jax.ssl import objectives as ssl_objectives

SSL_LOSSES = ("dogo", "disco")  # 000's edges (ktg_jax/losses_ssl.py)


class SpaceError(ValueError):
  """A search space field is invalid; the message names the field and value."""


class InfeasiblePoint(ValueError):
  """A sampled point has no valid graph (e.g. the target gets no edge)."""


# --- parameter domains ----------------------------------------------------

SCRATCH = "scratch"  # the init_{i} option of a randomly initialised node


class Choice(NamedTuple):
  options: tuple


class Uniform(NamedTuple):
  lower: float
  upper: float


class LogUniform(NamedTuple):
  lower: float
  upper: float


# Continuous gate parameters and their ranges (docs/papers.md §3, ranges in gates.py).
GATE_PARAM_DOMAINS = {
    "f": Uniform(*gates_lib.SINE_F_RANGE),
    "phi": Uniform(*gates_lib.SINE_PHI_RANGE),
    "gamma": LogUniform(*gates_lib.GAMMA_RANGE),
    "tau": Uniform(*gates_lib.TAU_RANGE),
}


class SearchSpace(NamedTuple):
  """A space of graphs with ``num_nodes`` nodes; node 0 is the target."""
  name: str
  num_nodes: int
  target_model: str
  aux_models: tuple[str, ...]
  gates: tuple[str, ...]
  fixed: Mapping[str, Any] = {}
  narrowed: Mapping[str, tuple] = {}
  tied: Mapping[str, str] = {}
  search_pretrained: bool = False
  pretrained_checkpoints: Mapping[str, str] = {}
  description: str = ""
  init_sources: Mapping[str, Mapping[str, str]] = {}
  # ch.4: the edge-loss designs every node edge may carry (empty: "kl"), and
  # an ensemble node of all model nodes appended as the target (the score).
  loss_designs: tuple[str, ...] = ()
  ensemble: bool = False
  # 000: every node is an ``ssl`` node whose learner is searched
  # (``learner_{i}``; its own objective is the label edge's loss) and every
  # node edge picks one of ``ssl_losses`` (``loss_{s}_{t}``). Empty: no SSL.
  learners: tuple[str, ...] = ()
  ssl_losses: tuple[str, ...] = ("dogo", "disco")


class SpaceSize(NamedTuple):
  """``plain``: product of the discrete choices; ``thesis``: the thesis's
  ``plain / 2`` (docs/papers.md §4; the /2 is never explained, 003 rounds it up);
  ``continuous``: number of continuous dimensions on top (0 = finite space)."""
  plain: int
  thesis: int
  continuous: int

  def __str__(self):
    extra = (f" x {self.continuous} continuous dims" if self.continuous
             else "")
    return (f"{self.plain:,} graphs (plain product){extra}; "
            f"{self.thesis:,} with the thesis's /2 convention")


# --- names ------------------------------------------------------------------

def edge_name(source, target: int) -> str:
  return f"{source}_{target}"


def edges(num_nodes: int) -> list[tuple]:
  """Every edge: label -> each node, then every ordered node pair."""
  out = [(LABEL, t) for t in range(num_nodes)]
  out += [(s, t) for t in range(num_nodes) for s in range(num_nodes) if s != t]
  return out


def _gate_param_names(gate_names) -> list[str]:
  names = []
  for g in gate_names:
    for p in gates_lib.BY_NAME[g].param_names:
      if p not in names:
        names.append(p)
  return names


def all_parameters(space: SearchSpace) -> dict[str, Any]:
  """Every parameter of the space and its domain, before constraints."""
  params = {}
  if space.init_sources:
    for i in range(space.num_nodes):
      params[f"init_{i}"] = Choice((SCRATCH, *space.init_sources))
  for i in range(1, space.num_nodes):
    params[f"model_{i}"] = Choice(tuple(space.aux_models))
  for i in range(space.num_nodes if space.learners else 0):
    params[f"learner_{i}"] = Choice(tuple(space.learners))
  for i in range(1, space.num_nodes):
    if space.search_pretrained:
      params[f"pretrained_{i}"] = Choice((False, True))
  for s, t in edges(space.num_nodes):
    e = edge_name(s, t)
    params[f"gate_{e}"] = Choice(tuple(space.gates))
    for p in _gate_param_names(space.gates):
      params[f"{p}_{e}"] = GATE_PARAM_DOMAINS[p]
    if space.loss_designs and s != LABEL:
      params[f"loss_{e}"] = Choice(tuple(space.loss_designs))
    elif space.learners and s != LABEL:
      params[f"loss_{e}"] = Choice(tuple(space.ssl_losses))
  return params


def parameters(space: SearchSpace) -> dict[str, Any]:
  """The free parameters a searcher samples: fixed and tied ones removed,
  narrowed ones with their kept options."""
  return {k: Choice(tuple(space.narrowed[k])) if k in space.narrowed else v
          for k, v in all_parameters(space).items()
          if k not in space.fixed and k not in space.tied}


# --- validation -------------------------------------------------------------

def _err(space, field, value, allowed) -> SpaceError:
  return SpaceError(f"space {space.name!r}: {field}={value!r} is invalid; "
                    f"allowed: {allowed}")


def _in_domain(domain, value) -> bool:
  if isinstance(domain, Choice):
    return value in domain.options
  return (isinstance(value, (int, float)) and
          domain.lower <= value <= domain.upper)


def validate(space: SearchSpace) -> SearchSpace:
  """Raises SpaceError naming the first bad field; returns the space."""
  if isinstance(space.num_nodes, bool) or not isinstance(space.num_nodes, int) \
      or space.num_nodes < 1:
    raise _err(space, "num_nodes", space.num_nodes, "an int >= 1")
  for field, names in (("target_model", [space.target_model]),
                       ("aux_models", space.aux_models)):
    for m in names:
      if not models_lib.exists(m):
        raise _err(space, field, m, models_lib.names())
  if space.num_nodes > 1 and not space.aux_models:
    raise _err(space, "aux_models", space.aux_models, "at least one model")
  if not space.gates:
    raise _err(space, "gates", space.gates, sorted(gates_lib.GATE_TYPES))
  for d in space.loss_designs:
    if d not in losses_attention.DESIGN_KINDS:
      raise _err(space, "loss_designs", d, list(losses_attention.DESIGN_KINDS))
  for x in space.learners:
    if x not in ssl_objectives.BY_NAME:
      raise _err(space, "learners", x, sorted(ssl_objectives.BY_NAME))
  if space.learners and (space.loss_designs or space.ensemble):
    raise _err(space, "learners", space.learners, "() when loss_designs or "
               "ensemble is set (ch.4 and 000 spaces do not mix)")
  for x in space.ssl_losses if space.learners else ():
    if x not in SSL_LOSSES:
      raise _err(space, "ssl_losses", x, list(SSL_LOSSES))
  if space.ensemble and space.num_nodes < 2:
    raise _err(space, "num_nodes", space.num_nodes, "an int >= 2 when "
               "ensemble=True (an ensemble of two or more model nodes)")
  for g in space.gates:
    if g not in gates_lib.GATE_TYPES:
      raise _err(space, "gates", g, sorted(gates_lib.GATE_TYPES))
  every = all_parameters(space)
  for k, v in space.fixed.items():
    if k not in every:
      raise _err(space, "fixed", k, sorted(every))
    if not _in_domain(every[k], v):
      raise _err(space, f"fixed[{k!r}]", v, every[k])
  for k, kept in space.narrowed.items():
    if k not in every or not isinstance(every[k], Choice):
      raise _err(space, "narrowed", k, "a choice parameter")
    if not kept or set(kept) - set(every[k].options):
      raise _err(space, f"narrowed[{k!r}]", kept, f"a non-empty subset of "
                 f"{every[k].options}")
  for k, src in space.tied.items():
    if k not in every or src not in every or src in space.tied or k == src:
      raise _err(space, f"tied[{k!r}]", src, "an untied parameter of "
                 "the same kind")
    if every[k] != every[src]:
      raise _err(space, f"tied[{k!r}]", src, f"a parameter with domain "
                 f"{every[k]}")
  if space.search_pretrained:
    missing = sorted(set(space.aux_models) - set(space.pretrained_checkpoints))
    if missing:
      raise _err(space, "pretrained_checkpoints", dict(
          space.pretrained_checkpoints), f"a checkpoint for every aux model "
                 f"(missing {missing}) when search_pretrained=True")
  for source, checkpoints in space.init_sources.items():
    models = {space.target_model, *space.aux_models}
    if source == SCRATCH or not isinstance(checkpoints, Mapping) or (
        models - set(checkpoints)):
      raise _err(space, f"init_sources[{source!r}]", checkpoints,
                 f"a source name other than {SCRATCH!r} mapping every model "
                 f"of the space {sorted(models)} to a checkpoint")
  return space


# --- size -------------------------------------------------------------------

def size(space: SearchSpace) -> SpaceSize:
  """Number of graphs: the product over the free discrete parameters."""
  plain, continuous = 1, 0
  for domain in parameters(space).values():
    if isinstance(domain, Choice):
      plain *= len(domain.options)
    else:
      continuous += 1
  return SpaceSize(plain, math.ceil(plain / 2), continuous)


# --- point -> graph ---------------------------------------------------------

def resolve(space: SearchSpace, point: Mapping[str, Any]) -> dict[str, Any]:
  """The full assignment: the point, plus fixed values, plus tied copies."""
  full = dict(space.fixed)
  full.update({k: v for k, v in point.items() if k not in space.fixed})
  for k, src in space.tied.items():
    full[k] = full[src] if src in full else point.get(src)
  missing = sorted(set(all_parameters(space)) - set(full))
  if missing:
    raise InfeasiblePoint(f"space {space.name!r}: point lacks {missing}")
  return full


def _gate(name: str, full: Mapping[str, Any], e: str):
  fields = gates_lib.BY_NAME[name].param_names
  return gates_lib.GATE_TYPES[name](**{p: float(full[f"{p}_{e}"])
                                       for p in fields})


def _node_gates(space, full):
  """{(source, target): gate}, with pretrained nodes' inputs forced to Cutoff."""
  out = {}
  for s, t in edges(space.num_nodes):
    if space.search_pretrained and t > 0 and bool(full[f"pretrained_{t}"]):
      out[(s, t)] = gates_lib.Cutoff()
    else:
      out[(s, t)] = _gate(full[f"gate_{edge_name(s, t)}"], full,
                          edge_name(s, t))
  return out


def to_spec(space: SearchSpace, point: Mapping[str, Any]) -> GraphSpec:
  """The graph a sampled point stands for; raises InfeasiblePoint (see top)."""
  full = resolve(space, point)
  edge_gates = _node_gates(space, full)
  models = [space.target_model] + [full[f"model_{i}"]
                                   for i in range(1, space.num_nodes)]
  nodes = []
  for i, model in enumerate(models):
    all_cutoff = all(g.name == "cutoff" for (_, t), g in edge_gates.items()
                     if t == i)
    source = full.get(f"init_{i}", SCRATCH)
    if not all_cutoff and space.learners:  # 000: an ssl node
      nodes.append(Node(model, kind="ssl", learner=full[f"learner_{i}"]))
    elif not all_cutoff and source != SCRATCH:
      nodes.append(Node(model, space.init_sources[source][model],
                        kind="pretrained"))
    elif not all_cutoff:
      nodes.append(Node(model))
    elif i == 0:
      raise InfeasiblePoint(f"space {space.name!r}: every edge into the "
                            "target node 0 is Cutoff, so it never learns")
    elif model in space.pretrained_checkpoints:
      nodes.append(Node(model, space.pretrained_checkpoints[model]))
    else:
      raise InfeasiblePoint(
          f"space {space.name!r}: every edge into node {i} is Cutoff, so it "
          f"is a frozen pre-trained node, and pretrained_checkpoints has no "
          f"checkpoint for model {model!r} (docs/papers.md §1)")
  kept = {k: g for k, g in edge_gates.items() if g.name != "cutoff"}
  if space.loss_designs:  # ch.4: the design's loss kind, by the source's model
    kept = {(s, t): g if s == LABEL else Edge(g, losses_attention.kind_name(
        full[f"loss_{edge_name(s, t)}"], models[s]))
            for (s, t), g in kept.items()}
  if space.learners:  # 000: the edge's transfer loss (DoGo / DisCo)
    kept = {(s, t): g if s == LABEL else Edge(g, full[f"loss_{edge_name(s, t)}"])
            for (s, t), g in kept.items()}
  if space.ensemble:  # thesis eq 4.10: the score, not an edge end
    n = len(nodes)
    return GraphSpec(nodes=tuple(nodes) + (Node(kind="ensemble", members=tuple(
        range(n))),), edges=kept, target=n)
  return GraphSpec(nodes=tuple(nodes), edges=kept, target=0)


def init_sources_from(pairs) -> dict[str, dict[str, str]]:
  """``["fractal:small_cnn=/p", ...]`` (``experiments/pretrain.py`` prints
  them) -> ``{"fractal": {"small_cnn": "/p"}}``."""
  out: dict[str, dict[str, str]] = {}
  for pair in pairs:
    head, eq, path = pair.partition("=")
    source, colon, model = head.partition(":")
    if not (eq and colon and source and model and path):
      raise SpaceError(f"init_source={pair!r} is invalid; allowed: "
                       "source:model=checkpoint_path")
    out.setdefault(source, {})[model] = path
  return out


def loss_kinds(space: SearchSpace) -> tuple[str, ...]:
  """The loss kinds every graph of the space may select: a search compiles
  them all into one program (``compile(..., loss_kinds=...)``)."""
  if not space.loss_designs:
    return ()
  models = {space.target_model, *space.aux_models}
  return tuple(sorted({losses_attention.kind_name(d, m)
                       for d in space.loss_designs for m in models}))


def feasible(space: SearchSpace, point: Mapping[str, Any]) -> bool:
  try:
    to_spec(space, point)
  except InfeasiblePoint:
    return False
  return True


class Feasible(NamedTuple):
  """Picklable ``point -> bool`` (a searcher's state is pickled on save)."""
  space: SearchSpace

  def __call__(self, point) -> bool:
    return feasible(self.space, point)


def describe(space: SearchSpace) -> str:
  """One paragraph for logs: what is searched and how big it is."""
  return (f"space {space.name!r}: {space.num_nodes} nodes, target "
          f"{space.target_model}, aux models {list(space.aux_models)}, gates "
          f"{list(space.gates)}, fixed {dict(space.fixed)}, tied "
          f"{dict(space.tied)}, pretrained search {space.search_pretrained}"
          + (f", loss designs {list(space.loss_designs)}" if space.loss_designs
             else "")
          + (f", ssl learners {list(space.learners)}, edge losses "
             f"{list(space.ssl_losses)}" if space.learners else "") + (", ensemble node = the score" if space.ensemble
                         else "") + "; "
          f"size: {size(space)}")


def sample(space: SearchSpace, rng) -> dict[str, Any]:
  """A uniform random point (docs/papers.md §4 random graphs); ``rng``: numpy Generator.

  Searches sample through Nevergrad; this is for tests and quick looks.
  """
  point = {}
  for k, domain in parameters(space).items():
    if isinstance(domain, Choice):
      point[k] = domain.options[rng.integers(len(domain.options))]
    elif isinstance(domain, LogUniform):
      point[k] = float(math.exp(rng.uniform(math.log(domain.lower),
                                            math.log(domain.upper))))
    else:
      point[k] = float(rng.uniform(domain.lower, domain.upper))
  return point


# The papers' spaces live in presets.py, which builds on this module; their
# names (get, PRESETS, ch3_4gates, ...) resolve here too (PEP 562), so a
# caller needs one import.
_PRESET_NAMES = ("get", "PRESETS", "CH3_MODELS", "FOUR_GATES", "CH4_DESIGNS",
                 "CH4_GATES", "ch3_4gates", "ch3_sine", "gamma", "ssl000",
                 "ch4", "tiny")


def __getattr__(name: str):
  if name in _PRESET_NAMES:
    from ktg_jax.search import presets  # pylint: disable=import-outside-toplevel
    return getattr(presets, name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
