"""Structure search: spaces as data (``spaces``), Ray Tune wiring (``tune``).

``tune`` imports Ray and Nevergrad; import it explicitly
(``from ktg_jax.search import tune``) so the core never pays for them.
"""

from ktg_jax.search import spaces

__all__ = ["spaces"]
