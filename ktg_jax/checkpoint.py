"""Orbax wiring: node variables on disk (frozen teachers) and, later, run state."""

from __future__ import annotations

import os

import orbax.checkpoint as ocp


def save_variables(path: str, variables) -> str:
  """Writes one node's variables (params + batch_stats) atomically; returns the path."""
  path = os.path.abspath(path)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, variables, force=True)
  return path


def load_variables(path: str | None, like):
  """Reads variables saved by ``save_variables``, shaped like ``like``."""
  if path is None or not os.path.exists(path):
    raise FileNotFoundError(
        f"checkpoint={path!r} does not exist: a frozen node needs the "
        "variables of a label-only run (train one with "
        "`python experiments/train.py --graph=vanilla` and point the node's "
        "'checkpoint' at the saved variables)")
  with ocp.StandardCheckpointer() as ckptr:
    return ckptr.restore(os.path.abspath(path), like)
