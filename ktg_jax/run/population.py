"""A population: K members — K seeds of one graph, or K graphs of one structure.

``training.fit`` trains one graph or a population through the same loop; this
module holds what differs: the members, and a ``Runner`` that steps all of
them behind one interface (state in, batch with a leading member axis in,
metrics with a leading member axis out). Two strategies, the same numbers:

* ``sequential``: K jitted steps, one per member (state: a tuple of K states).
* ``vmap``: one ``jax.jit(jax.vmap(program.step))`` over the members' stacked
  states (every leaf gets a leading K axis; ``ktg_jax.parallel.sharding`` can spread
  that axis over devices).

``STRATEGY`` picks one per backend from measurements: on the 2-core CPU
(benchmarks/RESULTS.md §3, experiments/seed_speed.py) one vmapped program was
1.2-4x *slower* than K sequential steps — XLA:CPU runs convolutions whose
weights differ per member as grouped convolutions, far less efficiently — so
CPU runs sequentially. (A vmapped K=2 DML population on ONE device was once
measured 1.6e-3 from separate runs at step 3 on digits; re-run with
benchmarks/vmap_drift.py it stays within 1.2e-7 — README "Scale out".) On accelerators one wide program is expected to beat K
narrow ones; that is not measured here (no GPU/TPU was available).

Checkpoints always hold the *stacked* layout, so a run may resume under the
other strategy.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from ktg_jax.run import memory
from ktg_jax.parallel import sharding
from ktg_jax.core import GraphSpec
from ktg_jax.core import compile as compile_graph

STRATEGY = {"cpu": "sequential", "gpu": "vmap", "tpu": "vmap"}
STRATEGIES = ("sequential", "vmap")


class Member(NamedTuple):
  spec: GraphSpec
  seed: int


def members(spec: GraphSpec | Sequence[GraphSpec],
            seeds: Sequence[int]) -> tuple[Member, ...]:
  """Members from graphs and seeds; a single graph or seed is broadcast.

  Raises:
    ValueError: lengths differ (neither is 1), or the graphs differ in
      structure (node models, frozen set, reduction) and so cannot share
      one compiled step.
  """
  specs = [spec] if isinstance(spec, GraphSpec) else list(spec)
  seeds = [int(s) for s in seeds]
  if not specs or not seeds:
    raise ValueError("a population needs >= 1 graph and >= 1 seed; got "
                     f"{len(specs)} graphs, seeds={seeds}")
  if len(specs) == 1:
    specs = specs * len(seeds)
  if len(seeds) == 1:
    seeds = seeds * len(specs)
  if len(specs) != len(seeds):
    raise ValueError(f"{len(specs)} graphs but {len(seeds)} seeds; allowed: "
                     "equal counts, or one of them 1 (broadcast)")
  for k, s in enumerate(specs):
    if s.structure() != specs[0].structure():
      raise ValueError(
          f"graph {k} has structure {s.structure()} but graph 0 has "
          f"{specs[0].structure()}; a population needs one structure "
          "(same node models, frozen nodes and reduction)")
  return tuple(Member(s, k) for s, k in zip(specs, seeds))


def default_strategy() -> str:
  return STRATEGY.get(jax.default_backend(), "sequential")


def stack(trees):
  """K pytrees of one structure -> one pytree with a leading K axis."""
  return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def unstack(tree, k: int):
  """Member ``k`` of a stacked pytree."""
  return jax.tree_util.tree_map(lambda x: x[k], tree)


class Runner(NamedTuple):
  """K members behind one interface; ``state`` is in the strategy's layout.

  init(images) -> state; step(state, batch) -> (state, metrics[K, ...]) with
  every batch leaf [K, B, ...]; evaluate(state, images[B]) -> logits
  [K, N, B, C]; stacked(state) / from_stacked(tree): the checkpoint layout;
  member(state, k) -> member k's KTGState.
  """
  strategy: str
  size: int
  init: Callable
  step: Callable
  evaluate: Callable
  stacked: Callable
  from_stacked: Callable
  member: Callable
  # warm(state, batch): compiles the step for this batch ahead of the first
  # call, then frees the compiler's heap (ktg_jax/run/memory.py: lower peak RSS).
  warm: Callable = lambda state, batch: None


def _init_all(members_, compile_kw, jit: bool):
  """Every member's initial state, exactly as a run of that member alone."""
  programs = [compile_graph(m.spec, jit=jit, **compile_kw) for m in members_]

  def init(images):
    return [p.init(jax.random.key(m.seed), images)
            for p, m in zip(programs, members_)]
  return programs[0], init


def _on_mesh(mesh, population: bool):
  """(state placer, batch placer, images placer) on ``mesh``; identities
  without one. A state is split over ``population`` when the mesh has it
  (``population``: a stacked state), else replicated; a batch over
  (population, data) (``sharding.batch_spec``); evaluation images are
  replicated."""
  if mesh is None:
    same = lambda x: x
    return same, same, same
  whole = P()
  state_spec = (P(sharding.POPULATION) if population and sharding.POPULATION
                in mesh.axis_names else whole)
  return (lambda s: sharding.place(s, mesh, state_spec),
          lambda b: sharding.place(b, mesh, sharding.batch_spec(mesh,
                                                                population)),
          lambda x: sharding.place(x, mesh, whole))


def _sequential(members_, compile_kw, mesh=None) -> Runner:
  if mesh is not None and sharding.POPULATION in mesh.axis_names:
    raise ValueError("a mesh with a 'population' axis needs strategy='vmap' "
                     "(one program to shard); allowed with 'sequential': "
                     "mesh=None or a 'data' mesh")
  program, init_all = _init_all(members_, compile_kw, jit=True)
  put_state, put_batch, put_images = _on_mesh(mesh, population=False)

  def step(states, batch):
    out = [program.step(s, put_batch(unstack(batch, k)))
           for k, s in enumerate(states)]
    return tuple(s for s, _ in out), stack([m for _, m in out])

  def evaluate(states, images):
    images = put_images(images)
    return jnp.stack([program.evaluate(s, images) for s in states])

  return Runner(
      strategy="sequential", size=len(members_),
      init=lambda images: tuple(put_state(s) for s in init_all(images)),
      step=step,
      evaluate=evaluate, stacked=lambda states: stack(states),
      from_stacked=lambda tree: tuple(unstack(tree, k)
                                      for k in range(len(members_))),
      member=lambda states, k: states[k],
      warm=lambda states, batch: memory.compile_ahead(
          program.step, states[0], put_batch(unstack(batch, 0))))


def _vmap(members_, compile_kw, mesh=None) -> Runner:
  program, init_all = _init_all(members_, compile_kw, jit=False)
  vstep = jax.jit(jax.vmap(program.step))
  veval = jax.jit(jax.vmap(program.evaluate, in_axes=(0, None)))
  # Members over the mesh's population axis, batches over (population,
  # data); jit keeps the layout.
  put_state, put_batch, put_images = _on_mesh(mesh, population=True)
  return Runner(
      strategy="vmap", size=len(members_),
      init=lambda images: put_state(stack(init_all(images))),
      step=lambda state, batch: vstep(state, put_batch(batch)),
      evaluate=lambda state, images: veval(state, put_images(images)),
      stacked=lambda state: state, from_stacked=lambda tree: tree,
      member=unstack,
      warm=lambda state, batch: memory.compile_ahead(vstep, state,
                                                     put_batch(batch)))


RUNNERS = {"sequential": _sequential, "vmap": _vmap}


def runner(members_: Sequence[Member], strategy: str | None = None,
           mesh=None, **compile_kw: Any) -> Runner:
  """A Runner of ``members_``; ``strategy`` None = by backend (``STRATEGY``).

  ``mesh``: a ``jax.sharding.Mesh`` (``ktg_jax.parallel.sharding``): a ``population``
  axis (vmap only) spreads the members over its devices, a ``data`` axis
  splits every batch over its devices (data parallel, either strategy; the
  parameters replicated; on N processes each puts only its own rows).
  ``compile_kw`` are ``ktg_jax.compile``'s keyword arguments except ``jit``.
  """
  strategy = strategy or default_strategy()
  if strategy not in RUNNERS:
    raise ValueError(f"strategy={strategy!r}; allowed: {sorted(RUNNERS)}")
  return RUNNERS[strategy](tuple(members_), compile_kw, mesh)
