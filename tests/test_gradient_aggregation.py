"""PCGrad aggregation against a plain-numpy projection (docs/papers.md §2, thesis §4.3.3)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ktg_jax.core import gradient_aggregation as ga


def np_pcgrad(g, orders=None):
  """Yu et al. 2020 Alg. 1 by hand; orders[i] = the visiting order of j."""
  g = np.asarray(g, np.float64)
  k = len(g)
  orders = [list(range(k))] * k if orders is None else orders
  out = g.copy()
  projected = np.zeros((k, k), bool)
  for i in range(k):
    gi = g[i].copy()
    for j in orders[i]:
      if j == i:
        continue
      d = gi @ g[j]
      if d < 0:
        gi = gi - d / (g[j] @ g[j]) * g[j]
        projected[i, j] = True
    out[i] = gi
  return out, projected


def as_tree(flat):
  """[K, 5] -> a two-leaf pytree {"a": [K, 2], "b": [K, 3]}."""
  flat = jnp.asarray(flat, jnp.float32)
  return {"a": flat[:, :2], "b": flat[:, 2:].reshape(-1, 3)}


def test_hand_made_conflict():
  g = np.array([[1.0, 0.0], [-1.0, 1.0]])
  out = ga.pcgrad(jnp.asarray(g))
  np.testing.assert_allclose(out.per_task, [[0.5, 0.5], [0.0, 1.0]], atol=1e-6)
  np.testing.assert_allclose(out.grad, [0.5, 1.5], atol=1e-6)
  # After the projection g_i^PC is orthogonal to the g_j it conflicted with.
  np.testing.assert_allclose(np.asarray(out.per_task)[0] @ g[1], 0, atol=1e-6)
  np.testing.assert_array_equal(out.conflicts, [[False, True], [True, False]])


def test_no_conflict_is_a_no_op():
  g = np.array([[1.0, 2.0, 0.0, 0.5, 1.0], [0.5, 0.0, 1.0, 0.0, 2.0],
                [0.0, 1.0, 1.0, 1.0, 0.0]])
  out = ga.pcgrad(as_tree(g))
  np.testing.assert_allclose(np.concatenate([out.grad["a"], out.grad["b"]]),
                             g.sum(0), rtol=1e-6)
  np.testing.assert_allclose(out.per_task["a"], g[:, :2])
  assert not np.asarray(out.conflicts).any()
  assert not np.asarray(out.projected).any()


def test_orthogonal_is_not_a_conflict():
  out = ga.pcgrad(jnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
  assert not np.asarray(out.conflicts).any()
  np.testing.assert_allclose(out.grad, [1.0, 1.0])
  assert np.all(np.isfinite(out.grad))      # a zero gradient: no 0 / 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_vectors_against_numpy(seed):
  g = np.random.default_rng(seed).normal(size=(5, 5))
  out = ga.pcgrad(as_tree(g))
  want, projected = np_pcgrad(g)
  got = np.concatenate([out.per_task["a"], out.per_task["b"]], axis=1)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(np.concatenate([out.grad["a"], out.grad["b"]]),
                             want.sum(0), rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(out.projected, projected)
  dots = g @ g.T
  want_conflicts = (dots < 0) & ~np.eye(5, dtype=bool)
  np.testing.assert_array_equal(out.conflicts, want_conflicts)
  np.testing.assert_array_equal(out.conflicts, np.asarray(out.conflicts).T)
  assert want_conflicts.any()                # the case really has conflicts


def test_order_matters_and_key_follows_its_permutations():
  # g_0 conflicts with both g_1 and g_2: the order of the two projections matters.
  g = np.array([[1.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -0.2, 1.0]])
  rev = [[2, 1, 0]] * 3
  asc_want, _ = np_pcgrad(g)
  rev_want, _ = np_pcgrad(g, rev)
  assert not np.allclose(asc_want[0], rev_want[0])
  np.testing.assert_allclose(ga.pcgrad(jnp.asarray(g)).per_task, asc_want,
                             rtol=1e-5, atol=1e-6)
  key = jax.random.PRNGKey(3)
  orders = np.asarray(jax.vmap(lambda kk: jax.random.permutation(kk, 3))(
      jax.random.split(key, 3)))
  want, projected = np_pcgrad(g, orders.tolist())
  out = ga.pcgrad(jnp.asarray(g, jnp.float32), key)
  np.testing.assert_allclose(out.per_task, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(out.projected, projected)


def test_conflict_counts_accumulate_over_steps():
  steps = [np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, 1.0]]),
           np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])]
  counts = sum(np.asarray(ga.pcgrad(jnp.asarray(s)).conflicts, int)
               for s in steps)
  np.testing.assert_array_equal(counts, [[0, 1, 1], [1, 0, 1], [1, 1, 0]])


def test_jacrev_of_k_losses_and_jit():
  params = {"w": jnp.array([0.5, -1.0, 2.0]), "b": jnp.array(0.3)}

  def losses(p):   # three transfer losses pulling w towards different points
    targets = jnp.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    return jnp.sum((p["w"] - targets) ** 2, -1) + p["b"] * jnp.arange(3.0)

  grads = jax.jacrev(losses)(params)
  chex.assert_shape(grads["w"], (3, 3))
  out = jax.jit(ga.pcgrad)(grads)
  chex.assert_trees_all_equal_shapes(out.grad, params)
  flat = np.concatenate([np.asarray(grads["b"])[:, None],
                         np.asarray(grads["w"])], 1)     # ravel order: b, w
  want, _ = np_pcgrad(flat)
  np.testing.assert_allclose(out.grad["b"], want.sum(0)[0], rtol=1e-4)
  np.testing.assert_allclose(out.grad["w"], want.sum(0)[1:], rtol=1e-4)


def test_stack_trees_and_errors():
  trees = [{"a": jnp.ones(2) * i} for i in range(3)]
  chex.assert_shape(ga.stack_trees(trees)["a"], (3, 2))
  with pytest.raises(ValueError, match="empty"):
    ga.pcgrad({})
  with pytest.raises(ValueError, match="leading"):
    ga.pcgrad({"a": jnp.ones((2, 3)), "b": jnp.ones((3, 3))})
