"""ktg_jax: Knowledge Transfer Graphs in JAX (the formulas: docs/papers.md).

The front door: build a graph (``GraphSpec`` of ``Node``s and gated edges, or
a ``classic`` builder), train it with ``fit`` on data from ``load_data`` under
a ``default_config``; ``compile`` gives the jitted step for loops of your own.

Example:
  >>> import ktg_jax as ktg
  >>> spec = ktg.dml(["small_cnn", "small_cnn"])   # = ktg.classic.dml
  >>> cfg = ktg.default_config()
  >>> cfg.epochs, cfg.batch_size, cfg.verbose = 1, 64, False
  >>> result = ktg.fit(spec, ktg.load_data("fractal"), cfg)
  >>> len(result.history), len(result.history[0]["accuracy"])
  (1, 2)

``fit``, ``default_config``, ``load_data`` and the modules ``training`` and
``data`` load on first use (they bring in orbax), so ``import ktg_jax`` stays
light.
"""

import importlib

from ktg_jax import core
from ktg_jax.core import (LABEL, Edge, EdgeTable, GraphSpec, GraphSpecError,
                          KTGState, Node, Program, compile, gates, graph_losses,
                          losses, node_variables, nodes, stack_edge_tables)
# The families register their node kinds and loss kinds with the core.
from ktg_jax import families
from ktg_jax import classic
from ktg_jax import models
from ktg_jax import optim
# The classic builders (``classic.BUILDERS``) by name, except ``classic.ssl``
# (``ktg_jax.families.ssl`` is the family).
from ktg_jax.classic import (BUILDERS, compression, dml, ensemble, fixmatch,
                             kd, mean_teacher, pi_model, pseudo_label,
                             ssl_dml, vanilla)

__version__ = "0.1.0"

# name -> (module, attribute or None for the module itself), imported on use.
_LAZY = {
    "fit": ("ktg_jax.run.training", "fit"),
    "default_config": ("ktg_jax.run.training", "default_config"),
    "FitResult": ("ktg_jax.run.training", "FitResult"),
    "load_data": ("ktg_jax.data", "load"),
    "training": ("ktg_jax.run.training", None),
    "data": ("ktg_jax.data", None),
}


def __getattr__(name):
  if name not in _LAZY:
    raise AttributeError(f"module 'ktg_jax' has no attribute {name!r}")
  module, attr = _LAZY[name]
  value = importlib.import_module(module)
  value = value if attr is None else getattr(value, attr)
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BUILDERS", "LABEL", "Edge", "EdgeTable", "FitResult", "GraphSpec",
    "GraphSpecError", "KTGState", "Node", "Program", "classic", "compile",
    "compression", "core", "data", "default_config", "dml", "ensemble",
    "families", "fit", "fixmatch", "gates", "graph_losses", "kd", "load_data",
    "losses", "mean_teacher", "models", "node_variables", "nodes", "optim",
    "pi_model", "pseudo_label", "ssl_dml", "stack_edge_tables", "training",
    "vanilla",
]
