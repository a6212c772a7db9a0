"""Views and RandAugment on the device (ktg_jax.data.randaugment).

References are independent: PIL's ImageOps / ImageEnhance (the library
FixMatch's RandAugment calls) on 8-bit images, and numpy formulas.
"""

import chex
import dm_pix as pix
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from ktg_jax.data import randaugment as ra

KEY = jax.random.key(0)


def _levels(shape, seed=0):
  """Random 8-bit levels, and the same image as float32 in [0, 1]."""
  levels = np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)
  return levels, (levels / 255.0).astype(np.float32)


def _pil(levels):
  return Image.fromarray(levels[..., 0] if levels.shape[-1] == 1 else levels)


def _from_pil(img, channels):
  out = np.asarray(img, np.float32) / 255.0
  return out[..., None] if channels == 1 else out


@pytest.fixture(scope="module")
def batches():
  rng = np.random.default_rng(1)
  return {c: jnp.asarray(rng.uniform(0, 1, (6, 16, 16, c)), jnp.float32)
          for c in (1, 3)}


@pytest.fixture(scope="module")
def strong():
  """Jitted strong views, one per channel count (compiled once per module)."""
  return {"cifar10": jax.jit(ra.make_view("strong", dataset="cifar10")),
          "fashion_mnist": jax.jit(ra.make_view("strong",
                                                dataset="fashion_mnist"))}


# --- views: determinism, range, shapes, jit / vmap --------------------------

def test_strong_view_is_deterministic_under_a_key(strong, batches):
  x = batches[3]
  a, b = strong["cifar10"](KEY, x), strong["cifar10"](KEY, x)
  np.testing.assert_array_equal(a, b)
  c = strong["cifar10"](jax.random.key(1), x)
  assert not np.allclose(a, c)
  # Samples of one batch get different ops: equal inputs, unequal outputs.
  same = jnp.broadcast_to(x[:1], x.shape)
  out = strong["cifar10"](KEY, same)
  assert len({np.asarray(o).tobytes() for o in out}) == x.shape[0]


@pytest.mark.parametrize("channels, dataset", [(1, "fashion_mnist"),
                                               (3, "cifar10")])
@pytest.mark.parametrize("name", sorted(ra.VIEWS))
def test_views_keep_shape_dtype_and_range(strong, batches, name, channels,
                                          dataset):
  x = batches[channels]
  view = (strong[dataset] if name == "strong"
          else jax.jit(ra.make_view(name, dataset=dataset)))
  out = view(KEY, x)
  chex.assert_shape(out, x.shape)
  chex.assert_type(out, jnp.float32)
  chex.assert_tree_all_finite(out)
  assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
  if name == "identity":
    np.testing.assert_array_equal(out, x)
  else:
    assert not np.allclose(out, x)


def test_views_vmap_over_a_population_and_match_single_calls(strong, batches):
  view = ra.make_view("strong", dataset="fashion_mnist")
  x = batches[1]
  keys = jax.random.split(KEY, 2)
  xs = jnp.stack([x, x[::-1]])
  out = jax.jit(jax.vmap(view))(keys, xs)
  chex.assert_shape(out, (2,) + x.shape)
  for p in range(2):
    np.testing.assert_allclose(out[p], strong["fashion_mnist"](keys[p], xs[p]),
                               atol=1e-6)


def test_strong_is_weak_when_randaugment_and_cutout_are_off(batches):
  x = batches[3]
  weak = ra.make_view("weak", dataset="cifar10")
  strong = ra.make_view("strong", dataset="cifar10", num_ops=0, cutout=0.0)
  weak_rng, _ = jax.random.split(KEY)
  np.testing.assert_array_equal(strong(KEY, x), weak(weak_rng, x))
  # prob=0: the drawn ops are never applied.
  off = jax.jit(ra.rand_augment(num_ops=2, prob=0.0, cutout=0.0))
  np.testing.assert_array_equal(off(KEY, x[:2]), x[:2])


def test_cutout_is_one_grey_square_of_half_the_side():
  x = jnp.full((64, 16, 16, 1), 0.2)
  out = np.asarray(ra.rand_augment(num_ops=0, cutout=0.5)(KEY, x))[..., 0]
  sides = set()
  for img in out:
    grey = img == np.float32(ra.FILL)
    assert set(np.unique(img)) <= {np.float32(0.2), np.float32(ra.FILL)}
    rows, cols = np.flatnonzero(grey.any(1)), np.flatnonzero(grey.any(0))
    # A filled rectangle (clipped square) of side at most 8 = 0.5 * 16.
    assert grey.sum() == len(rows) * len(cols)
    assert np.array_equal(rows, np.arange(rows[0], rows[-1] + 1))
    assert len(rows) <= 8 and len(cols) <= 8
    sides.add((len(rows), len(cols)))
  assert (8, 8) in sides and len(sides) > 1  # inner squares and clipped ones


def test_make_view_errors_name_argument_and_allowed_values():
  with pytest.raises(ValueError, match=r"view='medium'.*identity.*strong.*weak"):
    ra.make_view("medium")
  with pytest.raises(ValueError, match=r"dataset='mnist'.*cifar10"):
    ra.make_view("weak", dataset="mnist")
  with pytest.raises(ValueError, match=r"prob=1.5; allowed: 0.0 <= prob <= 1.0"):
    ra.make_view("strong", prob=1.5)
  with pytest.raises(ValueError, match=r"op='invert'.*solarize"):
    ra.apply_op("invert", KEY, jnp.zeros((4, 4, 1)), 0.5)


# --- the 14 ops one by one ---------------------------------------------------

# Magnitude at which each op is the identity (enhance ops: factor 1 at m=0.5).
NEUTRAL = {"identity": 0.7, "rotate": 0.0, "solarize": 0.0, "shear_x": 0.0,
           "shear_y": 0.0, "translate_x": 0.0, "translate_y": 0.0,
           "color": 0.5, "contrast": 0.5, "brightness": 0.5, "sharpness": 0.5}


@pytest.mark.parametrize("name", sorted(NEUTRAL))
def test_op_is_identity_at_its_neutral_magnitude(batches, name):
  x = batches[3][0]
  out = ra.apply_op(name, KEY, x, NEUTRAL[name])
  np.testing.assert_allclose(out, x, atol=1e-6)
  if name != "identity":  # and the op does act away from it
    assert not np.allclose(ra.apply_op(name, KEY, x, 1.0), x, atol=1e-3)


def test_ops_without_a_neutral_magnitude_fix_their_own_fixed_points():
  # autocontrast: channels spanning [0, 1] already; equalize: a flat
  # histogram over the 256 levels; posterize (4 bits): levels multiple of 16.
  ramp = jnp.arange(256, dtype=jnp.float32).reshape(16, 16, 1) / 255.0
  for name, x in (("autocontrast", ramp), ("equalize", ramp),
                  ("posterize", jnp.floor(ramp * 255 / 16) * 16 / 255.0)):
    np.testing.assert_allclose(ra.apply_op(name, KEY, x, 0.0), x, atol=1e-6)


@pytest.mark.parametrize("m", [0.1, 0.5, 0.9])
def test_color_is_the_identity_on_one_channel(batches, m):
  x = batches[1][0]
  np.testing.assert_array_equal(ra.apply_op("color", KEY, x, m), x)


@pytest.mark.parametrize("channels", [1, 3])
def test_solarize_and_posterize_against_numpy_and_pil(channels):
  levels, x = _levels((12, 12, channels))
  m = 0.3  # threshold 256 * 0.7 = 179.2: PIL inverts levels >= 180
  ref = np.where(levels >= 256 * (1 - m), 255 - levels, levels) / 255.0
  out = ra.apply_op("solarize", KEY, x, m)
  np.testing.assert_allclose(out, ref, atol=1e-6)
  pil = _from_pil(ImageOps.solarize(_pil(levels), 180), channels)
  np.testing.assert_allclose(out, pil, atol=1e-6)
  for m, bits in ((0.1, 4), (0.3, 3), (0.6, 2), (0.8, 1)):
    ref = (levels & (0xFF << (8 - bits) & 0xFF)) / 255.0
    out = ra.apply_op("posterize", KEY, x, m)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    pil = _from_pil(ImageOps.posterize(_pil(levels), bits), channels)
    np.testing.assert_allclose(out, pil, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_autocontrast_and_equalize_against_pil(channels):
  levels, x = _levels((12, 12, channels), seed=3)
  levels = (levels // 2 + 40).astype(np.uint8)  # a narrow range: 40..167
  x = (levels / 255.0).astype(np.float32)
  lo, hi = levels.min((0, 1)), levels.max((0, 1))
  ref = (levels - lo) / (hi - lo).astype(np.float64)
  out = ra.apply_op("autocontrast", KEY, x, 0.5)
  np.testing.assert_allclose(out, ref, atol=1e-6)
  pil = _from_pil(ImageOps.autocontrast(_pil(levels)), channels)
  np.testing.assert_allclose(out, pil, atol=1.0 / 255 + 1e-6)  # PIL truncates
  out = ra.apply_op("equalize", KEY, x, 0.5)
  pil = _from_pil(ImageOps.equalize(_pil(levels)), channels)
  np.testing.assert_allclose(out, pil, atol=1e-6)


@pytest.mark.parametrize("name, enhancer", [
    ("brightness", ImageEnhance.Brightness), ("contrast", ImageEnhance.Contrast),
    ("color", ImageEnhance.Color), ("sharpness", ImageEnhance.Sharpness)])
@pytest.mark.parametrize("m", [0.2, 0.9])
def test_enhance_ops_against_pil(name, enhancer, m):
  levels, x = _levels((12, 12, 3), seed=5)
  out = ra.apply_op(name, KEY, x, m)
  pil = _from_pil(enhancer(_pil(levels)).enhance(0.1 + 1.8 * m), 3)
  # PIL rounds its grey levels / means to 8 bits; we stay in float.
  np.testing.assert_allclose(out, pil, atol=2.0 / 255)
  assert not np.allclose(out, x, atol=2.0 / 255)


@pytest.mark.parametrize("axis, name", [(1, "translate_x"), (0, "translate_y")])
def test_translate_shifts_whole_pixels_and_fills_grey(axis, name):
  _, x = _levels((32, 32, 1), seed=7)
  out = np.asarray(ra.apply_op(name, KEY, x, 0.4))  # 0.4 * 10 = 4 px
  shifted = []
  for sign in (1, -1):  # the sign is random; one of the two must match
    ref = np.full_like(x, ra.FILL)
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    src[axis], dst[axis] = ((slice(4, None), slice(None, -4)) if sign > 0
                            else (slice(None, -4), slice(4, None)))
    ref[tuple(dst)] = x[tuple(src)]
    shifted.append(np.allclose(out, ref, atol=1e-6))
  assert sum(shifted) == 1


def test_rotate_turns_a_dot_by_30_degrees_about_the_centre():
  x = jnp.zeros((17, 17, 1)).at[8, 8].set(1.0).at[8, 12].set(1.0)
  out = np.asarray(ra.apply_op("rotate", KEY, x, 1.0))[..., 0]  # +-30 deg
  assert out[8, 8] == pytest.approx(1.0)
  rows, cols = np.meshgrid(np.arange(17) - 8, np.arange(17) - 8, indexing="ij")
  # The off-centre dot, 4 px right of the centre, lands about 30 deg away
  # (the grey fill of the uncovered corners lies outside radius 6).
  ring = (np.hypot(rows, cols) > 2) & (np.hypot(rows, cols) < 6)
  r, c = np.unravel_index(np.argmax(out * ring), out.shape)
  angle = np.degrees(np.arctan2(-(r - 8), c - 8))
  assert abs(abs(angle) - 30) <= 10 and np.hypot(r - 8, c - 8) == pytest.approx(4, abs=0.8)


def test_make_views_gives_the_cores_views_dict(batches):
  views = ra.make_views("digits")
  assert list(views) == ["weak", "strong"]
  x = batches[1][:2, :8, :8]
  np.testing.assert_array_equal(views["weak"](KEY, x),
                                ra.make_view("weak", dataset="digits")(KEY, x))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_affine_equals_pix_affine_transform(seed):
  """The 2-D gather is PIX's bilinear constant-mode resampling (the reference)."""
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.random((13, 11, 2)), jnp.float32)
  a, b, c, d = rng.normal(1.0, 0.3, 4) * np.array([1, 0.4, 0.4, 1])
  off_r, off_c = rng.normal(0, 3, 2)
  fill = float(rng.random())
  ours = ra._affine(x, ((a, b, off_r), (c, d, off_c)), fill)  # pylint: disable=protected-access
  full = jnp.array([[a, b, 0., off_r], [c, d, 0., off_c], [0., 0., 1., 0.],
                    [0., 0., 0., 1.]], jnp.float32)
  ref = pix.affine_transform(x, full, order=1, mode="constant", cval=fill)
  np.testing.assert_allclose(ours, ref, atol=1e-5)
  assert np.isclose(np.asarray(ours), fill).any()  # some pixels uncovered


def test_rotate_equals_pix_rotate():
  _, x = _levels((16, 16, 1), seed=3)
  for key in (jax.random.key(0), jax.random.key(1)):  # both signs
    out = ra.apply_op("rotate", key, x, 0.7)
    angle = float(ra._sign(key, 0.7 * ra.MAX_ROTATE_DEG)) * np.pi / 180  # pylint: disable=protected-access
    ref = pix.rotate(x, angle, order=1, mode="constant", cval=ra.FILL)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_black_background_sets_fill_with_zero():
  """Fashion-MNIST's Cutout and uncovered pixels are its background 0."""
  assert ra.fill_for("fashion_mnist") == 0.0 and ra.fill_for("cifar10") == 0.5
  x = jnp.full((4, 28, 28, 1), 0.7, jnp.float32)
  out = np.asarray(ra.make_view("strong", dataset="fashion_mnist",
                                num_ops=0)(jax.random.key(0), x))
  assert set(np.unique(out)) <= {np.float32(0.0), np.float32(0.7)}
  assert (out == 0.0).sum(axis=(1, 2, 3)).min() >= 7 * 7  # a 14-px square, clipped
