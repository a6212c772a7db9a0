"""ktg_jax: Knowledge Transfer Graphs in JAX (see docs/papers.md for the formulas)."""

from ktg_jax import classic
from ktg_jax import gates
from ktg_jax import losses
from ktg_jax import losses_attention
from ktg_jax import losses_ssl
from ktg_jax import models
from ktg_jax import nodes
from ktg_jax import optim
from ktg_jax.graph import (LABEL, Edge, EdgeTable, GraphSpec, GraphSpecError,
                           Node, stack_edge_tables)
from ktg_jax.step import (KTGState, Program, compile, graph_losses,
                          node_variables)

__all__ = [
    "LABEL", "Edge", "EdgeTable", "GraphSpec", "GraphSpecError", "KTGState",
    "Node", "Program", "classic", "compile", "gates", "graph_losses",
    "losses", "losses_attention", "losses_ssl", "models", "node_variables", "nodes",
    "optim", "stack_edge_tables",
]
__version__ = "0.1.0"
