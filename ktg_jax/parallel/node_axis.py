"""The node axis: a graph's learning nodes of one model split over devices.

The design card's "nodes sharded across devices", at forward level. The
learning nodes of a graph are grouped by architecture (``groups``: one group
per model name, so a heterogeneous graph gives several groups).

The compute is split when the program is compiled with ``node_mesh=``
(``ktg.compile(spec, ..., node_mesh=sharding.mesh("node"))``): the step's
forward hands every group of learning nodes of one model to ``forwards``,
which runs the group as ONE forward (``group_forward``): a ``shard_map``
over the ``node`` axis in which each device applies the module to its local
slice of the group's stacked variables — directly for one node; for several
vmapped on accelerators, one after another on the CPU (``LOCAL_STRATEGY``) —
on the whole batch, then ``all_gather``s the outputs, so every
edge loss reads every node's outputs as on one device; sources stay under
``stop_gradient``; each node's BatchNorm statistics are its own (its
device, the full batch); the backward is the ``shard_map``'s transpose (each
device differentiates its own nodes). A group of G nodes runs on the node
devices reshaped to ``(gcd(G, n), n / gcd)``: split ``gcd`` ways, copies on
the rest; a group of 1 (or gcd 1) stays unsplit, as do frozen, EMA and
ensemble nodes (applied as before, on every device). Not covered (a named
ValueError): ssl nodes in a group of 2+, and a group whose nodes see
different chunks (views / labelled-unlabelled parts: different forwards).
``training.fit`` uses it with ``config.node_parallel=True`` (the plain state
replicated over the local devices: checkpoints unchanged; only the compute
is split). Equal to the one-device step to 1e-5 (tests/test_node_parallel.py:
2 and 4 forced host devices, 2- and 4-node DML and a 3-node heterogeneous
graph, and a short ``fit``).

Example:
  >>> import ktg_jax as ktg
  >>> spec = ktg.classic.dml(["small_cnn", "resnet8", "small_cnn"])
  >>> groups(spec)
  ((0, 2), (1,))
  >>> from ktg_jax.parallel import sharding
  >>> group_mesh(sharding.mesh("node", devices=jax.devices()[:1]), 2) is None
  True
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec as P

from ktg_jax.core import nodes as nodes_lib
from ktg_jax.parallel import sharding
from ktg_jax.core.spec import GraphSpec
from ktg_jax.core.nodes import node_key


def groups(spec: GraphSpec) -> tuple[tuple[int, ...], ...]:
  """The learning nodes (those with parameters updated by the step) grouped
  by model name, in order of first appearance."""
  return structure_groups(spec.structure()[0])


def structure_groups(nodes) -> tuple[tuple[int, ...], ...]:
  """``groups`` of a structure's ``NodeRecord``s."""
  by_model: dict = {}
  for i, node in enumerate(nodes):
    kind = nodes_lib.KINDS[node.kind]
    if kind.has_model and kind.learns:
      by_model.setdefault(node.model, []).append(i)
  return tuple(tuple(v) for v in by_model.values())


COPY = "node_copy"  # the devices a group does not split over hold copies


def group_mesh(mesh_, size: int):
  """The mesh a group of ``size`` nodes runs on: the node devices reshaped to
  ``(gcd(size, n), n / gcd)`` on axes (``node``, ``node_copy``), or None when
  the gcd is 1 (the group stays unsplit)."""
  if tuple(mesh_.axis_names) != (sharding.NODE,):
    raise ValueError(f"node_mesh axes {tuple(mesh_.axis_names)}; allowed: "
                     f"({sharding.NODE!r},) (sharding.mesh('node'))")
  n = mesh_.devices.size
  d = math.gcd(size, n)
  if d == 1:
    return None
  return Mesh(np.asarray(mesh_.devices).reshape(d, n // d),
              (sharding.NODE, COPY))


def _loop(apply):
  """Each node of the slice applied in turn, outputs stacked (the one-device
  step's arithmetic; on XLA:CPU faster to compile and run than a vmap)."""
  def run(variables):
    outs = [apply(jax.tree.map(lambda a, j=j: a[j], variables))
            for j in range(jax.tree.leaves(variables)[0].shape[0])]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
  return run


# How a device runs the several nodes of its slice: "vmap" (one program; a
# conv whose weights differ per node becomes a grouped conv, which XLA:CPU
# compiles and runs slowly: population.py) or "loop"; chosen per backend.
LOCAL = {"vmap": jax.vmap, "loop": _loop}
LOCAL_STRATEGY = {"cpu": "loop", "gpu": "vmap", "tpu": "vmap"}


def _apply_local(module, variables, x, mutable):
  """The module of every node of this device's slice (leading axis) on the
  same images ``x``: applied directly for one node, else by
  ``LOCAL[LOCAL_STRATEGY[backend]]``."""
  apply = lambda v: module.apply(v, x, train=True, mutable=mutable)
  if jax.tree.leaves(variables)[0].shape[0] == 1:
    out, new = apply(jax.tree.map(lambda a: a[0], variables))
    return jax.tree.map(lambda a: a[None], (out, new))
  local = LOCAL_STRATEGY.get(jax.default_backend(), "loop")
  return LOCAL[local](apply)(variables)


def group_forward(module, variables: list, x, mesh_):
  """ONE forward of a group's nodes over the node devices.

  ``variables``: per node ``{"params", **model_state}``, stacked on the node
  axis, split over ``node`` (``shard_map``); each device applies ``module``
  to its slice in training mode on the whole batch ``x`` (so each node's
  BatchNorm statistics are its own, over the full batch, as on one device);
  the outputs are gathered (``all_gather``) so every edge loss reads every
  node's outputs. Returns per node ``(outputs, new_model_state)``; None when
  the group does not split over ``mesh_`` (gcd 1).
  """
  gmesh = group_mesh(mesh_, len(variables))
  if gmesh is None:
    return None
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *variables)
  mutable = [k for k in variables[0] if k != "params"]

  def local(v, x):
    out, new = _apply_local(module, v, x, mutable)
    return jax.lax.all_gather(out, sharding.NODE, tiled=True,
                              to="invarying"), new

  out, new = jax.shard_map(
      local, mesh=gmesh, in_specs=(P(sharding.NODE), P()),
      out_specs=(P(), P(sharding.NODE)))(stacked, x)
  return [jax.tree.map(lambda a, j=j: a[j], (out, new))
          for j in range(len(variables))]


def forwards(nodes, modules, params, model_state, chunks, x_of, mesh_):
  """The ``forward`` hook of ``ktg_jax.core.step``: every split group's nodes'
  ``(outputs, new_model_state)`` by node index, from one ``group_forward``.

  Args:
    nodes: the structure's node tuples; modules: per node its module.
    params, model_state: the step's per-node ``node{i}`` dicts.
    chunks: per node its plan chunks; ``x_of(i)``: node i's images.
    mesh_: a 1-D ``node`` mesh.

  Raises:
    ValueError: a group (same model) holds an ssl node, or nodes that see
      different chunks (their forwards differ: not one program).
  """
  done = {}
  for members in structure_groups(nodes):
    if len(members) == 1:
      continue
    # Only plain learners (NodeKind.groupable) run as one forward: an ssl
    # node's (momentum encoder, paired views) is not grouped.
    kinds = {nodes[i].kind for i in members}
    if not all(nodes_lib.KINDS[k].groupable for k in kinds):
      grouped = [k for k, v in nodes_lib.KINDS.items() if v.groupable]
      raise ValueError(
          f"node_mesh: nodes {list(members)} (model {nodes[members[0]].model!r})"
          f" have kinds {sorted(kinds)}; allowed in a split group: "
          f"{grouped} (other kinds are not split; use node_mesh=None)")
    seen = {chunks[i] for i in members}
    if len(seen) > 1:
      raise ValueError(
          f"node_mesh: nodes {list(members)} (model {nodes[members[0]].model!r})"
          f" see different chunks {sorted(seen)}; allowed: a group whose "
          "nodes see the same views and parts (use node_mesh=None)")
    got = group_forward(
        modules[members[0]],
        [{"params": params[node_key(i)], **model_state[node_key(i)]}
         for i in members], x_of(members[0]), mesh_)
    if got is not None:
      done.update(zip(members, got))
  return done

