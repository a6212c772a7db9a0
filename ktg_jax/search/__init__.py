"""Structure search: one space protocol (``space_ops``) that every space
implements (``spaces``: ch.3 / ch.4 / 000 / 002 / 003, ``semi_spaces``:
ch.5), the papers' spaces by name (``presets``), Ray Tune wiring (``tune``),
003's refinement (``edf``: EDF curves, ``refine``: A -> B -> C -> X
constraints, ``exhaustive``: sweep of a small space), searchers replayed on a
tabulated benchmark (``replay``; Nevergrad and Optuna imported on use).

``tune`` imports Ray and Nevergrad; import it explicitly
(``from ktg_jax.search import tune``) so the core never pays for them.
"""

from ktg_jax.search import edf
from ktg_jax.search import exhaustive
from ktg_jax.search import presets
from ktg_jax.search import refine
from ktg_jax.search import space_ops
from ktg_jax.search import spaces

__all__ = ["edf", "exhaustive", "presets", "refine", "space_ops", "spaces"]
