"""Spreading KTG training over devices with ``jax.sharding``.

Two axes can be split, both without changing the step:

* ``population``: a vmapped population of graphs (or seeds) has a leading
  axis on every leaf of the state; sharding that axis puts whole graphs on
  different devices — each device runs its members' complete KTG step, and no
  communication is needed.
* ``data``: the batch axis of a single graph; parameters are replicated and
  XLA inserts the gradient all-reduce (plain data parallelism).

Node models of different architectures cannot be split across a mesh inside
one SPMD program, which is why the node axis itself is not a mesh axis; a
population of K graphs over D devices (K a multiple of D) is the scalable
unit, as in the search (many graphs) and multi-seed protocols (SPEC §4).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def mesh(axis: str = "population", devices=None) -> Mesh:
  """A 1-D mesh over ``devices`` (default: all) named ``axis``."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (axis,))


def shard_leading_axis(tree, mesh_: Mesh):
  """Places every leaf's leading axis across the mesh's only axis."""
  (axis,) = mesh_.axis_names
  size = mesh_.shape[axis]

  def put(x):
    if x.shape[0] % size:
      raise ValueError(f"leading axis {x.shape[0]} is not a multiple of the "
                       f"{size} devices on mesh axis {axis!r}")
    return jax.device_put(x, NamedSharding(mesh_, P(axis)))
  return jax.tree.map(put, tree)


def replicate(tree, mesh_: Mesh):
  """Copies every leaf to every device of the mesh (params under data parallel)."""
  return jax.device_put(tree, NamedSharding(mesh_, P()))
