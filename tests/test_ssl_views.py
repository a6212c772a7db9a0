"""SSL views on the device (ktg_jax.data.ssl_views)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ktg_jax.data import ssl_views as sv

ID = sv.ViewConfig.identity()


def images(c=3, n=4, hw=16, seed=0):
  return jax.random.uniform(jax.random.key(seed), (n, hw, hw, c))


@pytest.mark.parametrize("c", [1, 3])
def test_shape_range_determinism_and_jit(c):
  x = images(c)
  view = jax.jit(sv.ssl_view(sv.ViewConfig(blur_prob=0.5)))
  a, b = view(jax.random.key(1), x), view(jax.random.key(1), x)
  chex.assert_shape(a, x.shape)
  np.testing.assert_array_equal(a, b)  # same key, same view
  assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
  other = view(jax.random.key(2), x)
  assert not np.allclose(a, other)  # another key, another view
  assert not np.allclose(a, x)


@pytest.mark.parametrize("c", [1, 3])
def test_identity_when_all_strengths_are_zero(c):
  x = images(c)
  assert sv.pipeline(ID, x.shape[1:]) == ()
  np.testing.assert_array_equal(sv.ssl_view(ID)(jax.random.key(0), x), x)


def test_grayscale_images_drop_colour_steps():
  full = sv.ViewConfig(blur_prob=0.5)
  names = lambda c: [n for n, _ in sv.pipeline(full, (16, 16, c))]
  assert names(3) == ["resized_crop", "flip", "color_jitter", "grayscale", "blur"]
  assert names(1) == ["resized_crop", "flip", "color_jitter", "blur"]
  # A grayscale config with only saturation / hue has nothing left to do.
  colour_only = ID._replace(jitter_prob=1.0, saturation=0.5, hue=0.2)
  assert sv.pipeline(colour_only, (16, 16, 1)) == ()
  assert [n for n, _ in sv.pipeline(colour_only, (16, 16, 3))] == ["color_jitter"]


def test_flip_with_probability_one_mirrors():
  x = images()
  got = sv.ssl_view(ID._replace(flip_prob=1.0))(jax.random.key(0), x)
  np.testing.assert_array_equal(got, x[:, :, ::-1])


def test_brightness_scales_by_a_factor_in_range():
  x = images(1) * 0.5  # no clipping at factor <= 1.4
  got = sv.ssl_view(ID._replace(jitter_prob=1.0, brightness=0.4))(
      jax.random.key(0), x)
  factor = np.asarray(got / x).reshape(len(x), -1)
  np.testing.assert_allclose(factor, np.broadcast_to(factor[:, :1], factor.shape),
                             rtol=1e-5)  # one factor per image
  assert np.all((factor >= 0.6 - 1e-6) & (factor <= 1.4 + 1e-6))
  assert len(np.unique(factor[:, 0].round(6))) == len(x)  # vmapped: differ


def test_contrast_keeps_the_mean_of_a_grayscale_image():
  x = 0.25 + 0.5 * images(1)  # stays inside [0, 1] for factors <= 1.4
  got = sv.ssl_view(ID._replace(jitter_prob=1.0, contrast=0.4))(
      jax.random.key(3), x)
  np.testing.assert_allclose(got.mean(axis=(1, 2, 3)), x.mean(axis=(1, 2, 3)),
                             rtol=1e-5)
  assert not np.allclose(got.std(axis=(1, 2, 3)), x.std(axis=(1, 2, 3)))


def test_crop_of_a_ramp_is_an_upsampled_subrange():
  ramp = jnp.broadcast_to(jnp.linspace(0, 1, 16)[None, None, :, None],
                          (3, 16, 16, 1))
  got = np.asarray(sv.ssl_view(ID._replace(min_scale=0.1, max_scale=0.3))(
      jax.random.key(0), ramp))
  np.testing.assert_allclose(got, np.broadcast_to(got[:, :1], got.shape),
                             atol=1e-6)  # rows still equal
  row = got[:, 0, :, 0]
  assert np.all(np.diff(row, axis=1) >= -1e-6)  # still increasing left->right
  assert np.all(row[:, -1] - row[:, 0] < 0.9)   # but spans a sub-range


def test_blur_smooths_and_keeps_constants():
  x = images(1)
  cfg = ID._replace(blur_prob=1.0)
  got = sv.ssl_view(cfg)(jax.random.key(0), x)
  assert float(got.std()) < float(x.std())
  const = jnp.full((2, 16, 16, 1), 0.3)
  np.testing.assert_allclose(sv.ssl_view(cfg)(jax.random.key(0), const), 0.3,
                             rtol=1e-5)


def test_two_views_differ_and_are_reproducible():
  x = images()
  views = jax.jit(sv.two_views())
  va, vb = views(jax.random.key(5), x)
  assert not np.allclose(va, vb)
  va2, _ = views(jax.random.key(5), x)
  np.testing.assert_array_equal(va, va2)


def test_errors_name_field_value_and_allowed():
  with pytest.raises(ValueError, match=r"flip_prob=1.5; allowed: 0 <= x <= 1"):
    sv.pipeline(sv.ViewConfig(flip_prob=1.5), (8, 8, 3))
  with pytest.raises(ValueError, match=r"min_scale=0.0"):
    sv.pipeline(sv.ViewConfig(min_scale=0.0), (8, 8, 3))
