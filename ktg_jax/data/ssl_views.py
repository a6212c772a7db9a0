"""SSL views on the device: ``view(rng, images) -> images``, jittable, vmapped.

The SimCLR family of augmentations (Chen et al. 2020, appendix A), per image:
random resized crop -> horizontal flip -> colour jitter (with probability
``jitter_prob``: brightness, contrast, saturation, hue, in that fixed order;
torchvision shuffles the order) -> random grayscale -> Gaussian blur.
Images are float NHWC in [0, 1] and stay there (each jitter clips, as
torchvision does).

Grayscale images (C = 1) have no saturation, hue or colour to drop: those
three steps are skipped for them (brightness, contrast, crop, flip and blur
remain). A step whose strength (or probability) is 0 is left out of the
pipeline, so ``ViewConfig.identity()`` returns the images unchanged.

Defaults: ``ViewConfig()`` is SimCLR's CIFAR-10 recipe (appendix B.9: colour
strength s = 0.5, i.e. brightness / contrast / saturation 0.8 s = 0.4, hue
0.2 s = 0.1, jitter p = 0.8, grayscale p = 0.2, crop scale [0.08, 1], ratio
[3/4, 4/3], no blur on CIFAR). Blur, when on, is SimCLR's: sigma ~ U[0.1, 2],
kernel ~10% of the side (odd, >= 3), reflect padding as torchvision.

Simplification: torchvision's RandomResizedCrop retries 10 times for a box
that fits, then centre-crops; here the sampled box is clipped to the image.

Building blocks from dm-pix (flip, hue, saturation, grayscale, blur); the
crop resamples with ``jax.image.scale_and_translate`` (bilinear, antialiased).

Example:
  >>> import jax, jax.numpy as jnp
  >>> view = ssl_view(ViewConfig())
  >>> x = jax.random.uniform(jax.random.key(1), (2, 8, 8, 3))
  >>> view(jax.random.key(0), x).shape
  (2, 8, 8, 3)
  >>> bool(jnp.all(ssl_view(ViewConfig.identity())(jax.random.key(0), x) == x))
  True
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import dm_pix as pix
import jax
import jax.numpy as jnp


class ViewConfig(NamedTuple):
  min_scale: float = 0.08        # crop area fraction ~ U[min_scale, max_scale]
  max_scale: float = 1.0
  ratio: tuple = (3 / 4, 4 / 3)  # crop aspect ratio, log-uniform
  flip_prob: float = 0.5
  jitter_prob: float = 0.8
  brightness: float = 0.4        # factor ~ U[1 - b, 1 + b], x * factor
  contrast: float = 0.4          # factor ~ U[1 - c, 1 + c], blend with the mean
  saturation: float = 0.4        # RGB only
  hue: float = 0.1               # RGB only; delta ~ U[-h, h] of a turn
  grayscale_prob: float = 0.2    # RGB only
  blur_prob: float = 0.0
  blur_sigma: tuple = (0.1, 2.0)

  @classmethod
  def identity(cls) -> "ViewConfig":
    """Every strength 0: the view is the image itself."""
    return cls(min_scale=1.0, max_scale=1.0, ratio=(1.0, 1.0), flip_prob=0.0,
               jitter_prob=0.0, brightness=0.0, contrast=0.0, saturation=0.0,
               hue=0.0, grayscale_prob=0.0, blur_prob=0.0)


Op = Callable[[jax.Array, jax.Array], jax.Array]  # (key, image HWC) -> image


def _uniform(key, lo, hi):
  return jax.random.uniform(key, (), minval=lo, maxval=hi)


def _resized_crop(c: ViewConfig) -> Op:
  def op(key, image):
    h, w = image.shape[0], image.shape[1]
    k_area, k_ratio, k_y, k_x = jax.random.split(key, 4)
    area = _uniform(k_area, c.min_scale, c.max_scale) * h * w
    ratio = jnp.exp(_uniform(k_ratio, math.log(c.ratio[0]), math.log(c.ratio[1])))
    cw = jnp.clip(jnp.sqrt(area * ratio), 1.0, w)
    ch = jnp.clip(jnp.sqrt(area / ratio), 1.0, h)
    y0, x0 = _uniform(k_y, 0.0, h - ch), _uniform(k_x, 0.0, w - cw)
    scale = jnp.stack([h / ch, w / cw])
    return jax.image.scale_and_translate(
        image, image.shape, (0, 1), scale, -jnp.stack([y0, x0]) * scale,
        method="linear", antialias=True)
  return op


def _with_prob(prob: float, op: Op) -> Op:
  def wrapped(key, image):
    k_apply, k_op = jax.random.split(key)
    return jnp.where(jax.random.bernoulli(k_apply, prob), op(k_op, image), image)
  return wrapped


def _brightness(b):
  return lambda key, x: jnp.clip(x * _uniform(key, max(0.0, 1 - b), 1 + b), 0, 1)


def _contrast(c):
  def op(key, x):  # torchvision: blend with the mean of the grayscale image
    gray = pix.rgb_to_grayscale(x) if x.shape[-1] == 3 else x
    mean = jnp.mean(gray)
    f = _uniform(key, max(0.0, 1 - c), 1 + c)
    return jnp.clip((x - mean) * f + mean, 0, 1)
  return op


def _saturation(s):
  return lambda key, x: jnp.clip(
      pix.adjust_saturation(x, _uniform(key, max(0.0, 1 - s), 1 + s)), 0, 1)


def _hue(h):
  return lambda key, x: jnp.clip(pix.adjust_hue(x, _uniform(key, -h, h)), 0, 1)


def _grayscale(key, x):
  del key
  return jnp.broadcast_to(pix.rgb_to_grayscale(x, keep_dims=True), x.shape)


def _blur(sigma_range, side):
  size = max(3, int(0.1 * side) // 2 * 2 + 1)

  def op(key, x):
    pad = size // 2
    padded = jnp.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    sigma = _uniform(key, *sigma_range)
    return jnp.clip(pix.gaussian_blur(padded, sigma, size, padding="VALID"), 0, 1)
  return op


def _chain(ops) -> Op:
  def op(key, x):
    for k, f in zip(jax.random.split(key, len(ops)), ops):
      x = f(k, x)
    return x
  return op


def pipeline(config: ViewConfig, image_shape) -> tuple:
  """The (name, op) steps ``config`` keeps for images of ``image_shape`` (H, W, C)."""
  _check(config)
  rgb = image_shape[-1] == 3
  jitter = [(s, f) for s, f in ((config.brightness, _brightness(config.brightness)),
                                (config.contrast, _contrast(config.contrast)),
                                (config.saturation * rgb, _saturation(config.saturation)),
                                (config.hue * rgb, _hue(config.hue))) if s > 0]
  steps = (
      ("resized_crop", config.min_scale < 1 or config.ratio != (1.0, 1.0),
       _resized_crop(config)),
      ("flip", config.flip_prob > 0,
       _with_prob(config.flip_prob, lambda k, x: pix.flip_left_right(x))),
      ("color_jitter", config.jitter_prob > 0 and bool(jitter),
       _with_prob(config.jitter_prob, _chain([f for _, f in jitter]))),
      ("grayscale", rgb and config.grayscale_prob > 0,
       _with_prob(config.grayscale_prob, _grayscale)),
      ("blur", config.blur_prob > 0,
       _with_prob(config.blur_prob, _blur(config.blur_sigma,
                                          min(image_shape[:2])))),
  )
  return tuple((name, op) for name, keep, op in steps if keep)


def _check(c: ViewConfig):
  bounds = {"min_scale": (0 < c.min_scale <= c.max_scale <= 1, "0 < x <= max_scale <= 1"),
            "ratio": (0 < c.ratio[0] <= c.ratio[1], "0 < lo <= hi"),
            "hue": (0 <= c.hue <= 0.5, "0 <= x <= 0.5")}
  for p in ("flip_prob", "jitter_prob", "grayscale_prob", "blur_prob"):
    bounds[p] = (0 <= getattr(c, p) <= 1, "0 <= x <= 1")
  for p in ("brightness", "contrast", "saturation"):
    bounds[p] = (getattr(c, p) >= 0, "x >= 0")
  for name, (ok, allowed) in bounds.items():
    if not ok:
      raise ValueError(f"{name}={getattr(c, name)!r}; allowed: {allowed}")


def ssl_view(config: ViewConfig = ViewConfig()) -> Callable:
  """``view(rng, images [N, H, W, C]) -> images``: one random view per image."""
  def view(rng, images):
    ops = [op for _, op in pipeline(config, images.shape[1:])]
    if not ops:
      return images
    per_image = _chain(ops)
    return jax.vmap(per_image)(jax.random.split(rng, images.shape[0]), images)
  return view


def two_views(config: ViewConfig = ViewConfig()) -> Callable:
  """``(rng, images) -> (view_a, view_b)``, independent keys per view."""
  view = ssl_view(config)

  def views(rng, images):
    ka, kb = jax.random.split(rng)
    return view(ka, images), view(kb, images)
  return views


__all__ = ["ViewConfig", "pipeline", "ssl_view", "two_views"]
