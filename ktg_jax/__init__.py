"""ktg_jax: Knowledge Transfer Graphs in JAX (see docs/papers.md for the formulas)."""

from ktg_jax import core
from ktg_jax.core import (LABEL, Edge, EdgeTable, GraphSpec, GraphSpecError,
                          KTGState, Node, Program, compile, gates, graph_losses,
                          losses, node_variables, nodes, stack_edge_tables)
# The families register their node kinds and loss kinds with the core (the
# order of loss registration fixes the loss ids: ch.4's, then 000's).
from ktg_jax import ema_nodes  # ch.5: the ema node kind
from ktg_jax import ensemble_nodes  # ch.4: the ensemble node kind
from ktg_jax import losses_attention  # ch.4: attention-transfer losses
from ktg_jax import losses_ssl  # 000: DoGo / DisCo edges
from ktg_jax.ssl import learner as _ssl_learner  # 000: the ssl node kind
from ktg_jax import classic
from ktg_jax import models
from ktg_jax import optim

__all__ = [
    "LABEL", "Edge", "EdgeTable", "GraphSpec", "GraphSpecError", "KTGState",
    "Node", "Program", "classic", "compile", "core", "gates", "graph_losses",
    "losses", "losses_attention", "losses_ssl", "models", "node_variables",
    "nodes", "optim", "stack_edge_tables",
]
__version__ = "0.1.0"
