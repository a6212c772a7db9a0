"""The node axis: a graph's nodes of one model stacked, split over devices.

The design card's "nodes sharded across devices", at step level. The
learning nodes of a graph are grouped by architecture (``groups``: one group
per model name, so a heterogeneous graph gives several groups); within a
group the nodes' variables — params, BatchNorm statistics and the
optimizer's per-node slots (momentum) — are stacked on a leading *node* axis
(``to_node_axis``), and that axis is split over the devices of a ``node``
mesh axis (``ktg_jax.sharding.NODE``); a group whose size does not divide
over them, and everything else in the state, is replicated.

``step(program, spec, mesh)`` is the ordinary compiled KTG step between two
layout changes: unstack (``from_node_axis``), ``program.step``, restack, and
a sharding constraint (``jax.lax.with_sharding_constraint``) that keeps each
group's stacked variables split over ``node``. The step's arithmetic is the
one-device step's, so the result equals it (tests/test_sharding.py: to 1e-5
on 2 forced host devices).

What this gives and what it does not (yet): the *state* of a group of G
nodes — variables and optimizer slots, the memory that grows with the
graph — is split over the devices; where each node's forward and backward
runs is left to XLA's SPMD partitioner (``program.step`` applies each node's
module separately, so it may gather a node's params onto every device).
Splitting the compute as well needs the forward of a group as one
``jax.vmap`` over its stacked params (possible when the group's nodes see the
same views), a change inside ``ktg_jax/step.py``'s forward not made here; nor
does ``training.fit`` use the node axis yet.

Example:
  >>> import ktg_jax as ktg
  >>> spec = ktg.classic.dml(["small_cnn", "resnet8", "small_cnn"])
  >>> groups(spec)
  ((0, 2), (1,))
  >>> t = to_node_axis({"node0": 1.0, "node1": 2.0, "node2": 3.0}, groups(spec))
  >>> sorted(t), t["group0"].tolist()
  (['group0', 'group1'], [1.0, 3.0])
  >>> {k: float(v) for k, v in sorted(from_node_axis(t, groups(spec)).items())}
  {'node0': 1.0, 'node1': 2.0, 'node2': 3.0}
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P

from ktg_jax import nodes as nodes_lib
from ktg_jax import sharding
from ktg_jax.graph import GraphSpec
from ktg_jax.step import node_key

STACKED = ("params", "model_state", "opt_state")  # KTGState fields stacked


def group_key(g: int) -> str:
  return f"group{g}"


def groups(spec: GraphSpec) -> tuple[tuple[int, ...], ...]:
  """The learning nodes (those with parameters updated by the step) grouped
  by model name, in order of first appearance."""
  by_model: dict = {}
  for i, (kind, node) in enumerate(zip(spec.node_kinds(), spec.nodes)):
    if nodes_lib.KINDS[kind].has_model and nodes_lib.KINDS[kind].learns:
      by_model.setdefault(node.model, []).append(i)
  return tuple(tuple(v) for v in by_model.values())


def _walk(tree, fn):
  """Applies ``fn`` to every dict of ``tree`` (bottom-up), through tuples,
  lists and NamedTuples (optax states); other leaves stay as they are."""
  if isinstance(tree, dict):
    return fn({k: _walk(v, fn) for k, v in tree.items()})
  if isinstance(tree, tuple) and hasattr(tree, "_fields"):
    return type(tree)(*(_walk(v, fn) for v in tree))
  if isinstance(tree, (tuple, list)):
    return type(tree)(_walk(v, fn) for v in tree)
  return tree


def to_node_axis(tree, groups_):
  """Every dict holding all of a group's ``node{i}`` entries gets them as
  one ``group{g}`` entry, stacked on a leading node axis."""
  def stack(d):
    for g, members in enumerate(groups_):
      if all(node_key(i) in d for i in members):
        parts = [d.pop(node_key(i)) for i in members]
        d[group_key(g)] = jax.tree.map(lambda *xs: jnp.stack(xs), *parts)
    return d
  return _walk(tree, stack)


def from_node_axis(tree, groups_):
  """The inverse of ``to_node_axis``."""
  def unstack(d):
    for g, members in enumerate(groups_):
      stacked = d.pop(group_key(g), None)
      if stacked is not None:
        for j, i in enumerate(members):
          d[node_key(i)] = jax.tree.map(lambda x, j=j: x[j], stacked)
    return d
  return _walk(tree, unstack)


def state_to_node_axis(state, groups_):
  return state._replace(**{f: to_node_axis(getattr(state, f), groups_)
                           for f in STACKED})


def state_from_node_axis(state, groups_):
  return state._replace(**{f: from_node_axis(getattr(state, f), groups_)
                           for f in STACKED})


def shardings(state, groups_, mesh_):
  """Per leaf: split on ``node`` under a ``group{g}`` whose size divides
  over the node devices; replicated otherwise."""
  n = mesh_.shape[sharding.NODE]
  split = {group_key(g) for g, m in enumerate(groups_) if len(m) % n == 0}

  def spec(path, _):
    keys = {getattr(p, "key", None) for p in path}
    return NamedSharding(mesh_, P(sharding.NODE) if keys & split else P())
  return jax.tree_util.tree_map_with_path(spec, state)


def place(state, groups_, mesh_):
  """A plain ``KTGState`` -> the node-axis layout, placed on ``mesh_``."""
  stacked = state_to_node_axis(state, groups_)
  return jax.device_put(stacked, shardings(stacked, groups_, mesh_))


def step(program, spec: GraphSpec, mesh_) -> Callable:
  """``program.step`` on the node-axis layout (see the module docstring):
  ``(stacked_state, batch) -> (stacked_state, metrics)``, jitted."""
  groups_ = groups(spec)

  def stacked_step(state, batch):
    new, metrics = program.step(state_from_node_axis(state, groups_), batch)
    new = state_to_node_axis(new, groups_)
    return jax.lax.with_sharding_constraint(
        new, shardings(new, groups_, mesh_)), metrics
  return jax.jit(stacked_step)
