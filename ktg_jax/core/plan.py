"""What one step computes, known from the structure before any array is seen.

A *chunk* is ``(view, part)``: a view name and ``"l"`` (the batch's labelled
images) or ``"u"`` (its unlabelled images). Each node runs **one** forward over
the concatenation of the chunks that some edge needs from it (sorted, so the
order is fixed), so BatchNorm normalises labelled and unlabelled images, and
every view of them, together — as FixMatch-style implementations concatenate
them in one forward — and a trainable node's BatchNorm statistics get one
update per step. Views no edge needs are never computed; an ``ssl`` node
that runs view ``a`` on some part also runs view ``b`` on it (000): a
kind's first own view brings its others (``NodeKind.views``).

Every node also gets one labelled chunk to report its accuracy on (its label
edge's view, else the first view it runs): a node that only sees unlabelled
images in its edges still has an accuracy.

Example:
  >>> from ktg_jax.core import gates
  >>> from ktg_jax.core.spec import Edge, GraphSpec, LABEL
  >>> fixmatch = GraphSpec(nodes=["small_cnn"], edges={
  ...     (LABEL, 0): Edge(gates.Through(), target_view="weak"),
  ...     (0, 0): Edge(gates.Threshold(0.95), "pseudo_label",
  ...                  source_view="weak", target_view="strong",
  ...                  samples="unlabeled")})
  >>> make_plan(fixmatch.structure(), has_unlabeled=True).chunks[0]
  (('strong', 'u'), ('weak', 'l'), ('weak', 'u'))
"""

from __future__ import annotations

from typing import NamedTuple

from ktg_jax.core import nodes as nodes_lib
from ktg_jax.core.parts import DEFAULT_VIEW, LABEL


class Plan(NamedTuple):
  chunks: tuple        # per node: the sorted (view, part) chunks it runs on
  metric_chunk: tuple  # per node: the labelled chunk its accuracy is taken on
  views: tuple         # the view names that some chunk needs
  parts: dict          # samples kind -> parts it covers


def make_plan(structure, has_unlabeled: bool) -> Plan:
  """The chunks of every node for a batch with or without unlabelled images."""
  nodes, slots, _, _ = structure
  parts = {"all": ("l", "u") if has_unlabeled else ("l",),
           "labeled": ("l",), "unlabeled": ("u",)}
  need = [set() for _ in nodes]
  for s in slots:
    if s.samples == "unlabeled" and not has_unlabeled:
      raise ValueError(
          f"edge ({s.source}, {s.target}) has samples='unlabeled' but the "
          "batch has no 'unlabeled_image'; allowed: a batch with unlabelled "
          "images, or samples='all'/'labeled'")
    for p in parts[s.samples]:
      if s.source != LABEL:
        need[s.source].add((s.source_view, p))
      need[s.target].add((s.target_view, p))
  for i, n in enumerate(nodes):  # a kind's first own view brings the others
    own = nodes_lib.KINDS[n.kind].views
    need[i] |= {(w, p) for v, p in need[i] if own and v == own[0]
                for w in own[1:]}
  label_view = {s.target: s.target_view for s in slots if s.source == LABEL}

  def add_metric_chunk(i):
    if not any(p == "l" for _, p in need[i]):
      views = sorted(v for v, _ in need[i])
      need[i].add((label_view.get(i, views[0] if views else DEFAULT_VIEW),
                   "l"))

  combined = [i for i, n in enumerate(nodes)  # ensembles: their members run
              if not nodes_lib.KINDS[n.kind].has_model]
  for i in combined:
    add_metric_chunk(i)
    for m in nodes[i].members:
      need[m] |= need[i]
  for i, n in enumerate(nodes):
    if nodes_lib.KINDS[n.kind].has_model:
      add_metric_chunk(i)
  chunks = tuple(tuple(sorted(c)) for c in need)
  metric = []
  for i, c in enumerate(chunks):
    preferred = (label_view.get(i), "l")
    metric.append(preferred if preferred in c
                  else next(x for x in c if x[1] == "l"))
  views = tuple(sorted({v for c in chunks for v, _ in c}))
  return Plan(chunks, tuple(metric), views, parts)
