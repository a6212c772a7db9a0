"""Gradient aggregation of K transfer losses, PCGrad-style (docs/papers.md §2, thesis §4.3.3).

Ensemble compression (thesis §4.3.3, §4.4.6, Tables 4.9-4.11) learns a student
from K teachers with one transfer loss each; two losses *conflict* when their
gradients have a negative inner product, and the conflicting component is then
removed (thesis ref [127], Yu et al. 2020, "Gradient Surgery for Multi-Task
Learning", PCGrad, Algorithm 1):

  g_i^PC = g_i;  for j != i:  if g_i^PC . g_j < 0:
      g_i^PC <- g_i^PC - (g_i^PC . g_j) / ||g_j||^2 g_j
  aggregated gradient = sum_i g_i^PC

The g_j are the *original* gradients; g_i^PC is updated in place as j runs.
Order: by default j runs in ascending index order, as the authors' released
code (``PCGrad_tf.py``: a fixed ``for k in range(num_tasks)``; its
``tf.random.shuffle`` result is never used); pass ``key`` for the paper's
random order (one permutation per i). optax 0.2.8 (``optax``,
``optax.contrib``) has no PCGrad or gradient projection, so it is written here.

Conflicts per pair (Tables 4.10/4.11 are symmetric): ``conflicts[i, j]`` is
``g_i . g_j < 0`` on the original gradients; ``projected[i, j]`` says whether
g_i^PC was actually projected on g_j's normal plane (order-dependent). Sum
either over steps to get the tables' counts.

Example:
  >>> import jax.numpy as jnp
  >>> g = {"w": jnp.array([[1.0, 0.0], [-1.0, 1.0]])}   # two conflicting tasks
  >>> out = pcgrad(g)
  >>> out.grad["w"].tolist()    # [0.5, 0.5] + [0, 1]
  [0.5, 1.5]
  >>> out.conflicts.tolist()
  [[False, True], [True, False]]
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


class Aggregated(NamedTuple):
  grad: Any                # pytree of one gradient: sum_i g_i^PC
  per_task: Any            # pytree with leading axis K: the g_i^PC
  conflicts: jax.Array     # bool[K, K]: g_i . g_j < 0 (original), diagonal False
  projected: jax.Array     # bool[K, K]: g_i^PC was projected away from g_j


def stack_trees(trees: Sequence[Any]):
  """K pytrees of one structure -> one pytree whose leaves have a leading K axis."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def pcgrad(grads, key: jax.Array | None = None) -> Aggregated:
  """PCGrad aggregation of K gradients (module docstring for the formula).

  Args:
    grads: a pytree whose leaves have a leading axis K (one gradient per loss),
      e.g. ``jax.jacrev(losses)(params)`` of a vector of K losses, or
      ``stack_trees([g_1, ..., g_K])``.
    key: None for the fixed ascending order of j; a PRNG key for PCGrad's
      random order, one permutation for each i.

  Returns:
    ``Aggregated(grad, per_task, conflicts, projected)``.
  """
  leaves = jax.tree.leaves(grads)
  if not leaves:
    raise ValueError("grads=<empty pytree>; allowed: leaves with a leading K axis")
  k = leaves[0].shape[0] if leaves[0].ndim else 0
  if k < 1 or any(leaf.ndim == 0 or leaf.shape[0] != k for leaf in leaves):
    raise ValueError(f"grads leading axes {[leaf.shape[:1] for leaf in leaves]}; "
                     "allowed: one common leading axis K >= 1")
  _, unravel = ravel_pytree(jax.tree.map(lambda x: x[0], grads))
  flat = jax.vmap(lambda t: ravel_pytree(t)[0])(grads)             # [K, P]
  projected_flat, projected = project_conflicting(flat, key)
  per_task = jax.vmap(unravel)(projected_flat)
  dots = flat @ flat.T
  conflicts = (dots < 0) & ~jnp.eye(k, dtype=bool)
  return Aggregated(unravel(jnp.sum(projected_flat, axis=0)), per_task,
                    conflicts, projected)


def project_conflicting(flat, key: jax.Array | None = None):
  """PCGrad on flat gradients: float[K, P] -> (g^PC float[K, P], projected bool[K, K])."""
  k = flat.shape[0]
  sq_norms = jnp.sum(jnp.square(flat), axis=-1)
  if key is None:
    orders = jnp.broadcast_to(jnp.arange(k), (k, k))
  else:
    orders = jax.vmap(lambda kk: jax.random.permutation(kk, k))(
        jax.random.split(key, k))

  def one_task(i, g, order):
    def visit(g, j):
      dot = jnp.dot(g, flat[j])
      hit = (dot < 0) & (j != i)        # dot < 0 implies ||g_j|| > 0
      coef = jnp.where(hit, dot / jnp.where(hit, sq_norms[j], 1.0), 0.0)
      return g - coef * flat[j], hit
    g, hits = jax.lax.scan(visit, g, order)
    return g, jnp.zeros((k,), bool).at[order].set(hits)

  return jax.vmap(one_task)(jnp.arange(k), flat, orders)


def pcgrad_grad(total_loss, params, node_edges, num_nodes: int):
  """The step's gradient with PCGrad over its node edges (``compile(...,
  aggregate="pcgrad")``).

  ``total_loss(params) -> (sum, (node_loss, outputs, model_state, aux))`` is
  the step's objective, ``aux`` holding the gated, reduced ``edge_loss[s, t]``
  and ``label_loss[t]``. The gradient of every node edge's loss (one reverse
  pass each, ``jax.jacrev``) goes through ``pcgrad``; the label edges'
  gradient is added unprojected. Edges into different nodes touch disjoint
  parameters (inner product 0), so one projection over all edges equals one
  per target node.

  Returns:
    ``(grads, (node_loss, outputs, model_state, aux))`` as ``jax.grad(...,
    has_aux=True)``, with ``aux["conflicts"]``: int[N, N], entry [a, b] = 1
    where the edges a -> t and b -> t conflict (some t; Tables 4.10/4.11).
  """
  if not node_edges:
    return jax.grad(total_loss, has_aux=True)(params)
  src = jnp.asarray([s for s, _ in node_edges])
  tgt = jnp.asarray([t for _, t in node_edges])

  def parts(p):
    _, rest = total_loss(p)
    aux = rest[3]
    vec = jnp.concatenate([jnp.sum(aux["label_loss"])[None],
                           aux["edge_loss"][src, tgt]])
    return vec, rest

  jac, rest = jax.jacrev(parts, has_aux=True)(params)
  label_grad = jax.tree.map(lambda g: g[0], jac)
  out = pcgrad(jax.tree.map(lambda g: g[1:], jac))
  grads = jax.tree.map(jnp.add, label_grad, out.grad)
  conflicts = jnp.zeros((num_nodes, num_nodes), jnp.int32).at[
      src[:, None], src[None, :]].add(out.conflicts.astype(jnp.int32))
  node_loss, outputs, model_state, aux = rest
  return grads, (node_loss, outputs, model_state,
                 {**aux, "conflicts": conflicts})


# compile(..., aggregate=name): None = the plain sum of the gradients.
AGGREGATES = {None: None, "pcgrad": pcgrad_grad}
