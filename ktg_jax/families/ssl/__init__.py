"""Self-supervised KTG (paper 000): the ``ssl`` node kind and its losses.

``objectives``: the seven learners' own losses and their registry
``OBJECTIVES``; ``model``: a backbone with a learner's heads; ``learner``: the
``ssl`` node kind; ``edges``: per-sample transfer losses between SSL nodes;
``edge_losses``: DoGo / DisCo registered as edge loss kinds.
"""

from ktg_jax.families.ssl import edge_losses, edges, learner, model, objectives
from ktg_jax.families.ssl.objectives import OBJECTIVES

__all__ = ["OBJECTIVES", "edge_losses", "edges", "learner", "model",
           "objectives"]
