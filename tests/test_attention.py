"""Attention maps and ch.4 crop losses against plain-numpy loops (docs/papers.md §2)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from ktg_jax.families.ensemble import attention
from ktg_jax.families.ensemble import attention_losses as losses_attention
from ktg_jax.core import losses

RNG = np.random.default_rng(0)
H = W = 8
# Planted source peaks: corners, borders and the interior (row, col).
PEAKS = [(0, 0), (0, 7), (7, 7), (3, 0), (4, 4), (7, 2)]
B = len(PEAKS)


def planted(h=H, w=W, peaks=PEAKS):
  s = RNG.uniform(0.0, 1.0, size=(len(peaks), h, w)).astype(np.float32)
  for b, (r, c) in enumerate(peaks):
    s[b, r, c] = 5.0
  return s


SRC = planted()
TGT = RNG.uniform(0.0, 1.0, size=(B, H, W)).astype(np.float32)


def np_window(s, k):
  """Start of the k x k crop at the argmax, shifted inside the map, by hand."""
  h, w = s.shape
  r, c = np.unravel_index(np.argmax(s), s.shape)
  r0, c0 = r - k // 2, c - k // 2
  r0 = 0 if r0 < 0 else (h - k if r0 + k > h else r0)
  c0 = 0 if c0 < 0 else (w - k if c0 + k > w else c0)
  return r0, c0


def np_crop_loss(s, t, sizes, kind, pixels="mean"):
  out = np.zeros(s.shape[0])
  for b in range(s.shape[0]):
    total = 0.0
    for k in sizes:
      r0, c0 = np_window(s[b], k)
      qs = s[b, r0:r0 + k, c0:c0 + k].astype(np.float64).ravel()
      qt = t[b, r0:r0 + k, c0:c0 + k].astype(np.float64).ravel()
      qs, qt = qs / np.linalg.norm(qs), qt / np.linalg.norm(qt)
      if kind == "cos":
        total += qs @ qt
      elif pixels == "mean":
        total += np.mean((qs - qt) ** 2)
      else:
        total += np.sum((qs - qt) ** 2)
    out[b] = total / len(sizes)
  return out


def test_at_map_against_numpy():
  a = RNG.normal(size=(2, 4, 5, 3)).astype(np.float32)
  for p in (1.0, 2.0, 3.0):
    want = np.zeros((2, 4, 5))
    for c in range(3):
      want += np.abs(a[..., c]) ** p
    got = attention.at_map(jnp.asarray(a), p)
    chex.assert_shape(got, (2, 4, 5))
    np.testing.assert_allclose(got, want, rtol=1e-5)
  with pytest.raises(ValueError, match="p=0"):
    attention.at_map(a, 0)


def test_crop_starts_shift_inside_map():
  for k in (3, 5, 7):
    rows, cols = attention.crop_starts(jnp.asarray(SRC), k)
    want = [np_window(SRC[b], k) for b in range(B)]
    np.testing.assert_array_equal(np.stack([rows, cols], 1), want)
  # Corner (0, 0) -> window at (0, 0); corner (7, 7) with k=5 -> (3, 3).
  rows, cols = attention.crop_starts(jnp.asarray(SRC), 5)
  assert (int(rows[0]), int(cols[0])) == (0, 0)
  assert (int(rows[2]), int(cols[2])) == (3, 3)


@pytest.mark.parametrize("pixels", ["mean", "sum"])
def test_att_mse_against_numpy(pixels):
  got = attention.att_mse(SRC, TGT, (3, 5, 7), pixels=pixels)
  chex.assert_shape(got, (B,))
  want = np_crop_loss(SRC, TGT, (3, 5, 7), "mse", pixels)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)


def test_att_cosine_against_numpy():
  got = attention.att_cosine(SRC, TGT, (3, 5, 7))
  np.testing.assert_allclose(got, np_crop_loss(SRC, TGT, (3, 5, 7), "cos"),
                             rtol=1e-5)
  # Squared-norm MSE of unit vectors is 2 - 2 cos.
  np.testing.assert_allclose(attention.att_mse(SRC, TGT, (3, 5, 7), "sum"),
                             2 - 2 * np.asarray(got), rtol=1e-4, atol=1e-6)


def test_abn_sizes_on_a_larger_map():
  peaks = [(0, 0), (13, 13), (6, 13), (7, 7)]
  s = planted(14, 14, peaks)
  t = RNG.uniform(0.1, 1.0, size=s.shape).astype(np.float32)
  sizes = attention.CROP_SIZES["abn"]
  np.testing.assert_allclose(attention.att_mse(s, t, sizes),
                             np_crop_loss(s, t, sizes, "mse"), rtol=1e-4)
  np.testing.assert_allclose(attention.att_cosine(s, t, sizes),
                             np_crop_loss(s, t, sizes, "cos"), rtol=1e-5)


def test_crops_follow_the_source_not_the_target():
  # The target's own peak elsewhere must not move the window.
  t = TGT.copy()
  t[:, 4, 4] = 100.0
  got = attention.att_cosine(SRC, t, (3,))
  np.testing.assert_allclose(got, np_crop_loss(SRC, t, (3,), "cos"), rtol=1e-5)
  assert not np.allclose(got, attention.att_cosine(t, SRC, (3,)))


def test_leading_axes_broadcast():
  src2 = np.stack([SRC, TGT])                         # [2, B, H, W]
  got = attention.att_mse(src2, TGT, (3, 5))          # target broadcast
  chex.assert_shape(got, (2, B))
  np.testing.assert_allclose(got[0], np_crop_loss(SRC, TGT, (3, 5), "mse"),
                             rtol=1e-4)
  np.testing.assert_allclose(got[1], 0.0, atol=1e-7)  # TGT vs itself


def test_zero_crop_is_finite():
  s = np.zeros((1, 5, 5), np.float32)
  g = jax.grad(lambda t: attention.att_mse(s, t, (3,)).sum())(jnp.zeros_like(s))
  assert np.all(np.isfinite(g))


def test_gradients_wrt_target():
  sizes = (3, 5, 7)
  for fn in (attention.att_mse, attention.att_cosine):
    check_grads(lambda t: fn(SRC, t, sizes), (jnp.asarray(TGT),), order=1,
                modes=("rev",), eps=1e-2, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("fn", [attention.att_mse, attention.att_cosine])
def test_target_gradient_zero_outside_windows(fn):
  sizes = (3, 5)
  g = np.asarray(jax.grad(lambda t: fn(SRC, t, sizes).sum())(jnp.asarray(TGT)))
  inside = np.zeros_like(g, dtype=bool)
  for b in range(B):
    for k in sizes:
      r0, c0 = np_window(SRC[b], k)
      inside[b, r0:r0 + k, c0:c0 + k] = True
  assert np.all(g[~inside] == 0.0)
  for b in range(B):                  # every sample's window gets a gradient
    assert np.abs(g[b][inside[b]]).max() > 0


def test_jit_and_errors():
  np.testing.assert_allclose(jax.jit(attention.att_cosine, static_argnums=2)(
      SRC, TGT, (3,)), attention.att_cosine(SRC, TGT, (3,)), rtol=1e-6)
  with pytest.raises(ValueError, match="sizes"):
    attention.att_mse(SRC, TGT, (9,))
  with pytest.raises(ValueError, match="sizes"):
    attention.att_mse(SRC, TGT, ())
  with pytest.raises(ValueError, match="pixels='max'"):
    attention.att_mse(SRC, TGT, (3,), pixels="max")
  with pytest.raises(ValueError, match="maps of shape"):
    attention.att_cosine(SRC[0, 0], TGT[0, 0], (3,))


# --- designs ------------------------------------------------------------------

ZS = RNG.normal(size=(B, 5)).astype(np.float32) * 2
ZT = RNG.normal(size=(B, 5)).astype(np.float32) * 2


def np_softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def np_components():
  ps, pt = np_softmax(ZS.astype(np.float64)), np_softmax(ZT.astype(np.float64))
  kl = (ps * (np.log(ps) - np.log(pt))).sum(-1)
  cos = (ps * pt).sum(-1) / (np.linalg.norm(ps, axis=-1) *
                             np.linalg.norm(pt, axis=-1))
  sizes = attention.CROP_SIZES["resnet"]
  return {"kl": kl, "prob_cosine": cos,
          "att_mse": np_crop_loss(SRC, TGT, sizes, "mse"),
          "att_cosine": np_crop_loss(SRC, TGT, sizes, "cos")}


SOURCE = {"logits": ZS, "attention": SRC}
TARGET = {"logits": ZT, "attention": TGT}


def _design(name, source=SOURCE, target=TARGET):
  """A design as the core runs it: the registered loss kind of a ResNet
  source (``losses_attention.kind_name``) at its default parameter."""
  kind = losses.BY_NAME[losses_attention.kind_name(name, "resnet8")]
  return kind.fn(source, target, kind.default_param)


def test_six_designs():
  assert list(losses_attention.DESIGN_KINDS) == [
      "prob+", "prob-", "att+", "att-", "prob+att+", "prob-att-"]
  want = np_components()
  expected = {"prob+": want["kl"], "prob-": want["prob_cosine"],
              "att+": want["att_mse"], "att-": want["att_cosine"],
              "prob+att+": want["kl"] + want["att_mse"],
              "prob-att-": want["prob_cosine"] + want["att_cosine"]}
  for name, value in expected.items():
    got = _design(name)
    chex.assert_shape(got, (B,))
    np.testing.assert_allclose(got, value, rtol=1e-4, atol=1e-7)


def test_design_gradient_reaches_target_only_through_its_components():
  def loss(zt, qt, name):
    return _design(name, SOURCE, {"logits": zt, "attention": qt}).sum()
  g_z, g_q = jax.grad(loss, (0, 1))(ZT, TGT, "prob+")
  assert np.abs(g_z).max() > 0 and np.all(g_q == 0)
  g_z, g_q = jax.grad(loss, (0, 1))(ZT, TGT, "att-")
  assert np.all(g_z == 0) and np.abs(g_q).max() > 0


def test_design_errors():
  with pytest.raises(ValueError, match="design='kl'"):
    losses_attention.kind_name("kl", "resnet8")
