"""Node kinds: registered objects that carry what a kind of node *does*.

A node of a graph has a kind (``Node(kind=...)``). The compiled step, the plan
and the spec's rules never test a kind's name: they ask the kind's object,
found in the registry ``KINDS``, through the attributes and hooks of
``NodeKind``. The core registers the kinds of ch.3 and 002 here:

=============  ========  =========  ===============  =============================
kind           network   learns     checkpoint       what updates it
=============  ========  =========  ===============  =============================
``trainable``  yes       yes        forbidden        SGD on its gated incoming
                                                     edges (ch.3)
``frozen``     yes       no         required         nothing: a label-trained
                                                     teacher in inference mode
                                                     (docs/papers.md §1, KD)
``pretrained`` yes       yes        required         initialised from the
                                                     checkpoint, then SGD (002)
=============  ========  =========  ===============  =============================

Families register more (``ema``: ``ktg_jax.families.semi.ema``, ch.5; ``ensemble``:
``ktg_jax.families.ensemble.nodes``, ch.4; ``ssl``: ``ktg_jax.families.ssl.learner``, 000) with
``register(kind)``; ``import ktg_jax`` imports them all. Adding a kind is one
subclass of ``NodeKind`` and one ``register`` call (docs/node_kinds.md).

The ch.3 rule stays: a ``trainable`` node whose incoming edges are all Cutoff
never learns, so it *is* a frozen node (``NodeKind.when_cut``) and needs a
checkpoint.

A compiled structure holds each node as a ``NodeRecord`` (typed, hashable:
what the program is specialised on). The *one* averaging rule
(``ema_update``) serves every averaged copy of a node: EMA nodes (ch.5) and
momentum encoders (000). A kind asks for one through ``averages``.

Example:
  >>> KINDS["pretrained"].learns, KINDS["frozen"].checkpoint
  (True, 'required')
  >>> KINDS["trainable"].when_cut
  'frozen'
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ktg_jax import models as models_lib

# Node fields a kind may take beyond model and checkpoint (``NodeKind.fields``)
OPTIONAL_FIELDS = ("of", "members", "learner", "reinit")


class NodeRecord(NamedTuple):
  """One node of a compiled structure (``GraphSpec.structure()``)."""
  kind: str                      # the effective kind (a cut trainable: frozen)
  model: str | None
  of: int | None                 # the node it averages (ema)
  decay: float
  bn: str
  members: tuple | None          # the nodes it combines (ensemble)
  learner: str | None            # its self-supervised method (ssl)


class Averaging(NamedTuple):
  """One averaged copy ``state.ema[key]`` that moves towards node ``source``
  after every update with coefficient ``decay``. Its BatchNorm statistics
  (``stats``, one of ``AVERAGING_STATS``): ``"average"`` moves them with the
  weights; ``"own"`` keeps those of its own forward; ``"source"`` copies the
  source's current ones."""
  key: str
  source: int
  decay: Any
  stats: str = "average"


AVERAGING_STATS = ("average", "own", "source")


class Forward(NamedTuple):
  """What a node's forward gives the step: its outputs, its new BatchNorm
  state (learning nodes; else None), BatchNorm statistics an averaged copy
  keeps (else None)."""
  outputs: dict
  model_state: dict | None = None
  own_stats: dict | None = None


def node_key(i: int) -> str:
  """Where node i's entries sit in the state's dicts."""
  return f"node{i}"


class NodeKind:
  """The behaviour of one kind of node. Subclasses override what differs.

  Attributes:
    name: the ``Node.kind`` string.
    has_model: runs a network of its own.
    learns: takes gradients (edges may end in it); its params are
      ``state.params[node_key(i)]``.
    checkpoint: "required" or "forbidden".
    fields: the optional ``Node`` fields (``OPTIONAL_FIELDS``) it takes.
    when_cut: the kind it becomes when every incoming edge is Cutoff (None:
      it stays itself).
    loaded_frozen: its variables are loaded from the checkpoint and never
      updated (``state.frozen``).
    merge_checkpoint: initialised from the checkpoint, layers of another shape
      re-initialised (002), then trained.
    averageable: an EMA node may average it.
    groupable: a plain learner that a node-parallel group may run as one.
    views: its own views (the first is its edges' default view; the others
      come with it on every part), () = the shared view.
    metric: how its representation is scored: "accuracy" or "knn".
    initialises: its variables come from its module's init (not a copy).
    own_objective: its label slot gates ``own_loss`` instead of the CE.
  """
  name: str = ""
  has_model = True
  learns = True
  checkpoint = "forbidden"
  fields: tuple = ()
  when_cut: str | None = None
  loaded_frozen = False
  merge_checkpoint = False
  averageable = False
  groupable = False
  views: tuple = ()
  metric = "accuracy"
  initialises = True
  own_objective = False

  # --- the spec ------------------------------------------------------------

  def canonical(self, nodes: tuple, i: int, node):
    """``nodes[i]`` (a copy) with this kind's fields checked and implied ones
    set; raises ``GraphSpecError`` naming the field."""
    return node

  def check(self, spec, i: int, kinds: tuple) -> None:
    """Rules across the graph (``kinds``: every node's effective kind)."""

  def outputs(self, node) -> tuple:
    """The output names a node of this kind offers to edge losses."""
    return models_lib.outputs(node.model)

  # --- the program ---------------------------------------------------------

  def initial_variables(self, variables: dict, load) -> tuple[str, dict]:
    """Where its module-initialised ``variables`` go, and what they are:
    ``("params", v)`` (it learns: params + BatchNorm state) or
    ``("frozen", v)`` (a fixed network). ``load(merge)`` reads its
    checkpoint (``merge``: layers of another shape keep ``variables``')."""
    if self.loaded_frozen:
      return "frozen", load(False)
    if self.merge_checkpoint:
      return "params", load(True)
    return "params", variables

  def module(self, record: NodeRecord, num_classes: int):
    """Its flax module (None: no network)."""
    if not self.has_model:
      return None
    return models_lib.create(record.model, num_classes)

  def init_state(self, i: int, record: NodeRecord, module, rng,
                 copy_of) -> tuple[dict, Any]:
    """After every learning node has variables: ``(state.ema entries,
    kind state or None)``; ``copy_of(j)`` copies node j's variables."""
    return {}, None

  def forward(self, i: int, record: NodeRecord, module, variables: dict,
              state, x) -> Forward:
    """The train-step forward. ``variables``: for a learning node its
    ``{"params", **model_state}`` (differentiated), else None."""
    if variables is None:  # a fixed network in inference mode, BN untouched
      out = module.apply(state.frozen[node_key(i)], x, train=False)
      return Forward(jax.lax.stop_gradient(out))
    out, new_model_state = module.apply(
        variables, x, train=True,
        mutable=[k for k in variables if k != "params"])
    return Forward(out, new_model_state)

  def extra_outputs(self, i: int, record: NodeRecord, module, state, x, split):
    """Outputs beside the forward (a momentum encoder's), or None."""
    return None

  def paired(self, outputs: dict) -> dict:
    """Its ``(view, part) -> outputs`` after the forward (pairs views)."""
    return outputs

  def combine(self, record: NodeRecord, member_logits: list):
    """The logits of a node without a network, from its members'."""
    raise NotImplementedError(f"node kind {self.name!r} has a network")

  def own_loss(self, record: NodeRecord, outputs, extra, kind_state, parts):
    """A batch-level loss that its label slot gates instead of the CE:
    ``(loss, new kind state, {metric: scalar})``, or None."""
    return None

  def averages(self, i: int, record: NodeRecord, step, total_steps: int,
               state) -> tuple[Averaging, ...]:
    """The averaged copies that follow the update of step ``step``."""
    return ()


KINDS: dict[str, NodeKind] = {}


def register(kind: NodeKind) -> NodeKind:
  """Adds a kind to ``KINDS`` (a name is registered once)."""
  if not kind.name or kind.name in KINDS:
    raise ValueError(f"node kind name={kind.name!r} is invalid; allowed: a "
                     f"new non-empty name (registered: {sorted(KINDS)})")
  KINDS[kind.name] = kind
  return kind


def taking(field: str) -> list[str]:
  """The registered kinds that take ``field``."""
  return [k for k, v in KINDS.items() if field in v.fields]


class Trainable(NodeKind):
  name, when_cut, averageable, groupable = "trainable", "frozen", True, True


class Frozen(NodeKind):
  name, learns, checkpoint, loaded_frozen = "frozen", False, "required", True


class Pretrained(NodeKind):
  name, checkpoint, fields = "pretrained", "required", ("reinit",)
  merge_checkpoint, averageable, groupable = True, True, True


for _kind in (Trainable(), Frozen(), Pretrained()):
  register(_kind)


def ema_update(ema, new, decay):
  """``ema <- decay * ema + (1 - decay) * new`` leaf by leaf (ch.5; Mean
  Teacher; 000's momentum encoders).

  Example:
    >>> float(ema_update(jnp.array(1.0), jnp.array(0.0), 0.75))
    0.75
  """
  return jax.tree_util.tree_map(
      lambda e, n: decay * e + (1.0 - decay) * n.astype(e.dtype), ema, new)


def apply_averaging(avg: Averaging, ema: dict, params: dict,
                    model_state: dict, own_stats: dict):
  """The one averaging rule applied to copy ``avg.key`` after an update."""
  src = node_key(avg.source)
  if avg.stats not in AVERAGING_STATS:
    raise ValueError(f"Averaging.stats={avg.stats!r}; allowed: "
                     f"{list(AVERAGING_STATS)}")
  if avg.stats == "average":
    return ema_update(ema[avg.key], {"params": params[src],
                                     **model_state[src]}, avg.decay)
  weights = ema_update(ema[avg.key]["params"], params[src], avg.decay)
  stats = own_stats[avg.key] if avg.stats == "own" else model_state[src]
  return {"params": weights, **stats}
