"""Design-space refinement as data (003): constraints narrowing a space step by step.

003 reads EDF curves (``search/edf.py``), keeps the better values and narrows
the space A -> B -> C -> X (docs/papers.md §5), each step adding constraints to the last:

* B: both auxiliaries take the strong model (m2 = m3 = WRN28-2);
* C: + the label -> auxiliary edges are Through;
* X: + the two auxiliary -> target edges are equal, in {Through, Linear}.

A ``Constraint`` is data (``fixed`` / ``narrowed`` / ``tied`` of
``spaces.SearchSpace``); ``apply`` merges it into any space, so the same chain
narrows the CIFAR space (``presets.get("003_A")``, whose chain equals the
presets 003_B/C/X) or a CPU-sized one with other model names.

Sizes and 003's counting. 003 prints 39,366 -> 9,842 -> 1,094 -> 486.
``SearchSpace.size`` gives the plain product of the free choices and the thesis's
``ceil(plain / 2)`` (docs/papers.md §4): A 78,732 / 39,366; B 19,683 / 9,842; C 2,187 /
1,094; X 486 / 243. So 003 prints the /2 count for A, B, C and the *plain*
count for X (``CONVENTION_003``): X is searched exhaustively, every one of its
486 graphs trained, which is what we do too.

Example:
  >>> from ktg_jax.search import presets
  >>> chain = chain_003(presets.get("003_A"))
  >>> [s.size().plain for s in chain.values()]
  [78732, 19683, 2187, 486]
  >>> [printed_size(chain[k], k) for k in chain]
  [39366, 9842, 1094, 486]
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from ktg_jax.search import space_ops
from ktg_jax.search import spaces

PRINTED_003 = {"A": 39_366, "B": 9_842, "C": 1_094, "X": 486}
CONVENTION_003 = {"A": "thesis", "B": "thesis", "C": "thesis", "X": "plain"}


class Constraint(NamedTuple):
  """What one refinement step adds to a space, and why (the EDF reading)."""
  fixed: Mapping[str, Any] = {}
  narrowed: Mapping[str, tuple] = {}
  tied: Mapping[str, str] = {}
  why: str = ""


def apply(space: spaces.SearchSpace, constraint: Constraint,
          name: str | None = None) -> spaces.SearchSpace:
  """``space`` with ``constraint`` added (validated; raises SpaceError).

  A parameter already constrained may only be constrained further: a
  ``fixed`` value must lie in a ``narrowed`` set, a re-narrowed set must be
  a subset.
  """
  for k, v in constraint.fixed.items():
    if k in space.narrowed and v not in space.narrowed[k]:
      raise space_ops.SpaceError(
          f"space {space.name!r}: fixed[{k!r}]={v!r} is invalid; allowed: "
          f"one of the narrowed {space.narrowed[k]}")
  for k, kept in constraint.narrowed.items():
    if k in space.narrowed and set(kept) - set(space.narrowed[k]):
      raise space_ops.SpaceError(
          f"space {space.name!r}: narrowed[{k!r}]={kept!r} is invalid; "
          f"allowed: a subset of {space.narrowed[k]}")
  narrowed = {k: v for k, v in space.narrowed.items()
              if k not in constraint.fixed}
  return space._replace(
      name=name or space.name,
      fixed={**space.fixed, **constraint.fixed},
      narrowed={**narrowed, **constraint.narrowed},
      tied={**space.tied, **constraint.tied}).validate()


def steps_003(strong: str = "wrn28_2", label_gate: str = "through",
              target_gates: tuple = ("through", "linear")
              ) -> dict[str, Constraint]:
  """The increments A -> B -> C -> X of a 3-node space (node 0 = m1 target);
  the defaults are 003's readings, other values another reading's."""
  return {
      "B": Constraint(fixed={"model_1": strong, "model_2": strong},
                      why=f"EDF: auxiliaries {strong} beat the other model"),
      "C": Constraint(fixed={"gate_label_1": label_gate,
                             "gate_label_2": label_gate},
                      why=f"EDF: label -> auxiliary edges best {label_gate}"),
      "X": Constraint(narrowed={"gate_1_0": tuple(target_gates)},
                      tied={"gate_2_0": "gate_1_0"},
                      why=f"EDF: auxiliary -> target edges in "
                      f"{tuple(target_gates)}, alike"),
  }


def chain_003(space_a: spaces.SearchSpace, strong: str = "wrn28_2",
              **readings) -> dict[str, spaces.SearchSpace]:
  """``{"A": space_a, "B": ..., "C": ..., "X": ...}``, each the last plus one
  step of ``steps_003(strong, **readings)``; names get the suffix ``/B``."""
  if space_a.num_nodes != 3 or strong not in space_a.aux_models:
    raise space_ops.SpaceError(
        f"space {space_a.name!r}: num_nodes={space_a.num_nodes!r}, "
        f"strong={strong!r} are invalid; allowed: 3 nodes and strong in "
        f"{space_a.aux_models}")
  out = {"A": space_a}
  last = space_a
  for step, c in steps_003(strong, **readings).items():
    last = apply(last, c, name=f"{space_a.name}/{step}")
    out[step] = last
  return out


def printed_size(space: spaces.SearchSpace, step: str) -> int:
  """The size in 003's convention for ``step`` (see the module docstring)."""
  size = space.size()
  return size.plain if CONVENTION_003[step] == "plain" else size.thesis
