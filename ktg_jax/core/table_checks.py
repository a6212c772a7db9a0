"""Checks of what a compiled step is given against the structure it was
compiled for: the outputs each edge's loss reads (``check_outputs``) and an
edge table that comes from another graph (``check_edge_table``). Errors name
the edge and what is allowed."""

from __future__ import annotations

import jax
import numpy as np

from ktg_jax.core import gates
from ktg_jax.core import losses
from ktg_jax.core import nodes as nodes_lib
from ktg_jax.core.parts import LABEL, EdgeTable
from ktg_jax.core.spec import GraphSpec


def check_outputs(spec: GraphSpec, loss_names) -> None:
  """Rejects an edge whose loss reads an output its source or target lacks."""
  def outputs(i):
    node = spec.nodes[i]
    return nodes_lib.KINDS[node.kind].outputs(node)
  for (s, t), e in spec.edges.items():
    if s == LABEL:
      continue
    for end in (s, t):
      lacking = set(losses.BY_NAME[e.loss].reads) - set(outputs(end))
      if lacking:
        raise ValueError(f"edges[{(s, t)!r}].loss={e.loss!r} reads "
                         f"{sorted(lacking)}, which node {end} lacks; allowed: "
                         f"losses reading {list(outputs(end))}")


def check_edge_table(spec: GraphSpec, edges: EdgeTable, loss_names) -> None:
  """An edge table from another graph must fit this one's structure: no live
  edge into a node that never learns here (frozen, EMA, ensemble: it would be
  silently ignored) and no live edge that is not a slot of the structure. A
  node that learns may be all-Cutoff in the table: it then gets no loss (tests
  use this to isolate one edge) and is not loaded from a checkpoint."""
  try:
    table = EdgeTable(*(np.asarray(x) for x in edges))
  except (TypeError, jax.errors.TracerArrayConversionError):
    return  # traced (inside vmap/jit): checked where it was built
  label_live = table.label_kind != gates.CUTOFF
  gate_ids = table.kind  # [source, target] gate ids
  node_live = gate_ids != gates.CUTOFF
  slots = {(s.source, s.target) for s in spec.slots()}
  learn = set(spec.learning_nodes())
  for t in range(spec.num_nodes):
    for s in [LABEL] + list(range(spec.num_nodes)):
      live = label_live[..., t] if s == LABEL else node_live[..., s, t]
      if not np.any(live):
        continue
      if t not in learn:
        raise ValueError(
            f"edges: ({s}, {t}) is not Cutoff in the given table, but node {t} "
            f"never learns in the compiled structure (kinds "
            f"{spec.node_kinds()}); allowed: a table with the same frozen "
            f"nodes {spec.frozen_nodes()}")
      if (s, t) not in slots:
        raise ValueError(f"edges: ({s}, {t}) is not Cutoff in the given "
                         "table but is no edge of the compiled structure; "
                         "allowed: a table of a graph with the same structure")
      ids = {losses.BY_NAME[k].id for k in loss_names}
      if s != LABEL and not set(np.unique(table.loss_kind[..., s, t][live])) <= ids:
        raise ValueError(f"edges: ({s}, {t}) has a loss the program cannot "
                         f"select; allowed: {list(loss_names)} (pass "
                         "loss_kinds= to compile)")
