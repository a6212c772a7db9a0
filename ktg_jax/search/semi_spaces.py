"""The ch.5 (semi-supervised) search space, as data (docs/papers.md §4, §5 ch.5).

A ``SemiSpace`` is a graph of N nodes (node 0 the target) whose every edge —
label -> node, node -> node *and self-loops* (ch.5 eq 5.9:
``L_t = G_y,t(L_y,t) + G_t,t(L_t,t) + sum_s G_s,t(L_s,t)``) — gets a gate from
``gates`` and, for node edges, a loss from ``losses``. It implements the one
space protocol of ``ktg_jax.search.space_ops``; parameters ``model_{i}``,
``gate_{s}_{t}``, ``loss_{s}_{t}`` (``s`` may be ``label``), constrained by
``fixed`` / ``narrowed``. The gates have no searched parameter (Threshold:
FixMatch's ``tau = TAU``). The presets (Fig 5.4's FixMatch space, Fig 5.5's
diverse space) are in ``ktg_jax.search.presets``.

Edge losses (``EDGE_LOSSES``, a registry): ``pseudo_label`` (source on the
weak view -> target on the strong view, unlabelled samples: with a Threshold
gate this is FixMatch), ``consistency`` (KL, weak -> strong, all samples), and
the **EMA edge** (``ema``, ch.5 §5.2.3): choosing it on ``s -> t`` (gate not
Cutoff) makes node ``t`` an EMA model of node ``s`` (decay ``ema_decay``); an
EMA node takes no gradient, so its other incoming edges are dropped. Nodes
that never learn (every incoming edge Cutoff, no EMA edge) become frozen
supervised-pretrained teachers when ``pretrained_checkpoints`` has their
model; otherwise the point is infeasible (``space_ops.InfeasiblePoint``), as
are a target that never learns, two EMA edges into one node and an EMA of a
node that does not learn.

Example:
  >>> space = SemiSpace("s", 1, "small_cnn", (), gates=("through", "cutoff"))
  >>> space.size().plain  # gate_label_0 x (gate_0_0 x loss_0_0)
  8
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from ktg_jax.families.semi import ema as ema_nodes
from ktg_jax.core import LABEL, Node
from ktg_jax.search import space_ops
from ktg_jax.search.space_ops import Choice, EdgeOption

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
SCORES = ("target", "best")


class _Fields(NamedTuple):
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
  # The EMA node's BatchNorm statistics (ktg_jax.families.semi.ema.EMA_BN_MODES); None:
  # the Node default, "batch" (searches stored before this field resume).
  ema_bn: str | None = None


def _ema_node(space, models, s, loss) -> Node | None:
  """The EMA edge s -> t: node t averages node s."""
  if loss != "ema":
    return None
  bn = {} if space.ema_bn is None else {"bn": space.ema_bn}
  return Node(models[s], kind="ema", of=s, decay=space.ema_decay, **bn)


LOSS = EdgeOption(
    "loss",  # an EMA of itself is no option on a self-loop
    lambda sp, s, t: None if s == LABEL else Choice(tuple(
        x for x in sp.losses if not (s == t and x == "ema"))),
    fields=lambda sp, models, s, loss: EDGE_LOSSES[loss], node=_ema_node)


class SemiSpace(_Fields, space_ops.Space):
  """A ch.5 space; ``score``: "target" or "best" (the better node, ch.5)."""
  __slots__ = ()
  EDGE_OPTIONS = (LOSS,)
  SELF_LOOPS = True
  FIXED_GATE_PARAMS = {"tau": TAU}
  LABEL_EDGE = {"target_view": LABEL_VIEW}
  SEMI_SUPERVISED = True

  def check(self) -> None:
    for x in self.losses:
      if x not in EDGE_LOSSES:
        raise self.error("losses", x, sorted(EDGE_LOSSES))
    if not 0.0 <= self.ema_decay < 1.0:
      raise self.error("ema_decay", self.ema_decay, "0 <= ema_decay < 1")
    if self.ema_bn is not None and self.ema_bn not in ema_nodes.EMA_BN_MODES:
      raise self.error("ema_bn", self.ema_bn, list(ema_nodes.EMA_BN_MODES))
    if self.score not in SCORES:
      raise self.error("score", self.score, sorted(SCORES))

  def never_learns(self, i: int, model: str) -> space_ops.InfeasiblePoint:
    return self.infeasible(
        f"node {i} never learns (every incoming edge Cutoff, no EMA edge) and "
        f"pretrained_checkpoints has no checkpoint for {model!r}, so it "
        "cannot be a frozen pretrained teacher")

  def describe(self) -> str:
    return (f"space {self.name!r}: {self.num_nodes} nodes, target "
            f"{self.target_model}, aux {list(self.aux_models)}, gates "
            f"{list(self.gates)}, losses {list(self.losses)}, score "
            f"{self.score}; size: {self.size()}")
