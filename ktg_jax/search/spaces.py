"""The KTG search space of ch.3, ch.4, 000, 002 and 003, as data (docs/papers.md §4).

A ``SearchSpace`` is a graph of ``num_nodes`` nodes (node 0 the target) whose
every edge — label -> node and node -> node — carries a gate from ``gates``
(label edges included) with the continuous parameters those gates bring
(Sine f, phi; gamma; tau; ranges of ``ktg_jax.core.gates``), and whose auxiliary
nodes choose a model from ``aux_models``. It implements the one space
protocol of ``ktg_jax.search.space_ops`` (``to_spec``, ``parameters``,
``sample``, ...; constraints ``fixed`` / ``narrowed`` / ``tied`` as data);
the families are rows of its option tables, each present when its field is
set:

* ``init_sources`` (002) -> ``init_{i}`` in ``("scratch", *sources)`` for
  every node: a learning node not "scratch" becomes ``Node(model, checkpoint,
  kind="pretrained")`` (initialised from the checkpoint pre-trained on that
  source, head re-initialised when the class count differs, then trained);
* always (ch.3) -> ``model_{i}``: the auxiliary node's model;
* ``learners`` (000) -> ``learner_{i}``: every learning node is an ``ssl``
  node of that learner (its own objective is the label edge's loss), and
  ``loss_{s}_{t}`` on node edges: one of ``ssl_losses`` (DoGo / DisCo);
* ``search_pretrained`` (002) -> ``pretrained_{i}``: True cuts every input of
  auxiliary node i, so it is a frozen teacher as in KD;
* ``loss_designs`` (ch.4) -> ``loss_{s}_{t}`` on node edges: a design, the
  edge's loss ``losses_attention.kind_name(design, model of s)``;
  ``crop_sizes`` (ch.4) replaces the source family's attention crops;
* ``ensemble`` (ch.4): an ensemble node of all model nodes is appended as the
  target (the score).

Frozen nodes (docs/papers.md §1, 002). A node whose incoming edges are all Cutoff never
learns; the core requires it to be a frozen, label-pre-trained node with a
checkpoint (``space_ops``'s rule, stated once): an auxiliary node that ends up
all-Cutoff becomes ``Node(model, checkpoint=pretrained_checkpoints[model])``
when that mapping has its model; the target, or an auxiliary node whose
model has no checkpoint, makes the point infeasible.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from ktg_jax.families.ensemble import attention_losses as losses_attention
from ktg_jax.core import LABEL, Node
from ktg_jax.search.space_ops import Choice, EdgeOption, NodeOption
from ktg_jax.search import space_ops
from ktg_jax.families.ssl import learner as ssl_learner
from ktg_jax.families.ssl import objectives as ssl_objectives

# 000's edges and the same at their reference codes' scales
# (ktg_jax/families/ssl/edge_losses.py)
SSL_LOSSES = ("dogo", "disco", "dogo_t2", "disco_mean")
SCRATCH = "scratch"  # the init_{i} option of a randomly initialised node


class _Fields(NamedTuple):
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
  # ch.4: attention crop sizes for every attention design instead of the
  # source family's (thesis §4.4.1's {3,5,7} do not fit a 4 x 7 map);
  # empty: the family's (``losses_attention.kind_name``).
  crop_sizes: tuple[int, ...] = ()
  # 000: every node is an ``ssl`` node whose learner is searched
  # (``learner_{i}``; its own objective is the label edge's loss) and every
  # node edge picks one of ``ssl_losses`` (``loss_{s}_{t}``). Empty: no SSL.
  learners: tuple[str, ...] = ()
  ssl_losses: tuple[str, ...] = ("dogo", "disco")


def _node_edges(choices):
  """An edge option's domain: ``choices(space)`` on node edges only."""
  return lambda space, s, t: None if s == LABEL else Choice(tuple(
      choices(space)))


NODE_OPTIONS = (  # in parameter order
    NodeOption(  # 002: pre-trained initialisation, then trained
        "init", lambda sp: Choice((SCRATCH, *sp.init_sources)),
        when=lambda sp: bool(sp.init_sources),
        learner=lambda sp, model, source: None if source == SCRATCH else Node(
            model, sp.init_sources[source][model], kind="pretrained")),
    space_ops.MODEL,  # ch.3
    NodeOption(  # 000: a self-supervised learner per node
        "learner", lambda sp: Choice(tuple(sp.learners)),
        when=lambda sp: bool(sp.learners),
        learner=lambda sp, model, x: Node(model, kind="ssl", learner=x)),
    NodeOption(  # 002: the node is a frozen pre-trained teacher
        "pretrained", lambda sp: Choice((False, True)), aux_only=True,
        when=lambda sp: sp.search_pretrained, cuts_inputs=bool),
)

EDGE_OPTIONS = (
    EdgeOption(  # ch.4: the design's loss kind, by the source's model
        "loss", _node_edges(lambda sp: sp.loss_designs),
        when=lambda sp: bool(sp.loss_designs),
        fields=lambda sp, models, s, design: {
            "loss": losses_attention.kind_name(design, models[s],
                                               sp.crop_sizes)}),
    EdgeOption(  # 000: the edge's transfer loss (DoGo / DisCo)
        "loss", _node_edges(lambda sp: sp.ssl_losses),
        when=lambda sp: bool(sp.learners),
        fields=lambda sp, models, s, loss: {"loss": loss}),
)


class SearchSpace(_Fields, space_ops.Space):
  """A space of graphs with ``num_nodes`` nodes; node 0 is the target."""
  __slots__ = ()
  NODE_OPTIONS = NODE_OPTIONS
  EDGE_OPTIONS = EDGE_OPTIONS

  def check(self) -> None:
    for d in self.loss_designs:
      if d not in losses_attention.DESIGN_KINDS:
        raise self.error("loss_designs", d,
                         list(losses_attention.DESIGN_KINDS))
    if self.crop_sizes and (not self.loss_designs or not all(
        isinstance(k, int) and not isinstance(k, bool) and k >= 1
        for k in self.crop_sizes)):
      raise self.error("crop_sizes", self.crop_sizes, "a tuple of ints >= 1 "
                       "with loss_designs set (ch.4), or ()")
    for x in self.learners:  # a name, or a learner string with parameters
      try:
        ssl_learner.learner_params(x)
      except ValueError as e:
        raise self.error("learners", x, f"one of {sorted(ssl_objectives.BY_NAME)}"
                         f", optionally with parameters ({e})") from None
    if self.learners and (self.loss_designs or self.ensemble):
      raise self.error("learners", self.learners, "() when loss_designs or "
                       "ensemble is set (ch.4 and 000 spaces do not mix)")
    if self.learners and self.init_sources:
      raise self.error("init_sources", dict(self.init_sources), "{} when "
                       "learners is set (000's ssl nodes start from scratch)")
    for x in self.ssl_losses if self.learners else ():
      if x not in SSL_LOSSES:
        raise self.error("ssl_losses", x, list(SSL_LOSSES))
    if self.ensemble and self.num_nodes < 2:
      raise self.error("num_nodes", self.num_nodes, "an int >= 2 when "
                       "ensemble=True (an ensemble of two or more model nodes)")
    if self.search_pretrained:
      missing = sorted(set(self.aux_models) - set(self.pretrained_checkpoints))
      if missing:
        raise self.error("pretrained_checkpoints", dict(
            self.pretrained_checkpoints), f"a checkpoint for every aux model "
                         f"(missing {missing}) when search_pretrained=True")
    models = {self.target_model, *self.aux_models}
    for source, checkpoints in self.init_sources.items():
      if source == SCRATCH or not isinstance(checkpoints, Mapping) or (
          models - set(checkpoints)):
        raise self.error(f"init_sources[{source!r}]", checkpoints,
                         f"a source name other than {SCRATCH!r} mapping every "
                         f"model of the space {sorted(models)} to a checkpoint")

  def score_node(self, num_nodes: int) -> Node | None:
    """ch.4 (thesis eq 4.10): the ensemble of every model node is the score."""
    return Node(kind="ensemble", members=tuple(range(num_nodes))) \
        if self.ensemble else None

  def loss_kinds(self) -> tuple[str, ...]:
    """ch.4: every (design, model) loss kind, compiled into one program."""
    models = {self.target_model, *self.aux_models}
    return tuple(sorted({losses_attention.kind_name(d, m, self.crop_sizes)
                         for d in self.loss_designs for m in models}))

  def describe(self) -> str:
    parts = [
        f"space {self.name!r}: {self.num_nodes} nodes, target "
        f"{self.target_model}, aux models {list(self.aux_models)}, gates "
        f"{list(self.gates)}, fixed {dict(self.fixed)}, tied "
        f"{dict(self.tied)}, pretrained search {self.search_pretrained}",
        self.loss_designs and f", loss designs {list(self.loss_designs)}",
        self.crop_sizes and f", attention crops {list(self.crop_sizes)}",
        self.learners and f", ssl learners {list(self.learners)}, edge "
        f"losses {list(self.ssl_losses)}",
        self.ensemble and ", ensemble node = the score",
        f"; size: {self.size()}"]
    return "".join(p for p in parts if p)


def init_sources_from(pairs) -> dict[str, dict[str, str]]:
  """``["fractal:small_cnn=/p", ...]`` (``experiments/pretrain.py`` prints
  them) -> ``{"fractal": {"small_cnn": "/p"}}``."""
  out: dict[str, dict[str, str]] = {}
  for pair in pairs:
    head, eq, path = pair.partition("=")
    source, colon, model = head.partition(":")
    if not (eq and colon and source and model and path):
      raise space_ops.SpaceError(f"init_source={pair!r} is invalid; allowed: "
                                 "source:model=checkpoint_path")
    out.setdefault(source, {})[model] = path
  return out
