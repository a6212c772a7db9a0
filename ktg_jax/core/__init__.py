"""The core: a graph spec compiles to one pure, jitted KTG train step.

Its parts, one concept a module: ``gates`` (edge gates, docs/papers.md §3),
``losses`` (edge losses, a registry, §2), ``nodes`` (node kinds, a registry of
behaviour), ``parts`` / ``rules`` / ``spec`` (a graph spec: its parts, the
rules it obeys, ``GraphSpec``), ``plan`` (what a step computes), ``objective``
(the KTG loss of every node), ``table_checks``, ``gradient_aggregation``
(PCGrad, thesis §4.3.3) and ``step`` (``compile``). The core knows no
family: families register node kinds and loss kinds with it.
"""

from ktg_jax.core import gates, losses, nodes
from ktg_jax.core.objective import graph_losses
from ktg_jax.core.parts import (DEFAULT_VIEW, LABEL, Edge, EdgeTable,
                                GraphSpecError, Node)
from ktg_jax.core.spec import GraphSpec, stack_edge_tables
from ktg_jax.core.step import (KTGState, Program, compile, node_modules,
                               node_variables)

__all__ = ["DEFAULT_VIEW", "Edge", "EdgeTable", "GraphSpec", "GraphSpecError",
           "KTGState", "LABEL", "Node", "Program", "compile", "gates",
           "graph_losses", "losses", "node_modules", "node_variables", "nodes",
           "stack_edge_tables"]
