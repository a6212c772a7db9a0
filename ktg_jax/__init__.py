"""ktg_jax: Knowledge Transfer Graphs in JAX (see docs/papers.md for the formulas)."""

from ktg_jax import core
from ktg_jax.core import (LABEL, Edge, EdgeTable, GraphSpec, GraphSpecError,
                          KTGState, Node, Program, compile, gates, graph_losses,
                          losses, node_variables, nodes, stack_edge_tables)
# The families register their node kinds and loss kinds with the core.
from ktg_jax import families
from ktg_jax import classic
from ktg_jax import models
from ktg_jax import optim

__all__ = [
    "LABEL", "Edge", "EdgeTable", "GraphSpec", "GraphSpecError", "KTGState",
    "Node", "Program", "classic", "compile", "core", "families", "gates",
    "graph_losses", "losses", "models", "node_variables", "nodes", "optim",
    "stack_edge_tables",
]
__version__ = "0.1.0"
