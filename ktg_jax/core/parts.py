"""The parts of a graph spec (docs/papers.md §1): ``Node``, ``Edge``, the edge table
the step reads, the slots it computes, and the names of the label source,
the default view and the sample sets. ``ktg_jax.core.spec`` assembles them into
a ``GraphSpec`` (and re-exports them); ``ktg_jax.core.rules`` checks them."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, NamedTuple, Union

import numpy as np

from ktg_jax.core import gates as gates_lib

LABEL = "label"
LABEL_LOSS = "ce"  # KL(onehot(y) || p_t) is the label cross-entropy (docs/papers.md §2).
DEFAULT_VIEW = "default"
SAMPLES = ("all", "labeled", "unlabeled")
DEFAULT_EMA_DECAY = 0.999  # ch.5 / Mean Teacher (Node.decay of an ema node)
# Losses that are not constant when a node is compared with itself on one view
# (Pseudo-Label: CE to its own argmax).
SAME_VIEW_SELF_LOOP_LOSSES = ("pseudo_label",)

Source = Union[str, int]


class GraphSpecError(ValueError):
  """A graph spec field is invalid; the message names the field and value."""


def field_error(field: str, value, allowed) -> GraphSpecError:
  return GraphSpecError(f"{field}={value!r} is invalid; allowed: {allowed}")


def is_int(x) -> bool:
  return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def is_real(x) -> bool:
  return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


@dataclasses.dataclass(frozen=True)
class Node:
  """A node. ``kind``: a registered node kind (``ktg_jax.core.nodes.KINDS``).

  ``checkpoint``: variables to load (frozen and pre-trained nodes).
  ``of``: the node an ``ema`` node averages; ``decay``: its ``a``; ``bn``: the
  BatchNorm statistics its train-step forward uses and keeps ("batch",
  "running" or "own": ``ktg_jax.core.nodes``).
  ``members``: the nodes an ``ensemble`` node averages.
  ``reinit``: top-level layers of a ``pretrained`` node that are initialised
  afresh instead of loaded (the classifier head is re-initialised anyway when
  its class count differs from the checkpoint's).
  ``learner``: the method of a node kind that takes one (the ``ssl`` kind of
  ``ktg_jax/families/ssl/learner.py``, 000: its heads, its own objective in the label
  slot, its momentum encoder). Edges at a node whose kind has views of its
  own default to its first view; its label edge must use that view.
  A kind takes only the optional fields it declares (``NodeKind.fields``).
  """
  model: str | None = None
  checkpoint: str | None = None
  kind: str = "trainable"
  of: int | None = None
  decay: float = DEFAULT_EMA_DECAY
  bn: str = "batch"
  members: tuple[int, ...] | None = None
  reinit: tuple[str, ...] = ()
  learner: str | None = None


@dataclasses.dataclass(frozen=True)
class Edge:
  """A gated loss from a source to a target node (docs/papers.md §1, §2).

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
