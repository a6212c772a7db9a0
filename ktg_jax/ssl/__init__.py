"""Self-supervised KTG (paper 000): SSL objectives, DoGo / DisCo edge losses.

``objectives``: the seven learners' own losses and their registry
``OBJECTIVES``; ``edges``: per-sample transfer losses between SSL nodes.
"""

from ktg_jax.ssl import edges, objectives
from ktg_jax.ssl.objectives import OBJECTIVES

__all__ = ["OBJECTIVES", "edges", "objectives"]
