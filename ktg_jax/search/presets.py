"""The papers' search spaces (docs/papers.md §4-§5), by name: ``get(name, num_nodes)``.

Thesis ch.3 (4 gates, Sine), 000 (gamma gates; self-supervised learners),
003's design spaces A, B, C, X, ch.4's ensemble space, ch.5's FixMatch and
diverse spaces, and CPU-sized ones for tests. Each is a validated space of
the one protocol (``ktg_jax.search.space_ops``): a ``spaces.SearchSpace`` or,
for the ``ch5_*`` names (``SEMI_SUPERVISED``), a ``semi_spaces.SemiSpace``.

Example:
  >>> space = get("ch3_sine", 3)
  >>> space.gates, space.num_nodes
  (('sine',), 3)
  >>> get("ch5_fixmatch").size().plain
  60
"""

from __future__ import annotations

import inspect

from ktg_jax.families.ensemble import attention_losses as losses_attention
from ktg_jax.search.semi_spaces import SemiSpace
from ktg_jax.search.space_ops import SpaceError
from ktg_jax.search.spaces import SearchSpace
from ktg_jax.families.ssl import objectives as ssl_objectives

CH3_MODELS = ("resnet32", "resnet110", "wrn28_2")  # ch.3 §3.3.2 aux choices
FOUR_GATES = ("through", "cutoff", "linear", "correct")  # ch.3, 002


def ch3_4gates(num_nodes: int = 3) -> SearchSpace:
  """Thesis ch.3: ResNet32 target, aux from CH3_MODELS, 4 gates per edge."""
  return SearchSpace("ch3_4gates", num_nodes, "resnet32", CH3_MODELS,
                     FOUR_GATES, description="thesis ch.3, four gates")


def ch3_sine(num_nodes: int = 3) -> SearchSpace:
  """Thesis ch.3: every edge a Sine gate, f ~ U[0,1], phi ~ U[0, 3/4 2pi]."""
  return SearchSpace("ch3_sine", num_nodes, "resnet32", CH3_MODELS, ("sine",),
                     description="thesis ch.3 §3.2.5, Sine gates")


def gamma(num_nodes: int = 2) -> SearchSpace:
  """000: ResNet32 target, WRN28-2 aux, each edge Positive- or Negative-Gamma
  with gamma log-uniform in [0.01, 100] (gates.py convention, docs/papers.md §3)."""
  return SearchSpace("gamma", num_nodes, "resnet32", ("wrn28_2",),
                     ("positive_gamma", "negative_gamma"),
                     description="000, gamma gates for BO")


def ssl000(num_nodes: int = 2) -> SearchSpace:
  """000 §4.2: self-supervised KTG. ResNet20 target, ResNet32 aux; every node
  an ssl node of one of the seven learners, its own objective gated
  (label edge), every node edge DoGo or DisCo; gates Positive- / Negative-
  Gamma, gamma log-uniform in [0.01, 100]; searched by BO (``--protocol=bo``)
  on the target's KNN accuracy. 2 nodes: 7^2 learners x 2^4 gates x 2^2
  losses = 3,136 discrete x 4 gammas."""
  return SearchSpace("ssl000", num_nodes, "resnet20", ("resnet32",),
                     ("positive_gamma", "negative_gamma"),
                     learners=tuple(o.name for o in ssl_objectives.OBJECTIVES),
                     description="000 §4.2, self-supervised learners")


def _space_003(variant: str, num_nodes: int = 3) -> SearchSpace:
  """003 Table 1 (docs/papers.md §5). Node 0 = the paper's m1 (target), 1, 2 = m2, m3.

  A: no constraint (2^2 * 3^9 / 2 = 39,366); B: + m2 = m3 = WRN28-2 (9,842);
  C: + label->aux edges Through (1,094); X: + aux->target edges equal, in
  {Through, Linear} (486: 003 prints X's plain count, not /2).
  """
  if num_nodes != 3:
    raise SpaceError(f"space '003_{variant}': num_nodes={num_nodes!r} is "
                     "invalid; allowed: 3 (the 003 constraints name m2, m3)")
  fixed, narrowed, tied = {}, {}, {}
  if variant in "BCX":
    fixed.update(model_1="wrn28_2", model_2="wrn28_2")
  if variant in "CX":
    fixed.update(gate_label_1="through", gate_label_2="through")
  if variant == "X":
    narrowed["gate_1_0"] = ("through", "linear")
    tied["gate_2_0"] = "gate_1_0"
  return SearchSpace(f"003_{variant}", 3, "resnet32", ("resnet32", "wrn28_2"),
                     ("through", "cutoff", "linear"), fixed, narrowed, tied,
                     description=f"003 design space {variant}")


CH4_DESIGNS = tuple(losses_attention.DESIGN_KINDS)   # the six of Fig. 4.5
CH4_GATES = ("through", "cutoff", "correct", "linear")  # thesis §4.3.2


def ch4(num_nodes: int = 3, model: str = "abn_resnet20_nobypass"
        ) -> SearchSpace:
  """Thesis ch.4 (eq 4.14, Fig. 4.5): ``num_nodes`` model nodes of one fixed
  model (ABN without bypass, §4.4.1), an ensemble node as the target; every
  edge between model nodes a gate x one of the six loss designs, every label
  edge a gate. Plain size ``G^M * (6 G)^(M (M - 1))`` for M model nodes."""
  return SearchSpace("ch4", num_nodes, model, (model,), CH4_GATES,
                     loss_designs=CH4_DESIGNS, ensemble=True,
                     description="thesis ch.4 ensemble KTG: gate x loss "
                     "design per member edge, label edges gated, ensemble "
                     "accuracy the score")


def tiny(num_nodes: int = 3) -> SearchSpace:
  """CPU-sized: small_cnn target, small_cnn/resnet8 aux, four gates."""
  return SearchSpace("tiny", num_nodes, "small_cnn", ("small_cnn", "resnet8"),
                     FOUR_GATES, description="CPU-sized 4-gate space for "
                     "tests and the README")


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


def _factory_003(variant):
  def build(num_nodes: int = 3):
    return _space_003(variant, num_nodes)
  return build


PRESETS = {
    "ch3_4gates": ch3_4gates,
    "ch3_sine": ch3_sine,
    "gamma": gamma,
    "003_A": _factory_003("A"),
    "003_B": _factory_003("B"),
    "003_C": _factory_003("C"),
    "003_X": _factory_003("X"),
    "tiny": tiny,
    "ch4": ch4,
    "ssl000": ssl000,
    "ch5_fixmatch": fixmatch_space,
    "ch5_diverse": diverse_space,
    "ch5_tiny": tiny_space,
}
# The ch.5 presets: trained on labelled + unlabelled data (labels_per_class).
SEMI_SUPERVISED = ("ch5_fixmatch", "ch5_diverse", "ch5_tiny")
# Graphs a ch.5 search evaluates (docs/papers.md §5): FixMatch space exhaustively.
NUM_GRAPHS = {"ch5_fixmatch": 60, "ch5_diverse": 1500}


def get(name: str, num_nodes: int | None = None, **overrides):
  """A validated preset. ``num_nodes`` and the ``overrides`` that its
  builder takes (e.g. ``model`` of ``ch5_fixmatch``) build it; the other
  ``overrides`` replace fields of the space (e.g. ``target_model``,
  ``aux_models``, ``pretrained_checkpoints``)."""
  if name not in PRESETS:
    raise SpaceError(f"space={name!r} is unknown; allowed: {sorted(PRESETS)}")
  build = PRESETS[name]
  takes = inspect.signature(build).parameters
  if num_nodes is not None:
    if "num_nodes" not in takes:
      raise SpaceError(f"space {name!r}: num_nodes={num_nodes!r} is invalid; "
                       f"allowed: None (the preset fixes it)")
    overrides = {"num_nodes": num_nodes, **overrides}
  space = build(**{k: v for k, v in overrides.items() if k in takes})
  fields = {k: v for k, v in overrides.items() if k not in takes}
  unknown = sorted(set(fields) - set(space._fields))
  if unknown:
    raise SpaceError(f"space {name!r}: override {unknown} is unknown; "
                     f"allowed: {list(space._fields)}")
  return space._replace(**fields).validate()
