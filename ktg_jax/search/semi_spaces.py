"""The ch.5 (semi-supervised) search spaces, as data (docs/papers.md §4, §5 ch.5).

A ``SemiSpace`` is a graph of N nodes (node 0 the target) whose every edge —
label -> node, node -> node *and self-loops* (ch.5 eq 5.9:
``L_t = G_y,t(L_y,t) + G_t,t(L_t,t) + sum_s G_s,t(L_s,t)``) — gets a gate from
``gates`` and, for node edges, a loss from ``losses``. Parameters:
``model_{i}``, ``gate_{s}_{t}``, ``loss_{s}_{t}`` (``s`` may be ``label``);
``fixed`` / ``narrowed`` constrain them as in ``ktg_jax.search.spaces``.

Edge losses (``EDGE_LOSSES``, a registry): ``pseudo_label`` (source on the
weak view -> target on the strong view, unlabelled samples: with a Threshold
gate this is FixMatch), ``consistency`` (KL, weak -> strong, all samples), and
the **EMA edge** (``ema``, ch.5 §5.2.3): choosing it on ``s -> t`` (gate not
Cutoff) makes node ``t`` an EMA model of node ``s`` (decay 0.999); an EMA
node takes no gradient, so its other incoming edges are dropped. Nodes that
never learn (every incoming edge Cutoff, no EMA edge) become frozen
supervised-pretrained teachers when ``pretrained_checkpoints`` has their
model; otherwise the point is infeasible (``spaces.InfeasiblePoint``), as are
two EMA edges into one node and an EMA of a node that does not learn.

Example:
  >>> space = fixmatch_space()
  >>> size(space).plain
  60
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

from ktg_jax import gates as gates_lib
from ktg_jax import models as models_lib
from ktg_jax import nodes as nodes_lib
from ktg_jax.graph import LABEL, Edge, GraphSpec, Node
from ktg_jax.search.spaces import (Choice, InfeasiblePoint, SpaceError,
                                   SpaceSize, edge_name)

EMA_DECAY = 0.999      # docs/papers.md §1, ch.5
TAU = 0.95             # FixMatch's threshold (docs/papers.md §2)
CH5_GATES = ("through", "cutoff", "linear", "negative_linear", "threshold")

# loss option -> the Edge fields it sets (views and samples); "ema" is no loss.
EDGE_LOSSES: dict[str, dict] = {
    "pseudo_label": dict(loss="pseudo_label", source_view="weak",
                         target_view="strong", samples="unlabeled"),
    "consistency": dict(loss="consistency", source_view="weak",
                        target_view="strong", samples="all"),
    "ema": {},
}
LABEL_VIEW = "weak"


class SemiSpace(NamedTuple):
  """A ch.5 space; ``score``: "target" or "best" (the better node, ch.5)."""
  name: str
  num_nodes: int
  target_model: str
  aux_models: tuple[str, ...]
  gates: tuple[str, ...] = CH5_GATES
  losses: tuple[str, ...] = ("pseudo_label", "consistency", "ema")
  fixed: Mapping[str, Any] = {}
  narrowed: Mapping[str, tuple] = {}
  pretrained_checkpoints: Mapping[str, str] = {}
  score: str = "target"
  description: str = ""
  ema_decay: float = EMA_DECAY  # short CPU runs need less than ch.5's 0.999
  # The EMA node's BatchNorm statistics (ktg_jax.nodes.EMA_BN_MODES); None:
  # the Node default, "batch" (searches stored before this field resume).
  ema_bn: str | None = None


def edges(num_nodes: int) -> list[tuple]:
  """Label -> each node, then every ordered node pair, self-loops included."""
  return ([(LABEL, t) for t in range(num_nodes)] +
          [(s, t) for t in range(num_nodes) for s in range(num_nodes)])


def all_parameters(space: SemiSpace) -> dict[str, Choice]:
  params = {f"model_{i}": Choice(tuple(space.aux_models))
            for i in range(1, space.num_nodes)}
  for s, t in edges(space.num_nodes):
    e = edge_name(s, t)
    params[f"gate_{e}"] = Choice(tuple(space.gates))
    if s != LABEL:  # an EMA of itself is no option on a self-loop
      params[f"loss_{e}"] = Choice(tuple(
          x for x in space.losses if not (s == t and x == "ema")))
  return params


def parameters(space: SemiSpace) -> dict[str, Choice]:
  """The free parameters: fixed removed, narrowed ones with their options."""
  return {k: Choice(tuple(space.narrowed[k])) if k in space.narrowed else v
          for k, v in all_parameters(space).items() if k not in space.fixed}


def _err(space, field, value, allowed) -> SpaceError:
  return SpaceError(f"space {space.name!r}: {field}={value!r} is invalid; "
                    f"allowed: {allowed}")


def validate(space: SemiSpace) -> SemiSpace:
  """Raises SpaceError naming the first bad field; returns the space."""
  if isinstance(space.num_nodes, bool) or not isinstance(
      space.num_nodes, int) or space.num_nodes < 1:
    raise _err(space, "num_nodes", space.num_nodes, "an int >= 1")
  for m in (space.target_model,) + tuple(space.aux_models):
    if not models_lib.exists(m):
      raise _err(space, "models", m, models_lib.names())
  for g in space.gates:
    if g not in gates_lib.GATE_TYPES or gates_lib.BY_NAME[g].param_names \
        and g != "threshold":
      raise _err(space, "gates", g, "gates without continuous parameters "
                 f"(threshold: tau={TAU}) of {sorted(gates_lib.GATE_TYPES)}")
  for x in space.losses:
    if x not in EDGE_LOSSES:
      raise _err(space, "losses", x, sorted(EDGE_LOSSES))
  if not 0.0 <= space.ema_decay < 1.0:
    raise _err(space, "ema_decay", space.ema_decay, "0 <= ema_decay < 1")
  if space.ema_bn is not None and space.ema_bn not in nodes_lib.EMA_BN_MODES:
    raise _err(space, "ema_bn", space.ema_bn, list(nodes_lib.EMA_BN_MODES))
  if space.score not in ("target", "best"):
    raise _err(space, "score", space.score, ["best", "target"])
  every = all_parameters(space)
  for k, v in space.fixed.items():
    if k not in every or v not in every[k].options:
      raise _err(space, f"fixed[{k!r}]", v, every.get(k, sorted(every)))
  for k, kept in space.narrowed.items():
    if k not in every or not kept or set(kept) - set(every[k].options):
      raise _err(space, f"narrowed[{k!r}]", kept, every.get(k, sorted(every)))
  return space


def size(space: SemiSpace) -> SpaceSize:
  """Graphs = the product over the free choices (no continuous dimension)."""
  plain = math.prod(len(d.options) for d in parameters(space).values())
  return SpaceSize(plain, math.ceil(plain / 2), 0)


def _gate(name: str):
  return gates_lib.Threshold(TAU) if name == "threshold" else \
      gates_lib.GATE_TYPES[name]()


def _ema_sources(space, full) -> dict[int, int]:
  """{EMA node t: its source s} from the chosen EMA edges (gate not Cutoff)."""
  out = {}
  for s, t in edges(space.num_nodes):
    e = edge_name(s, t)
    if s != LABEL and full[f"loss_{e}"] == "ema" and \
        full[f"gate_{e}"] != "cutoff":
      if t in out:
        raise InfeasiblePoint(f"space {space.name!r}: two EMA edges into "
                              f"node {t} ({out[t]} and {s})")
      out[t] = s
  return out


def to_spec(space: SemiSpace, point: Mapping[str, Any]) -> GraphSpec:
  """The graph of a point; raises InfeasiblePoint (see the module docstring)."""
  full = {**point, **space.fixed}
  missing = sorted(set(all_parameters(space)) - set(full))
  if missing:
    raise InfeasiblePoint(f"space {space.name!r}: point lacks {missing}")
  ema = _ema_sources(space, full)
  models = [space.target_model] + [full[f"model_{i}"]
                                   for i in range(1, space.num_nodes)]
  kept = {}
  for s, t in edges(space.num_nodes):
    e = edge_name(s, t)
    gate = full[f"gate_{e}"]
    if t in ema or gate == "cutoff":
      continue
    if s == LABEL:
      kept[(s, t)] = Edge(_gate(gate), target_view=LABEL_VIEW)
    elif full[f"loss_{e}"] != "ema":
      kept[(s, t)] = Edge(_gate(gate), **EDGE_LOSSES[full[f"loss_{e}"]])
  learns = {t for _, t in kept}
  nodes = []
  for i, model in enumerate(models):
    if i in ema:
      if ema[i] not in learns:
        raise InfeasiblePoint(f"space {space.name!r}: node {i} is an EMA of "
                              f"node {ema[i]}, which does not learn")
      bn = {} if space.ema_bn is None else {"bn": space.ema_bn}
      nodes.append(Node(models[ema[i]], kind="ema", of=ema[i],
                        decay=space.ema_decay, **bn))
    elif i in learns:
      nodes.append(Node(model))
    elif model in space.pretrained_checkpoints:
      nodes.append(Node(model, space.pretrained_checkpoints[model]))
    else:
      raise InfeasiblePoint(
          f"space {space.name!r}: node {i} never learns (every incoming edge "
          f"Cutoff, no EMA edge) and pretrained_checkpoints has no checkpoint "
          f"for {model!r}, so it cannot be a frozen pretrained teacher")
  return GraphSpec(nodes=tuple(nodes), edges=kept, target=0)


def feasible(space: SemiSpace, point: Mapping[str, Any]) -> bool:
  try:
    to_spec(space, point)
  except InfeasiblePoint:
    return False
  return True


def loss_kinds(space: SemiSpace) -> tuple[str, ...]:
  """No shared program: each graph compiles the losses it has (``fit``'s
  default), as the ch.3 spaces do."""
  del space
  return ()


def sample(space: SemiSpace, rng) -> dict[str, Any]:
  """A uniform random point (numpy Generator); may be infeasible."""
  return {k: d.options[rng.integers(len(d.options))]
          for k, d in parameters(space).items()}


def describe(space: SemiSpace) -> str:
  return (f"space {space.name!r}: {space.num_nodes} nodes, target "
          f"{space.target_model}, aux {list(space.aux_models)}, gates "
          f"{list(space.gates)}, losses {list(space.losses)}, score "
          f"{space.score}; size: {size(space)}")


# --- presets -----------------------------------------------------------------

def fixmatch_space(model: str = "wrn28_2") -> SemiSpace:
  """ch.5 Fig 5.4: ``model`` (node 0) + its EMA (node 1, fixed EMA edge 0->1);
  score = the better node; 60 graphs = label->0 gate in {Through, Positive
  Linear, Negative Linear} (3; Threshold on a one-hot label equals Through,
  Cutoff would leave no labels) x self-loop 0->0 pseudo-label (weak -> strong,
  unlabelled) in the 5 gates x EMA->0 consistency in {Through, Cutoff,
  Positive / Negative Linear} (4; the EMA teacher's confidence mask is the
  self-loop's job). Fig 5.4 itself is not in our text of the thesis: this split
  of 60 is our reconstruction (docs/papers.md §5)."""
  return SemiSpace(
      "ch5_fixmatch", 2, model, (model,),
      fixed={"model_1": model, "loss_0_1": "ema", "gate_0_1": "through",
             "loss_0_0": "pseudo_label", "loss_1_0": "consistency",
             "gate_label_1": "cutoff", "gate_1_1": "cutoff",
             "loss_1_1": "pseudo_label"},
      narrowed={"gate_label_0": ("through", "linear", "negative_linear"),
                "gate_1_0": ("through", "cutoff", "linear",
                             "negative_linear")},
      score="best", description="thesis ch.5 Fig 5.4, FixMatch-based space")


def diverse_space(num_nodes: int = 3, target_model: str = "resnet32",
                  aux_models=("resnet32", "wrn28_6")) -> SemiSpace:
  """ch.5 Fig 5.5: ResNet-32 target, aux ResNet-32 / WRN-28-6, every edge any
  of the 5 gates and (node edges) pseudo-label / consistency / EMA edge;
  1,500 graphs are *sampled* from it (ASHA), score = node 0."""
  if num_nodes not in (2, 3):
    raise SpaceError(f"space 'ch5_diverse': num_nodes={num_nodes!r} is "
                     "invalid; allowed: 2 or 3 (ch.5)")
  return SemiSpace("ch5_diverse", num_nodes, target_model, tuple(aux_models),
                   description="thesis ch.5 Fig 5.5, diverse space")


def tiny_space(num_nodes: int = 2) -> SemiSpace:
  """CPU-sized: the diverse space with small_cnn nodes (tests, README)."""
  return diverse_space(num_nodes, "small_cnn", ("small_cnn",))._replace(
      name="ch5_tiny", description="CPU-sized ch.5 space")


PRESETS = {"ch5_fixmatch": fixmatch_space, "ch5_diverse": diverse_space,
           "ch5_tiny": tiny_space}
# Graphs a ch.5 search evaluates (docs/papers.md §5): FixMatch space exhaustively.
NUM_GRAPHS = {"ch5_fixmatch": 60, "ch5_diverse": 1500}


def get(name: str, **kw) -> SemiSpace:
  """A validated preset built with ``kw``."""
  if name not in PRESETS:
    raise SpaceError(f"space={name!r} is unknown; allowed: {sorted(PRESETS)}")
  return validate(PRESETS[name](**kw))
