"""Which module's functions a space uses: one search path for every space kind.

A space is data; each kind of space has a module of pure functions over it
(``validate``, ``parameters``, ``to_spec``, ``feasible``, ``describe``,
``loss_kinds``): ``spaces`` for ch.3 / ch.4 / 002 / 003 (``SearchSpace``),
``semi_spaces`` for ch.5 (``SemiSpace``). The search (``tune``, ``report``)
looks the module up here instead of branching on the kind, so a ch.5 space
goes through the same Ray Tune + Nevergrad + ASHA path as a ch.3 one.

Example:
  >>> from ktg_jax.search import semi_spaces
  >>> of(semi_spaces.fixmatch_space("small_cnn")).__name__
  'ktg_jax.search.semi_spaces'
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Mapping, NamedTuple

from ktg_jax.search import semi_spaces
from ktg_jax.search import spaces

MODULES: dict[type, ModuleType] = {spaces.SearchSpace: spaces,
                                   semi_spaces.SemiSpace: semi_spaces}


def of(space) -> ModuleType:
  """The module of ``space``'s functions; ValueError for an unknown kind."""
  if type(space) not in MODULES:
    raise ValueError(f"space={space!r} is of kind {type(space).__name__}; "
                     f"allowed: {sorted(t.__name__ for t in MODULES)}")
  return MODULES[type(space)]


class Feasible(NamedTuple):
  """Picklable ``point -> bool`` for any space kind (a Nevergrad constraint;
  a searcher's state is pickled on save)."""
  space: Any

  def __call__(self, point: Mapping[str, Any]) -> bool:
    return of(self.space).feasible(self.space, point)
