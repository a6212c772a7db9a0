"""Views on the device: identity, weak (flip / crop), strong (+ RandAugment + Cutout).

A view is a pure ``fn(rng, images) -> images`` on float images in [0, 1],
NHWC, any channel count, jittable; the KTG step takes them as
``views={"weak": make_view("weak", ...), "strong": make_view("strong", ...)}``.

RandAugment is FixMatch's "RA" variant (Sohn et al. 2020; google-research/
fixmatch ``libml/augment.py`` AugmentPoolRAMC, ranges from
``third_party/auto_augment/augmentations.py``): per sample, ``num_ops=2`` ops
drawn uniformly *with replacement* from the 14 of ``OPS``, each applied with
probability 1/2 at its own random magnitude ``m = level / 10``, level uniform
in {1, ..., 9}; then Cutout of a square of side ``0.5 * min(H, W)`` (16 px of
a 32 px image) centred uniformly and clipped at the border, filled with grey
0.5 (FixMatch zeroes images scaled to [-1, 1], i.e. grey) — or, on a
black-background grey data set, with its background 0 (``fill_for``).

Each op is ``op(rng, image, m) -> image`` on one HWC image, ``m`` in [0, 1]
(``rng`` draws the sign of geometric ops). Magnitude -> parameter (PIL's
semantics, images 8-bit-quantised only where the op is defined on 8 bits):

==============  ========================================================
identity        x
autocontrast    per channel (x - min) / (max - min); constant channel: x
equalize        PIL ``ImageOps.equalize`` per channel on round(255 x)
rotate          +-30 m degrees about the centre
solarize        1 - x where 255 x >= 256 (1 - m)   (m = 0: identity)
color           g + f (x - g), g = grayscale of x, f = 0.1 + 1.8 m
posterize       keep the top 4 - floor(4 m) bits of round(255 x)
contrast        mu + f (x - mu), mu = mean grey level of the image
brightness      f x
sharpness       s + f (x - s), s = x smoothed by [[1,1,1],[1,5,1],[1,1,1]] / 13
                (border pixels kept, as PIL)
shear_x/_y      +-0.3 m (about the top-left corner, as PIL)
translate_x/_y  +-(10 / 32) m of the width / height (10 px of 32 at m = 1)
==============  ========================================================

Enhance ops (color, contrast, brightness, sharpness) are the identity at
f = 1, i.e. m = 0.5; geometric ops and solarize at m = 0. Grayscale: the
grey image of one channel is the image itself, so ``color`` is the identity
on Fashion-MNIST (as PIL's ``Color`` on an "L" image); for 3 channels grey is
ITU-R 601 luma (``dm_pix.rgb_to_grayscale``), for other counts the channel
mean. Geometric ops use ``dm_pix.affine_transform`` (bilinear, PIX's fast
path; PIL uses nearest; written out in ``_affine``, PIX's N-D path was slow
on CPUs) and fill uncovered pixels with the same fill. Under
``vmap`` the ``lax.switch`` over ops evaluates every branch and selects
(cheap at 32x32).

Example:
  >>> import jax, jax.numpy as jnp
  >>> views = {"weak": make_view("weak", dataset="cifar10"),
  ...          "strong": make_view("strong", dataset="cifar10")}
  >>> views["weak"](jax.random.key(0), jnp.ones((4, 32, 32, 3))).shape
  (4, 32, 32, 3)
  >>> image = jnp.linspace(0, 1, 16).reshape(4, 4, 1)
  >>> float(apply_op("solarize", jax.random.key(0), image, 0.5)[3, 3, 0])
  0.0
"""

from __future__ import annotations

import math
from typing import Callable

import dm_pix as pix
import jax
import jax.numpy as jnp

from ktg_jax.data import augment as augment_lib
from ktg_jax.data import ssl_views
from ktg_jax import named

View = Callable[[jax.Array, jax.Array], jax.Array]
Op = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]

FILL = 0.5                # grey: FixMatch's zero in [-1, 1]
MAX_ROTATE_DEG = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATE = 10 / 32   # 10 px of a 32 px image
MAX_LEVEL = 10            # FixMatch PARAMETER_MAX; levels drawn in 1..9
CUTOUT_FRACTION = 0.5     # 16 px of 32
SMOOTH = ((1., 1., 1.), (1., 5., 1.), (1., 1., 1.))  # PIL ImageFilter.SMOOTH


# --- helpers ---------------------------------------------------------------

def _factor(m):
  """Enhance factor of FixMatch's RA: 0.1 + 1.8 m (1 at m = 0.5)."""
  return 0.1 + 1.8 * m


def _sign(rng, x):
  return jnp.where(jax.random.bernoulli(rng), x, -x)


def _blend(degenerate, image, factor):
  """PIL ``Image.blend(degenerate, image, factor)``, saturated to [0, 1]."""
  return jnp.clip(degenerate + factor * (image - degenerate), 0.0, 1.0)


def grayscale(image):
  """[H, W, 1] grey level: the image (1 channel), 601 luma (3), mean (other)."""
  c = image.shape[-1]
  if c == 1:
    return image
  if c == 3:
    return pix.rgb_to_grayscale(image)
  return image.mean(axis=-1, keepdims=True)


def to_uint8_levels(image):
  """round(255 x) as int32: the 8-bit grey levels PIL's ops work on."""
  return jnp.round(jnp.clip(image, 0.0, 1.0) * 255.0).astype(jnp.int32)


def _affine(image, matrix, fill=FILL):
  """Pull-resamples ``image`` by a 2x2 ``matrix`` + offset on (row, col).

  Output pixel (r, c) reads input point ``(a r + b c + off_r, c' r + d c +
  off_c)`` bilinearly from its 4 neighbours (indices clipped to the image);
  a point outside ``[0, H-1] x [0, W-1]`` is ``fill``. These are
  ``dm_pix.affine_transform(order=1, mode="constant")``'s semantics (the
  test checks equality), written for 2-D: PIX's N-D path (over H, W and the
  channel axis) cost 70-130 ms per op on 224 28x28 images on a CPU, a third
  of a FixMatch step; this gather costs about 1 ms.
  """
  (a, b, off_r), (c, d, off_c) = matrix
  h, w, ch = image.shape
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                            jnp.arange(w, dtype=jnp.float32), indexing="ij")
  r = a * rows + b * cols + off_r
  q = c * rows + d * cols + off_c
  inside = (r >= 0) & (r <= h - 1) & (q >= 0) & (q <= w - 1)
  r0, q0 = jnp.floor(r), jnp.floor(q)
  wr, wq = (r - r0)[..., None], (q - q0)[..., None]
  clip_r = lambda x: jnp.clip(x, 0, h - 1).astype(jnp.int32)
  clip_q = lambda x: jnp.clip(x, 0, w - 1).astype(jnp.int32)
  r0i, r1i = clip_r(r0), clip_r(jnp.ceil(r))
  q0i, q1i = clip_q(q0), clip_q(jnp.ceil(q))
  flat = image.reshape(h * w, ch).astype(jnp.float32)
  at = lambda ri, qi: flat[ri * w + qi]
  out = ((1 - wr) * (1 - wq) * at(r0i, q0i) + (1 - wr) * wq * at(r0i, q1i)
         + wr * (1 - wq) * at(r1i, q0i) + wr * wq * at(r1i, q1i))
  return jnp.where(inside[..., None], out, fill).astype(image.dtype)


# --- the 14 ops: op(rng, image, m) on one HWC image ------------------------

def identity(rng, image, m):
  del rng, m
  return image


def autocontrast(rng, image, m):
  """Per channel (x - min) / (max - min); a constant channel is kept."""
  del rng, m
  lo = image.min(axis=(0, 1), keepdims=True)
  hi = image.max(axis=(0, 1), keepdims=True)
  span = hi - lo
  return jnp.where(span > 0, (image - lo) / jnp.where(span > 0, span, 1.0),
                   image)


def _equalize_channel(levels):
  """PIL ``ImageOps.equalize`` on one channel of 8-bit levels (int32 [H, W]).

  h = histogram; step = (sum(h) - h[last non-zero level]) // 255; step = 0 ->
  unchanged; else lut[i] = (step // 2 + sum(h[:i])) // step.
  """
  flat = levels.reshape(-1)
  hist = jnp.bincount(flat, length=256)
  step = (flat.size - hist[flat.max()]) // 255
  below = jnp.cumsum(hist) - hist
  lut = jnp.minimum((step // 2 + below) // jnp.maximum(step, 1), 255)
  return jnp.where(step > 0, lut[levels], levels)


def equalize(rng, image, m):
  """Histogram equalisation per channel (PIL's algorithm on 8-bit levels)."""
  del rng, m
  levels = jax.vmap(_equalize_channel, in_axes=-1, out_axes=-1)(
      to_uint8_levels(image))
  return (levels / 255.0).astype(image.dtype)


def rotate(rng, image, m, fill=FILL):
  """Rotation by +-30 m degrees about the image centre (``pix.rotate``'s
  matrix: counter-clockwise for a positive angle)."""
  angle = _sign(rng, m * MAX_ROTATE_DEG) * (math.pi / 180.0)
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  cr, cc = (image.shape[0] - 1) / 2.0, (image.shape[1] - 1) / 2.0
  return _affine(image, ((cos, sin, cr - cos * cr - sin * cc),
                         (-sin, cos, cc + sin * cr - cos * cc)), fill)


def solarize(rng, image, m):
  """1 - x for 255 x >= 256 (1 - m) (PIL ``solarize(256 - 256 m)``)."""
  del rng
  return pix.solarize(image, (256.0 / 255.0) * (1.0 - m))


def color(rng, image, m):
  """Saturation: blend with the grey image; the identity on one channel."""
  del rng
  return _blend(grayscale(image), image, _factor(m))


def posterize(rng, image, m):
  """Keeps the top ``4 - floor(4 m)`` bits of each 8-bit level."""
  del rng
  bits = 4 - jnp.floor(4.0 * m).astype(jnp.int32)
  mask = 255 - (2 ** (8 - bits) - 1)
  return ((to_uint8_levels(image) & mask) / 255.0).astype(image.dtype)


def contrast(rng, image, m):
  """Blend with the image's mean grey level."""
  del rng
  return _blend(grayscale(image).mean(), image, _factor(m))


def brightness(rng, image, m):
  """Blend with black: f x."""
  del rng
  return _blend(jnp.zeros_like(image), image, _factor(m))


def sharpness(rng, image, m):
  """Blend with the PIL-smoothed image (interior only, border kept)."""
  del rng
  h, w, _ = image.shape
  smooth = sum(wt * image[i:h - 2 + i, j:w - 2 + j]
               for i, row in enumerate(SMOOTH) for j, wt in enumerate(row))
  degenerate = image.at[1:-1, 1:-1].set(smooth / 13.0)
  return _blend(degenerate, image, _factor(m))


def shear_x(rng, image, m, fill=FILL):
  """Input col = col + s row, s = +-0.3 m (PIL's ``(1, s, 0, 0, 1, 0)``)."""
  s = _sign(rng, m * MAX_SHEAR)
  return _affine(image, ((1., 0., 0.), (s, 1., 0.)), fill)


def shear_y(rng, image, m, fill=FILL):
  """Input row = row + s col, s = +-0.3 m."""
  s = _sign(rng, m * MAX_SHEAR)
  return _affine(image, ((1., s, 0.), (0., 1., 0.)), fill)


def translate_x(rng, image, m, fill=FILL):
  """Shift by +-(10/32) m of the width."""
  t = _sign(rng, m * MAX_TRANSLATE * image.shape[1])
  return _affine(image, ((1., 0., 0.), (0., 1., t)), fill)


def translate_y(rng, image, m, fill=FILL):
  """Shift by +-(10/32) m of the height."""
  t = _sign(rng, m * MAX_TRANSLATE * image.shape[0])
  return _affine(image, ((1., 0., t), (0., 1., 0.)), fill)


# FixMatch's RANDOM_POLICY_OPS (the order is ours): name -> op.
OPS: tuple[tuple[str, Op], ...] = (
    ("identity", identity), ("autocontrast", autocontrast),
    ("equalize", equalize), ("rotate", rotate), ("solarize", solarize),
    ("color", color), ("posterize", posterize), ("contrast", contrast),
    ("brightness", brightness), ("sharpness", sharpness),
    ("shear_x", shear_x), ("shear_y", shear_y),
    ("translate_x", translate_x), ("translate_y", translate_y),
)
OP_NAMES = tuple(name for name, _ in OPS)
# Ops that uncover pixels: they take ``fill`` (the value of those pixels).
GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
# Data set -> fill of uncovered and Cut-out pixels. FixMatch fills with 0 in
# [-1, 1] (grey, about CIFAR's mean); on a black-background grey set a grey
# square is a new bright object, not erased content, so there the fill is the
# background, 0 (docs/semi_regime.md). Others: grey FILL.
FILL_BY_DATASET = {"fashion_mnist": 0.0, "digits": 0.0, "fractal": 0.0}


def fill_for(dataset: str | None) -> float:
  """The fill of ``dataset`` (``FILL_BY_DATASET``, else grey ``FILL``).

  Example:
    >>> fill_for("fashion_mnist"), fill_for("cifar10"), fill_for(None)
    (0.0, 0.5, 0.5)
  """
  return FILL_BY_DATASET.get(dataset, FILL)


def apply_op(name: str, rng, image, m):
  """Applies op ``name`` of ``OPS`` to one HWC image at magnitude ``m``."""
  ops = dict(OPS)
  if name not in ops:
    raise ValueError(f"op={name!r} is unknown; allowed: {list(OP_NAMES)}")
  return ops[name](rng, jnp.asarray(image), jnp.asarray(m, jnp.float32))


# --- RandAugment and Cutout on one image, then views on a batch -------------

def rand_augment_one(rng, image, *, num_ops: int = 2, prob: float = 0.5,
                     magnitude: float | None = None, fill: float = FILL):
  """``num_ops`` random ops of ``OPS``, each applied with probability ``prob``.

  ``magnitude=None``: a fresh m = level / 10, level uniform in {1..9}, per op
  and sample (FixMatch RA); a float fixes m (classic RandAugment). ``fill``:
  the value of pixels that the geometric ops uncover.
  """
  branches = [lambda r, x, m, f=fn, name=name: (
      f(r, x, m, fill) if name in GEOMETRIC else f(r, x, m)).astype(x.dtype)
              for name, fn in OPS]

  def layer(image, key):  # a scan over layers traces the 14 branches once
    k_op, k_apply, k_mag, k_sign = jax.random.split(key, 4)
    index = jax.random.randint(k_op, (), 0, len(OPS))
    if magnitude is None:
      m = jax.random.randint(k_mag, (), 1, MAX_LEVEL) / MAX_LEVEL
    else:
      m = jnp.asarray(magnitude, jnp.float32)
    out = jax.lax.switch(index, branches, k_sign, image, m)
    return jnp.where(jax.random.bernoulli(k_apply, prob), out, image), None

  if num_ops == 0:
    return image
  image, _ = jax.lax.scan(layer, image, jax.random.split(rng, num_ops))
  return image


def cutout_one(rng, image, fraction: float = CUTOUT_FRACTION,
               fill: float = FILL):
  """A square of ``fill`` of side ``round(fraction * min(H, W))`` at a uniform centre.

  As FixMatch's ``cutout_numpy``: rows [cy - s//2, cy + s//2) clipped to the
  image, likewise columns; ``fraction=0`` is the identity.
  """
  h, w, _ = image.shape
  half = int(round(fraction * min(h, w))) // 2
  cy, cx = jax.random.randint(rng, (2,), 0, jnp.array([h, w]))
  rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  inside = ((rows >= cy - half) & (rows < cy + half)
            & (cols >= cx - half) & (cols < cx + half))
  return jnp.where(inside[..., None], jnp.asarray(fill, image.dtype), image)


def _check(name, value, low, high):
  if not low <= value <= high:
    raise ValueError(f"{name}={value}; allowed: {low} <= {name} <= {high}")


def rand_augment(num_ops: int = 2, prob: float = 0.5,
                 magnitude: float | None = None,
                 cutout: float = CUTOUT_FRACTION, fill: float = FILL) -> View:
  """RandAugment + Cutout over a batch: ``jax.vmap`` of the per-image ops."""
  _check("num_ops", num_ops, 0, 16)
  _check("prob", prob, 0.0, 1.0)
  _check("cutout", cutout, 0.0, 1.0)
  _check("fill", fill, 0.0, 1.0)
  if magnitude is not None:
    _check("magnitude", magnitude, 0.0, 1.0)

  def one(rng, image):
    ra_rng, cut_rng = jax.random.split(rng)
    image = rand_augment_one(ra_rng, image, num_ops=num_ops, prob=prob,
                             magnitude=magnitude, fill=fill)
    return cutout_one(cut_rng, image, cutout, fill) if cutout > 0 else image

  def view(rng, images):
    return jax.vmap(one)(jax.random.split(rng, images.shape[0]), images)
  return view


def identity_view(dataset: str | None = None,
                  augment: augment_lib.Augment | None = None) -> View:
  """The images unchanged (evaluation, a node that sees clean inputs).

  Takes the other views' ``dataset`` / ``augment`` arguments and ignores them,
  so one config can build any view by name.
  """
  del dataset, augment
  return lambda rng, images: images


def weak_view(dataset: str | None = None,
              augment: augment_lib.Augment | None = None) -> View:
  """The data set's flip / crop (``ktg_jax.data.augment``; docs/papers.md §5 weak view).

  ``augment`` given: that function; else ``dataset``'s registered
  augmentation; neither: pad-4 crop + flip (CIFAR, FixMatch's weak view).
  """
  if augment is not None:
    return augment
  if dataset is None:
    return augment_lib.crop_flip(4)
  if dataset not in augment_lib.BY_DATASET:
    raise ValueError(f"dataset={dataset!r} has no weak augmentation; allowed: "
                     f"{sorted(augment_lib.BY_DATASET)}")
  return augment_lib.for_dataset(dataset)


def strong_view(dataset: str | None = None,
                augment: augment_lib.Augment | None = None, *,
                num_ops: int = 2, prob: float = 0.5,
                magnitude: float | None = None,
                cutout: float = CUTOUT_FRACTION,
                fill: float | None = None) -> View:
  """Weak view, then RandAugment (FixMatch RA), then Cutout; ``fill`` (None:
  ``fill_for(dataset)``) for the pixels they uncover or cut out."""
  weak = weak_view(dataset, augment)
  ra = rand_augment(num_ops, prob, magnitude, cutout,
                    fill_for(dataset) if fill is None else fill)

  def view(rng, images):
    weak_rng, ra_rng = jax.random.split(rng)
    return ra(ra_rng, weak(weak_rng, images))
  return view


def ssl_view(dataset: str | None = None, **kw) -> View:
  """SimCLR's view (``ktg_jax.data.ssl_views``, its CIFAR-10 recipe; on
  grayscale images no saturation / hue / grayscale): crop 0.08-1, flip,
  brightness / contrast jitter. ``kw``: ``ViewConfig`` fields (in a view
  kind string: ``"ssl:min_scale=0.2,blur_prob=0.5"``, ``make_view``)."""
  del dataset
  named.check_keys("ssl", kw, ssl_views.ViewConfig._fields)
  return ssl_views.ssl_view(ssl_views.ViewConfig(**kw))


# View name -> factory (a registry, not an if-chain).
VIEWS: dict[str, Callable[..., View]] = {
    "identity": identity_view,
    "weak": weak_view,
    "strong": strong_view,
    "ssl": ssl_view,  # the two views a, b of ssl nodes (000)
}


def make_view(name: str, **kw) -> View:
  """The view ``name`` of ``VIEWS`` built with ``kw``: ``fn(rng, images)``.

  ``name`` may carry the factory's parameters (``ktg_jax.named``), so a
  config's ``views`` can state them: ``"ssl:min_scale=0.2,blur_prob=0.5"``.

  >>> import jax, jax.numpy as jnp
  >>> x = jnp.ones((2, 8, 8, 1))
  >>> make_view("ssl:min_scale=1.0,flip_prob=0,jitter_prob=0")(
  ...     jax.random.key(0), x).shape
  (2, 8, 8, 1)
  """
  kind = named.parse(name)
  if kind.name not in VIEWS:
    raise ValueError(f"view={name!r} is unknown; allowed: {sorted(VIEWS)}")
  return VIEWS[kind.name](**{**kw, **kind.params})


def make_views(dataset: str | None = None,
               names: tuple[str, ...] = ("weak", "strong")) -> dict[str, View]:
  """``{name: make_view(name, dataset=dataset)}``: the core's ``views=``."""
  return {name: make_view(name, dataset=dataset) for name in names}
