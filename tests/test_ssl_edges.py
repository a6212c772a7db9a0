"""DoGo / DisCo edge losses (ktg_jax.families.ssl.edges, registered as loss kinds by
ktg_jax.families.ssl.edge_losses) against numpy references."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from ktg_jax.core import losses
from ktg_jax.families.ssl import edges as E
from ktg_jax.families.ssl.objectives import PROJECTION

B, D = 6, 5
TOL = dict(rtol=1e-5, atol=1e-6)
GRAD = dict(order=1, modes=["rev"], atol=1e-2, rtol=1e-2, eps=1e-3)


@pytest.fixture(autouse=True)
def _x64():
  with jax.enable_x64(True):
    yield


def rand(seed, *shape):
  return np.random.default_rng(seed).normal(size=shape)


def np_row_softmax_of_cosines(za, zb, t):
  """DoGo: P_ij = exp(cos(za_i, zb_j)/t) / sum_k exp(cos(za_i, zb_k)/t)."""
  p = np.zeros((len(za), len(zb)))
  for i in range(len(za)):
    for j in range(len(zb)):
      p[i, j] = np.exp(za[i] @ zb[j] / (np.linalg.norm(za[i])
                                        * np.linalg.norm(zb[j]) * t))
    p[i] /= p[i].sum()
  return p


def np_dogo(sa, sb, ta, tb, t):
  ps, pt = np_row_softmax_of_cosines(sa, sb, t), np_row_softmax_of_cosines(ta, tb, t)
  return np.sum(ps * np.log(ps / pt), axis=1)  # KL of each row


def test_dogo_two_views_matches_numpy():
  sa, sb, ta, tb = (rand(i, B, D) for i in range(4))
  src = {E.FEATURES: sa, E.FEATURES_B: sb}
  tgt = {E.FEATURES: ta, E.FEATURES_B: tb}
  for t in (0.1, 0.5):
    got = E.dogo(src, tgt, t)
    chex.assert_shape(got, (B,))
    np.testing.assert_allclose(got, np_dogo(sa, sb, ta, tb, t), **TOL)
  assert np.all(np.asarray(E.dogo(src, tgt, 0.1)) > 0)


def test_dogo_one_view_is_in_batch_self_similarity():
  s, t = rand(10, B, D), rand(11, B, D)
  got = E.dogo({E.FEATURES: s}, {E.FEATURES: t}, 0.1)
  np.testing.assert_allclose(got, np_dogo(s, s, t, t, 0.1), **TOL)


def test_dogo_scale_relative_to_the_official_reduction():
  # Official: F.kl_div(log P_t, P_s) with 'mean' over B*B entries, times 100.
  sa, sb, ta, tb = (rand(20 + i, B, D) for i in range(4))
  ps = np_row_softmax_of_cosines(sa, sb, 0.1)
  pt = np_row_softmax_of_cosines(ta, tb, 0.1)
  official = 100 * np.mean(ps * (np.log(ps) - np.log(pt)))
  ours = E.dogo({E.FEATURES: sa, E.FEATURES_B: sb},
                {E.FEATURES: ta, E.FEATURES_B: tb}, 0.1)
  np.testing.assert_allclose(official, 100 / B * np.mean(ours), **TOL)


def test_dogo_broadcasts_leading_axes_and_per_edge_temperature():
  s, t = rand(30, 2, B, D), rand(31, 2, B, D)
  temps = jnp.array([0.1, 0.5])
  got = E.dogo({E.FEATURES: s}, {E.FEATURES: t}, temps)
  chex.assert_shape(got, (2, B))
  for e in range(2):
    np.testing.assert_allclose(got[e], np_dogo(s[e], s[e], t[e], t[e],
                                               float(temps[e])), **TOL)


def test_dogo_gradient_wrt_target_nonzero_and_finite_differences():
  sa, sb, ta, tb = (rand(40 + i, B, D) for i in range(4))
  f = lambda ta, tb: jnp.mean(E.dogo_kl(sa, sb, ta, tb, 0.1))
  ga, gb = jax.grad(f, argnums=(0, 1))(ta, tb)
  assert np.abs(ga).sum() > 1e-3 and np.abs(gb).sum() > 1e-3
  check_grads(f, (ta, tb), **GRAD)
  # A step against the gradient lowers the loss: target moves to the source.
  assert f(ta - 0.05 * ga, tb - 0.05 * gb) < f(ta, tb)


def test_disco_matches_numpy_and_gradient():
  s, t = rand(50, B, D), rand(51, B, D)
  u = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  ref = np.sum((u(t) - u(s)) ** 2, axis=-1)
  got = losses.BY_NAME["disco"].fn({PROJECTION: s}, {PROJECTION: t}, 0.0)
  chex.assert_shape(got, (B,))
  np.testing.assert_allclose(got, ref, **TOL)
  cos = np.sum(u(t) * u(s), -1)
  np.testing.assert_allclose(got, 2 - 2 * cos, **TOL)
  np.testing.assert_allclose(E.disco_mse(s, 3.0 * s), 0.0, atol=1e-12)
  f = lambda t: jnp.mean(E.disco_mse(s, t))
  assert np.abs(jax.grad(f)(t)).sum() > 1e-3
  check_grads(f, (t,), **GRAD)


def test_edges_under_caller_stop_gradient_and_jit():
  s, t = rand(60, B, D), rand(61, B, D)
  for kind in (losses.BY_NAME["dogo"], losses.BY_NAME["disco"]):
    fn = jax.jit(lambda s, t, kind=kind: jnp.mean(kind.fn(
        {PROJECTION: jax.lax.stop_gradient(s)}, {PROJECTION: t},
        kind.default_param)))
    gs, gt = jax.grad(fn, argnums=(0, 1))(s, t)
    np.testing.assert_array_equal(gs, 0.0)
    assert np.abs(gt).sum() > 1e-3


def test_errors_name_argument_and_allowed_values():
  with pytest.raises(ValueError, match="width 5 != target width 4"):
    E.disco_mse(rand(0, B, 5), rand(1, B, 4))


def test_dogo_t2_is_dogo_times_the_squared_temperature():
  """The KTG PyTorch code's later DoGoLoss scale: batch-mean KL x T^2."""
  sa, sb, ta, tb = (rand(70 + k, B, D) for k in range(4))
  src = {PROJECTION: sa, "projection_b": sb}
  tgt = {PROJECTION: ta, "projection_b": tb}
  kind = losses.BY_NAME["dogo_t2"]
  assert kind.default_param == 0.1
  for t in (0.1, 0.5):
    np.testing.assert_allclose(kind.fn(src, tgt, t),
                               t ** 2 * np_dogo(sa, sb, ta, tb, t), **TOL)


def test_disco_mean_is_disco_over_the_embedding_width():
  """DisCo's code's scale: nn.MSELoss(), a mean over B x D (per sample: / D)."""
  s, t = rand(80, B, D), rand(81, B, D)
  u = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  got = losses.BY_NAME["disco_mean"].fn({PROJECTION: s}, {PROJECTION: t}, 0.0)
  np.testing.assert_allclose(got, np.mean((u(t) - u(s)) ** 2, -1), **TOL)
