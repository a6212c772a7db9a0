"""SSL objectives (ktg_jax.families.ssl.objectives) against plain-numpy references.

Each reference is written from the published formula (cited per test), in
loops where that is clearer, never by calling the code under test.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from ktg_jax.families.ssl import objectives as ob

from numpy_references import nt_xent

B, D = 6, 5
TOL = dict(rtol=1e-5, atol=1e-5)
GRAD = dict(order=1, modes=["rev"], atol=1e-2, rtol=1e-2, eps=1e-3)


def rand(seed, *shape):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float64)


def unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def log_softmax(x):
  m = x.max(-1, keepdims=True)
  return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


@pytest.fixture(autouse=True)
def _x64():
  with jax.enable_x64(True):
    yield


# --- SimCLR ---------------------------------------------------------------

def test_nt_xent_matches_numpy_and_grads():
  za, zb = rand(0, B, D), rand(1, B, D)
  for t in (0.5, 0.1):
    np.testing.assert_allclose(ob.nt_xent(za, zb, t), nt_xent(za, zb, t), **TOL)
  check_grads(lambda a, b: ob.nt_xent(a, b, 0.5), (za, zb), **GRAD)
  # Aligned views (positives identical) give a smaller loss than random ones.
  assert ob.nt_xent(za, za, 0.5) < ob.nt_xent(za, zb, 0.5)


# --- SimSiam / BYOL ---------------------------------------------------------

def np_cos(x, y):
  return np.sum(unit(x) * unit(y), -1)


def test_simsiam_matches_numpy_and_stops_gradient_on_targets():
  pa, pb, za, zb = (rand(i, B, D) for i in range(4))
  ref = np.mean(-0.5 * np_cos(pa, zb) - 0.5 * np_cos(pb, za))  # SimSiam eq. 4
  np.testing.assert_allclose(ob.simsiam(pa, pb, za, zb), ref, **TOL)
  g = jax.grad(ob.simsiam, argnums=(0, 1, 2, 3))(pa, pb, za, zb)
  assert np.abs(g[0]).sum() > 0 and np.abs(g[1]).sum() > 0
  np.testing.assert_array_equal(g[2], 0.0)
  np.testing.assert_array_equal(g[3], 0.0)
  check_grads(lambda a, b: ob.simsiam(a, b, za, zb), (pa, pb), **GRAD)


def test_byol_matches_numpy_and_stops_gradient_on_targets():
  pa, pb, ta, tb = (rand(i + 10, B, D) for i in range(4))
  # BYOL eq. 2 per direction, L + L~ summed, batch mean.
  ref = np.mean(np.sum((unit(pa) - unit(tb)) ** 2, -1)
                + np.sum((unit(pb) - unit(ta)) ** 2, -1))
  np.testing.assert_allclose(ob.byol(pa, pb, ta, tb), ref, **TOL)
  g = jax.grad(ob.byol, argnums=(2, 3))(pa, pb, ta, tb)
  np.testing.assert_array_equal(g[0], 0.0)
  np.testing.assert_array_equal(g[1], 0.0)
  check_grads(lambda a, b: ob.byol(a, b, ta, tb), (pa, pb), **GRAD)


# --- MoCo -------------------------------------------------------------------

def test_moco_matches_numpy_and_updates_the_ring():
  q, k = rand(20, B, D), rand(21, B, D)
  keys = unit(rand(22, 8, D))
  queue = ob.MocoQueue(jnp.asarray(keys), jnp.asarray(5, jnp.int32))
  loss, new = ob.moco_v2(q, k, queue, 0.2)
  qn, kn = unit(q), unit(k)
  ref = 0.0
  for i in range(B):  # MoCo eq. 1: one positive, the queue as negatives
    pos = np.exp(qn[i] @ kn[i] / 0.2)
    ref += -np.log(pos / (pos + np.exp(keys @ qn[i] / 0.2).sum()))
  np.testing.assert_allclose(loss, ref / B, **TOL)
  # Ring buffer: rows 5, 6, 7, 0, 1, 2 get the new keys, pointer (5 + 6) % 8.
  expected = keys.copy()
  for i in range(B):
    expected[(5 + i) % 8] = kn[i]
  np.testing.assert_allclose(new.keys, expected, **TOL)
  assert int(new.ptr) == 3
  np.testing.assert_allclose(new.keys[3:5], keys[3:5])  # the oldest survive
  g = jax.grad(lambda q, k: ob.moco_v2(q, k, queue)[0], argnums=1)(q, k)
  np.testing.assert_array_equal(g, 0.0)  # no gradient into the key encoder
  check_grads(lambda q: ob.moco_v2(q, k, queue)[0], (q,), **GRAD)


def test_moco_queue_init_is_unit_and_at_zero():
  st = ob.moco_queue_init(jax.random.key(0), 16, D)
  chex.assert_shape(st.keys, (16, D))
  np.testing.assert_allclose(np.linalg.norm(st.keys, axis=-1), 1.0, **TOL)
  assert int(st.ptr) == 0


# --- Barlow Twins -----------------------------------------------------------

def test_barlow_twins_matches_numpy():
  za, zb = rand(30, B, D), rand(31, B, D)
  lam, eps = 5e-3, 1e-5

  def bn(z):  # BatchNorm, no affine: biased variance
    return (z - z.mean(0)) / np.sqrt(z.var(0) + eps)
  c = bn(za).T @ bn(zb) / B  # Barlow Twins eq. 2
  ref = sum((1 - c[i, i]) ** 2 for i in range(D)) + lam * sum(
      c[i, j] ** 2 for i in range(D) for j in range(D) if i != j)
  np.testing.assert_allclose(ob.barlow_twins(za, zb), ref, **TOL)
  np.testing.assert_allclose(ob.barlow_twins(za, zb, 0.5),
                             ref + (0.5 - lam) * (np.sum(c ** 2)
                                                  - np.sum(np.diag(c) ** 2)),
                             **TOL)
  # solo-learn's scale_loss multiplies the whole loss (0.1 in its CIFAR run)
  np.testing.assert_allclose(ob.barlow_twins(za, zb, scale_loss=0.1),
                             0.1 * ref, **TOL)
  check_grads(ob.barlow_twins, (za, zb), **GRAD)


# --- SwAV -------------------------------------------------------------------

def np_sinkhorn(scores, eps, iters):
  """SwAV Alg. 1, transcribed: Q = exp(s/eps)^T, alternate row/col scaling."""
  q = np.exp(scores / eps).T
  k, b = q.shape
  q /= q.sum()
  for _ in range(iters):
    q /= q.sum(1, keepdims=True); q /= k
    q /= q.sum(0, keepdims=True); q /= b
  return (q * b).T


def test_sinkhorn_matches_numpy_and_marginals():
  s = unit(rand(40, B, D)) @ unit(rand(41, 4, D)).T  # 4 prototypes
  codes = ob.sinkhorn(s, 0.05, 3)
  chex.assert_shape(codes, (B, 4))
  np.testing.assert_allclose(codes, np_sinkhorn(s, 0.05, 3), **TOL)
  np.testing.assert_allclose(codes.sum(1), 1.0, **TOL)  # each sample's code
  assert np.all(np.asarray(codes) >= 0)
  # Equipartition: each prototype gets B / K samples as iterations grow.
  many = ob.sinkhorn(s, 0.05, 2000)
  np.testing.assert_allclose(many.sum(0), B / 4, atol=1e-3)
  assert not np.allclose(np.exp(s / 0.05).sum(0), B / 4, atol=1e-1)


def test_swav_matches_numpy_and_grads():
  prot = unit(rand(42, 4, D))
  sa, sb = unit(rand(43, B, D)) @ prot.T, unit(rand(44, B, D)) @ prot.T
  qa, qb = np_sinkhorn(sa, 0.05, 3), np_sinkhorn(sb, 0.05, 3)
  # SwAV eq. 1-2: swapped cross-entropies, averaged over the two terms.
  ref = -0.5 * np.mean(np.sum(qa * log_softmax(sb / 0.1), -1)
                       + np.sum(qb * log_softmax(sa / 0.1), -1))
  np.testing.assert_allclose(ob.swav(sa, sb), ref, **TOL)
  # Codes are stop-gradient, so finite differences (which also move the codes)
  # do not apply; the analytic gradient of the swapped CE does:
  # d/ds_b = (softmax(s_b / T) - q_a) / (2 B T), as each code sums to 1.
  ga, gb = jax.grad(ob.swav, argnums=(0, 1))(sa, sb)
  np.testing.assert_allclose(
      gb, (np.exp(log_softmax(sb / 0.1)) - qa) / (2 * B * 0.1), **TOL)
  np.testing.assert_allclose(
      ga, (np.exp(log_softmax(sa / 0.1)) - qb) / (2 * B * 0.1), **TOL)


# --- DINO -------------------------------------------------------------------

def test_dino_matches_numpy_and_stops_teacher_gradient():
  sa, sb, ta, tb = (rand(50 + i, B, D) for i in range(4))
  c = rand(54, D)

  def h(t, s):  # DINO eq. 1 with centring: H(P_t, P_s)
    pt = np.exp(log_softmax((t - c) / 0.04))
    return -np.sum(pt * log_softmax(s / 0.1), -1)
  ref = 0.5 * np.mean(h(ta, sb) + h(tb, sa))
  np.testing.assert_allclose(ob.dino(sa, sb, ta, tb, c), ref, **TOL)
  g = jax.grad(ob.dino, argnums=(2, 3, 4))(sa, sb, ta, tb, c)
  for gi in g:
    np.testing.assert_array_equal(gi, 0.0)
  check_grads(lambda a, b: ob.dino(a, b, ta, tb, c), (sa, sb), **GRAD)


def test_dino_center_update_direction():
  ta, tb, c = rand(60, B, D), rand(61, B, D), rand(62, D)
  mean = np.concatenate([ta, tb]).mean(0)
  new = ob.dino_center_update(c, ta, tb, 0.9)
  np.testing.assert_allclose(new, 0.9 * c + 0.1 * mean, **TOL)
  # It moves towards the batch mean, by (1 - m) of the gap.
  np.testing.assert_allclose(np.asarray(new) - c, 0.1 * (mean - c), **TOL)


# --- momentum schedules ------------------------------------------------------

def test_momentum_schedules_end_points():
  sched = ob.cosine_momentum(0.996)
  np.testing.assert_allclose(sched(0, 100), 0.996, rtol=1e-7)
  np.testing.assert_allclose(sched(100, 100), 1.0, rtol=1e-7)
  np.testing.assert_allclose(sched(50, 100), 0.998, rtol=1e-6)
  vals = [float(sched(k, 100)) for k in range(0, 101, 10)]
  assert all(a <= b for a, b in zip(vals, vals[1:]))
  np.testing.assert_allclose(ob.constant_momentum(0.999)(37, 100), 0.999)
  assert ob.get("byol").momentum is not None
  np.testing.assert_allclose(ob.momentum_schedule("dino")(0, 10), 0.996,
                             rtol=1e-7)
  np.testing.assert_allclose(ob.momentum_schedule("moco")(9, 10), 0.999,
                             rtol=1e-7)
  # A learner's base override (solo-learn's CIFAR BYOL: 0.99 -> 1).
  byol = ob.momentum_schedule("byol", momentum=0.99)
  np.testing.assert_allclose([byol(0, 10), byol(10, 10)], [0.99, 1.0],
                             rtol=1e-7)
  with pytest.raises(ValueError, match="no momentum encoder.*byol"):
    ob.momentum_schedule("simclr")


# --- registry ----------------------------------------------------------------

HEADS = {"projector": ob.PROJECTION, "predictor": ob.PREDICTION,
         "prototypes": ob.SCORES}


def views(seed):
  return tuple({k: jnp.asarray(rand(seed + 7 * v + i, B, D))
                for i, k in enumerate(HEADS.values())} for v in range(2))


@pytest.mark.parametrize("name", [o.name for o in ob.OBJECTIVES])
def test_registry_rows_run_and_match_raw_functions(name):
  o = ob.get(name)
  assert set(o.heads) <= set(HEADS)
  assert o.momentum_encoder == (o.momentum is not None)
  online, target = views(0), views(100)
  state = o.init_state(jax.random.key(0), D, **o.defaults)
  if name == "moco":  # a small queue for the test
    state = ob.moco_queue_init(jax.random.key(0), 12, D)
  loss, new_state = jax.jit(
      lambda on, ta, st: ob.loss_and_state(name, on, ta, st))(online, target,
                                                               state)
  chex.assert_shape(loss, ())
  assert np.isfinite(loss)
  chex.assert_trees_all_equal_shapes(state, new_state)
  raw = {
      "simclr": lambda: ob.nt_xent(online[0][ob.PROJECTION],
                                   online[1][ob.PROJECTION], 0.5),
      "simsiam": lambda: ob.simsiam(online[0][ob.PREDICTION],
                                    online[1][ob.PREDICTION],
                                    online[0][ob.PROJECTION],
                                    online[1][ob.PROJECTION]),
      "moco": lambda: ob.moco_v2(online[0][ob.PROJECTION],
                                 target[1][ob.PROJECTION], state)[0],
      "byol": lambda: ob.byol(online[0][ob.PREDICTION], online[1][ob.PREDICTION],
                              target[0][ob.PROJECTION], target[1][ob.PROJECTION]),
      "barlow_twins": lambda: ob.barlow_twins(online[0][ob.PROJECTION],
                                              online[1][ob.PROJECTION]),
      "swav": lambda: ob.swav(online[0][ob.SCORES], online[1][ob.SCORES]),
      "dino": lambda: ob.dino(online[0][ob.SCORES], online[1][ob.SCORES],
                              target[0][ob.SCORES], target[1][ob.SCORES],
                              state),
  }[name]()
  np.testing.assert_allclose(loss, raw, **TOL)


def test_registry_errors_name_the_argument():
  with pytest.raises(ValueError, match="objective='nope'.*simclr"):
    ob.get("nope")
  with pytest.raises(ValueError, match="tau.*temperature"):
    ob.loss_and_state("simclr", views(0), views(0), (), tau=1.0)
