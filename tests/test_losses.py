"""Per-sample losses against numpy references, and their gradients (docs/papers.md §2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from ktg_jax.core import losses

pytestmark = pytest.mark.gpu_subset  # benchmarks/device_check.py

jax.config.update("jax_enable_x64", False)

RNG = np.random.default_rng(0)
ZS = RNG.normal(size=(6, 5)).astype(np.float64) * 2
ZT = RNG.normal(size=(6, 5)).astype(np.float64) * 2
Y = RNG.integers(0, 5, size=6)


def np_softmax(z, temperature=1.0):
  e = np.exp((z - z.max(-1, keepdims=True)) / temperature)
  return e / e.sum(-1, keepdims=True)


def np_kl(zs, zt, temperature=1.0):
  ps, pt = np_softmax(zs, temperature), np_softmax(zt, temperature)
  return (ps * (np.log(ps) - np.log(pt))).sum(-1)


def test_cross_entropy():
  want = -np.log(np_softmax(ZT)[np.arange(6), Y])
  np.testing.assert_allclose(losses.cross_entropy(jnp.asarray(Y), ZT), want,
                             rtol=1e-5)


def test_cross_entropy_is_kl_from_one_hot():
  onehot_logits = np.where(np.eye(5)[Y] > 0, 0.0, -1e9)  # softmax -> one-hot
  ce = losses.cross_entropy(jnp.asarray(Y), ZT)
  np.testing.assert_allclose(ce, losses.kl(onehot_logits, ZT, 0.0), rtol=1e-4)


def test_kl():
  np.testing.assert_allclose(losses.kl(ZS, ZT, 0.0), np_kl(ZS, ZT), rtol=1e-5)
  assert np.all(np.asarray(losses.kl(ZS, ZT, 0.0)) > 0)
  np.testing.assert_allclose(losses.kl(ZS, ZS, 0.0), 0.0, atol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_kd(temperature):
  want = temperature**2 * np_kl(ZS, ZT, temperature)
  np.testing.assert_allclose(losses.kd(ZS, ZT, temperature), want, rtol=1e-5)


def test_prob_cosine():
  ps, pt = np_softmax(ZS), np_softmax(ZT)
  want = (ps * pt).sum(-1) / (np.linalg.norm(ps, axis=-1) *
                              np.linalg.norm(pt, axis=-1))
  np.testing.assert_allclose(losses.prob_cosine(ZS, ZT, 0.0), want, rtol=1e-5)


def test_extreme_logits_stay_finite():
  big = np.array([[1e4, -1e4, 0.0]], np.float32)
  for value in (losses.kl(big, -big, 0.0), losses.kd(big, -big, 2.0),
                losses.prob_cosine(big, -big, 0.0),
                losses.cross_entropy(jnp.array([1]), big)):
    assert np.all(np.isfinite(np.asarray(value)))


@pytest.mark.parametrize("name", ["kl", "kd", "prob_cosine"])
def test_gradients_wrt_target_by_finite_differences(name):
  kind = losses.BY_NAME[name]
  zs = jnp.asarray(ZS[:3], jnp.float32)
  f = lambda zt: jnp.sum(kind.fn(zs, zt, 2.0))
  check_grads(f, (jnp.asarray(ZT[:3], jnp.float32),), order=1,
              modes=("rev",), atol=2e-2, rtol=2e-2)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
  g = jax.grad(lambda z: jnp.sum(losses.cross_entropy(jnp.asarray(Y), z)))(
      jnp.asarray(ZT, jnp.float32))
  np.testing.assert_allclose(g, np_softmax(ZT) - np.eye(5)[Y], atol=1e-5)


def _select(kind, param, zs, zt, kinds=None):
  kinds = kinds or [losses.BY_NAME[n] for n in ("kl", "kd", "prob_cosine")]
  return losses.select(kinds, jnp.asarray(kind), jnp.asarray(param, jnp.float32),
                       {"logits": jnp.asarray(zs, jnp.float32)},
                       {"logits": jnp.asarray(zt, jnp.float32)})


def test_select_picks_the_edge_kind():
  got = [_select(losses.BY_NAME[n].id, p, ZS, ZT)
         for n, p in (("kl", 0.0), ("kd", 3.0), ("prob_cosine", 0.0))]
  np.testing.assert_allclose(got[0], np_kl(ZS, ZT), rtol=1e-4)
  np.testing.assert_allclose(got[1], 9 * np_kl(ZS, ZT, 3.0), rtol=1e-4)
  np.testing.assert_allclose(got[2], losses.prob_cosine(ZS, ZT, 0.0),
                             rtol=1e-4)


def test_select_gradient_finite_with_zero_param():
  # A KL edge stores loss_param 0; KD's branch must not see 1/0 (NaN grads).
  g = jax.grad(lambda zt: jnp.sum(_select(losses.BY_NAME["kl"].id, 0.0, ZS,
                                          zt)))(jnp.asarray(ZT, jnp.float32))
  assert np.all(np.isfinite(np.asarray(g)))


def test_reductions():
  x = jnp.arange(6.0).reshape(2, 3)
  np.testing.assert_allclose(losses.reduce_batch(x, "mean"), [1.0, 4.0])
  np.testing.assert_allclose(losses.reduce_batch(x, "sum"), [3.0, 12.0])
  with pytest.raises(ValueError, match="allowed"):
    losses.reduce_batch(x, "max")
