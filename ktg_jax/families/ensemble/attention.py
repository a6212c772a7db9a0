"""Attention maps and the ch.4 attention-crop edge losses (docs/papers.md §2).

Maps are ``[..., B, H, W]`` (leading population/edge axes optional); every loss
returns one value per sample, ``[..., B]``, and takes the *source* first (the
caller ``stop_gradient``-s it). Crops (thesis §4.3.1, eqs 4.8/4.9; paper 004
eqs 3/4): a k x k square centred on the argmax of the **source** map, the target
cut at the same place. Border rule (unspecified by the thesis): the window is
*shifted* inside the map, start = clip(argmax - k // 2, 0, H - k) per axis,
exactly what ``jax.lax.dynamic_slice`` does with an out-of-range start, so a
crop always holds k*k pixels (a crop larger than the map is a ValueError).
Each crop is L2-normalised (``q / max(||q||, 1e-12)``, as torch's
``F.normalize``: finite for an all-zero crop); the loss is the mean over sizes.

Example:
  >>> import jax.numpy as jnp
  >>> q = at_map(jnp.ones((1, 4, 4, 3)))          # sum_c |A_c|^2 = 3
  >>> q.shape, float(q[0, 0, 0])
  ((1, 4, 4), 3.0)
  >>> float(att_cosine(q, q, sizes=(3,))[0])      # identical crops: cosine 1
  1.0
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

# Crop sizes of thesis §4.4.1 / paper 004 §4: ResNet (AT map of the last
# stage) and ABN (attention-branch map).
CROP_SIZES = {"resnet": (3, 5, 7), "abn": (3, 7, 11)}
PIXEL_REDUCTIONS = ("mean", "sum")
_EPS = 1e-12


def at_map(features, p: float = 2.0):
  """Attention-Transfer map ``Q = sum_c |A_c|^p`` (docs/papers.md §2, thesis eq 2.11).

  Zagoruyko & Komodakis 2017; p is not printed in the thesis, p = 2 here.
  ``features``: float[..., H, W, C] (NHWC) -> float[..., H, W].

  Example:
    >>> import jax.numpy as jnp
    >>> float(at_map(jnp.array([[[[1.0, -2.0]]]]))[0, 0, 0])   # 1 + 4
    5.0
  """
  if p <= 0:
    raise ValueError(f"p={p!r}; allowed: p > 0")
  if p == 2.0:
    return jnp.sum(jnp.square(features), axis=-1)   # smooth at 0, unlike |x|^p
  return jnp.sum(jnp.abs(features) ** p, axis=-1)


def crop_starts(source_map, size: int):
  """Top-left corner of the k x k window centred on the source's argmax.

  ``source_map``: float[N, H, W] -> (int[N], int[N]) row and column starts,
  shifted inside the map (clip(argmax - k // 2, 0, H - k)); ties in the argmax
  go to the first pixel in row-major order, as ``jnp.argmax``.
  """
  _, h, w = source_map.shape
  flat = jnp.argmax(source_map.reshape(source_map.shape[0], -1), axis=-1)
  row, col = flat // w, flat % w
  return (jnp.clip(row - size // 2, 0, h - size),
          jnp.clip(col - size // 2, 0, w - size))


def normalized_crops(source_map, target_map, size: int):
  """The L2-normalised k x k crops of source and target, float[N, k*k] each."""
  row, col = crop_starts(source_map, size)

  def cut(m, r, c):
    return jax.lax.dynamic_slice(m, (r, c), (size, size)).reshape(-1)

  qs = jax.vmap(cut)(source_map, row, col)
  qt = jax.vmap(cut)(target_map, row, col)
  return _l2_normalize(qs), _l2_normalize(qt)


def _l2_normalize(q):
  # rsqrt(max(sum q^2, eps^2)): no NaN gradient at an all-zero crop.
  return q * jax.lax.rsqrt(jnp.maximum(jnp.sum(jnp.square(q), -1, keepdims=True),
                                       _EPS**2))


def _over_sizes(pair_fn: Callable, source_map, target_map, sizes):
  """Flattens the leading axes, averages ``pair_fn(qs, qt) -> [N]`` over sizes."""
  source_map, target_map = jnp.broadcast_arrays(source_map, target_map)
  if source_map.ndim < 3:
    raise ValueError(f"maps of shape {source_map.shape}; allowed: [..., B, H, W]")
  lead, (h, w) = source_map.shape[:-2], source_map.shape[-2:]
  sizes = tuple(sizes)
  bad = [k for k in sizes if not (isinstance(k, int) and 1 <= k <= min(h, w))]
  if not sizes or bad:
    raise ValueError(f"sizes={sizes!r} for a {h}x{w} map; allowed: a non-empty "
                     f"tuple of ints in [1, {min(h, w)}]")
  s = source_map.reshape((-1, h, w))
  t = target_map.reshape((-1, h, w))
  per_size = [pair_fn(*normalized_crops(s, t, k)) for k in sizes]
  return (sum(per_size) / len(sizes)).reshape(lead)


def att_mse(source_map, target_map, sizes: Sequence[int] = CROP_SIZES["resnet"],
            pixels: str = "mean"):
  """Att(+), pull (thesis eq 4.8): ``1/K sum_k mean_px (Q_s^k/||Q_s^k|| - Q_t^k/||Q_t^k||)^2``.

  ``pixels="mean"`` (default) averages the squared difference over the k*k
  crop pixels — "mean squared error" as the thesis names it (and torch's
  ``MSELoss``); ``"sum"`` gives the squared norm ``2 - 2 cos``, which does not
  shrink with the crop size. Maps float[..., B, H, W] -> float[..., B].

  Example:
    >>> import jax.numpy as jnp
    >>> s = jnp.zeros((1, 5, 5)).at[0, 2, 2].set(1.0)       # a peak
    >>> t = jnp.zeros((1, 5, 5)).at[0, 2, 3].set(1.0)       # moved right
    >>> float(att_mse(s, t, sizes=(3,), pixels="sum")[0])  # orthogonal: 2
    2.0
  """
  if pixels not in PIXEL_REDUCTIONS:
    raise ValueError(f"pixels={pixels!r}; allowed: {list(PIXEL_REDUCTIONS)}")
  reduce = jnp.mean if pixels == "mean" else jnp.sum
  return _over_sizes(lambda qs, qt: reduce(jnp.square(qs - qt), axis=-1),
                     source_map, target_map, sizes)


def att_cosine(source_map, target_map,
               sizes: Sequence[int] = CROP_SIZES["resnet"]):
  """Att(-), push apart (thesis eq 4.9): ``1/K sum_k (Q_s^k/||Q_s^k||) . (Q_t^k/||Q_t^k||)``.

  Maps float[..., B, H, W] -> float[..., B].
  """
  return _over_sizes(lambda qs, qt: jnp.sum(qs * qt, axis=-1),
                     source_map, target_map, sizes)
