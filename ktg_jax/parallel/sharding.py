"""Spreading KTG training over devices with ``jax.sharding``.

Two mesh axes, used alone or together (a 2-D mesh), none changing the step:

* ``population``: a population of graphs (or seeds, ``ktg_jax.run.population``)
  has a leading member axis on every leaf of its stacked state; sharding it
  puts whole graphs on different devices — each runs its members' complete
  KTG step, and no communication is needed.
* ``data``: the batch axis; parameters are replicated over it and XLA
  inserts the gradient all-reduce (plain data parallelism). BatchNorm's
  batch statistics are those of the *global* batch (jit sees one program),
  so the step equals the one-device step up to summation order.

On a 2-D mesh ``(population, data)`` a population's batch ``[K, B, ...]`` is
split over both axes and its state over ``population`` only. The same code
runs over the devices of several hosts after ``jax.distributed.initialize``
(see ``experiments/train.py --coordinator``): ``place`` puts each process's
own rows of a host batch on its devices.

* ``node`` (``ktg_jax.parallel.node_axis``): a graph's learning nodes of one
  architecture stacked on a leading node axis and split over devices; nodes
  of different architectures form separate groups (one SPMD program cannot
  stack different shapes). ``compile(node_mesh=)`` runs each group's forward
  as one ``shard_map`` over the axis (``fit``: ``config.node_parallel``).
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

POPULATION, DATA, NODE = "population", "data", "node"
AXES = (POPULATION, DATA, NODE)


def mesh(axis: str | Sequence[str] = POPULATION, devices=None,
         shape: Sequence[int] | None = None) -> Mesh:
  """A mesh over ``devices`` (default: all, of every process).

  Args:
    axis: one axis name, or several (e.g. ``("population", "data")``).
    devices: the devices; default ``jax.devices()``.
    shape: devices per axis (product = number of devices); default: all
      devices on a 1-D mesh.

  Raises:
    ValueError: an unknown axis name, or ``shape`` does not fit the devices.
  """
  names = (axis,) if isinstance(axis, str) else tuple(axis)
  unknown = [a for a in names if a not in AXES]
  if unknown:
    raise ValueError(f"axis={unknown}; allowed: {list(AXES)}")
  devices = np.asarray(jax.devices() if devices is None else devices)
  shape = (devices.size,) if shape is None else tuple(shape)
  if len(shape) != len(names) or int(np.prod(shape)) != devices.size:
    raise ValueError(f"shape={shape} does not fit {devices.size} devices on "
                     f"axes {names}; allowed: one size per axis, product "
                     f"{devices.size}")
  return Mesh(devices.reshape(shape), names)


def _check(x, mesh_: Mesh, spec: P) -> None:
  """Every split axis of ``x`` divides over its devices (named errors)."""
  for dim, axis in enumerate(spec):
    if axis is None:
      continue
    size = int(np.prod([mesh_.shape[a] for a in
                        ((axis,) if isinstance(axis, str) else axis)]))
    if x.shape[dim] % size:
      raise ValueError(f"axis {dim} of length {x.shape[dim]} is not a "
                       f"multiple of the {size} devices on mesh axis "
                       f"{axis!r}")


def _put(tree, mesh_: Mesh, spec: P):
  """Places ``tree`` with ``spec``, checking divisibility (named errors)."""
  def put(x):
    _check(x, mesh_, spec)
    return jax.device_put(x, NamedSharding(mesh_, spec))
  return jax.tree.map(put, tree)


def place(tree, mesh_: Mesh, spec: P):
  """A host value held alike by every process -> global arrays laid out by
  ``spec``, on one process or N: each process copies only the blocks of its
  own devices (``jax.make_array_from_callback``), so with a ``data`` axis
  process p puts only its rows of the batch on its devices. Typed PRNG keys
  are placed through their raw data. What ``training.fit`` uses on a mesh.

  Example:
    >>> m = mesh("data", devices=jax.devices()[:1])
    >>> place({"x": np.arange(4.0)}, m, P("data"))["x"].sharding.spec[0]
    'data'
  """
  sharding_ = NamedSharding(mesh_, spec)

  def put(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(
        x.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(put(jax.random.key_data(x)),
                                      impl=jax.random.key_impl(x))
    x = np.asarray(x)
    _check(x, mesh_, spec)
    return jax.make_array_from_callback(x.shape, sharding_, lambda i: x[i])
  return jax.tree.map(put, tree)


def shard_leading_axis(tree, mesh_: Mesh, axis: str | None = None):
  """Splits every leaf's leading axis over mesh axis ``axis`` (default: the
  mesh's only axis), replicating over the others: a population's state."""
  if axis is None:
    if len(mesh_.axis_names) != 1:
      raise ValueError(f"axis=None on mesh axes {mesh_.axis_names}; allowed:"
                       " one of them, by name")
    (axis,) = mesh_.axis_names
  return _put(tree, mesh_, P(axis))


def shard_population(state, mesh_: Mesh):
  """A stacked population state: members over ``population``."""
  return shard_leading_axis(state, mesh_, POPULATION)


def batch_spec(mesh_: Mesh, population: bool) -> P:
  """How a batch is split: ``[K, B, ...]`` over (population, data) for a
  population, ``[B, ...]`` over data for one graph; absent axes replicate."""
  has = lambda a: a if a in mesh_.axis_names else None
  if population:
    return P(has(POPULATION), has(DATA))
  return P(has(DATA))


def shard_batch(batch, mesh_: Mesh, population: bool = False):
  """Places a batch dict (every key, so new keys travel too) on the mesh."""
  return _put(batch, mesh_, batch_spec(mesh_, population))


def replicate(tree, mesh_: Mesh):
  """Copies every leaf to every device of the mesh (params under data parallel)."""
  return jax.device_put(tree, NamedSharding(mesh_, P()))


def initialize(coordinator_address: str | None, num_processes: int | None,
               process_id: int | None,
               bind_address: str | None = None) -> bool:
  """``jax.distributed.initialize`` for N hosts (before any computation).

  Every process gets the same ``coordinator_address`` (``host:port`` of
  process 0), ``num_processes`` and its own ``process_id`` in [0, N). All
  None = one process (returns False); on TPU pods / SLURM / Kubernetes jax
  can detect the values itself: pass ``coordinator_address="auto"``.
  ``bind_address``: where process 0's coordinator listens (default: all
  interfaces at the address's port; tests use 127.0.0.1 only).
  """
  if coordinator_address is None:
    if num_processes not in (None, 1) or process_id not in (None, 0):
      raise ValueError("num_processes / process_id given without "
                       "coordinator_address; allowed: all three, or none")
    return False
  if coordinator_address == "auto":
    jax.distributed.initialize()
    return True
  if not (isinstance(num_processes, int) and num_processes >= 1):
    raise ValueError(f"num_processes={num_processes!r}; allowed: an int >= 1")
  if not (isinstance(process_id, int) and 0 <= process_id < num_processes):
    raise ValueError(f"process_id={process_id!r}; allowed: an int in "
                     f"[0, {num_processes})")
  jax.distributed.initialize(coordinator_address, num_processes=num_processes,
                             process_id=process_id,
                             coordinator_bind_address=bind_address)
  return True

