"""A formula-driven fractal data set in the spirit of FractalDB (002's PFRN18).

Kataoka et al. (FractalDB) make a category from a random 2-D iterated function
system (IFS): ``n`` affine maps ``w_j(x) = A_j x + b_j`` with every entry of
``A_j``, ``b_j`` drawn from U[-1, 1], chosen with probability
``p_j = |det A_j| / sum_k |det A_k|``. An image is the attractor drawn by the
chaos game ``x_{t+1} = w_{j_t}(x_t)``, ``j_t ~ p``, rescaled to the image; a
category is kept only if its attractor fills enough of the image (their "fill
rate" filter, here ``min_fill``). Instances of one category vary one map
parameter by a factor in [0.8, 1.2] and flip the image (their intra-category
variation). We also keep only contracting systems (largest singular value of
every ``A_j`` below ``max_sigma``), so the chaos game does not diverge —
Anderson & Farrell's singular-value filter in its simplest form.

Everything is numpy under one seed: the same ``(seed, ...)`` gives the same
images; walkers of all images move at once (vectorised over images and
walkers, a Python loop only over chaos-game steps).

Example:
  >>> raw = make(num_classes=3, per_class=2, test_per_class=1, size=8, seed=0)
  >>> raw.train_images.shape, raw.train_labels.tolist()
  ((6, 8, 8, 1), [0, 0, 1, 1, 2, 2])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ktg_jax.data.raw import Raw


class System(NamedTuple):
  """One IFS: ``A`` [n, 2, 2], ``b`` [n, 2], ``p`` [n] (sums to 1)."""
  A: np.ndarray
  b: np.ndarray
  p: np.ndarray


def _probabilities(A: np.ndarray) -> np.ndarray:
  det = np.abs(np.linalg.det(A)) + 1e-6
  return det / det.sum()


def chaos_game(systems, seed: int, walkers: int = 32, steps: int = 160,
               burn_in: int = 16) -> np.ndarray:
  """Points of each system's attractor: [len(systems), walkers*(steps-burn_in), 2].

  All systems and walkers step together; systems with fewer maps are padded
  with zero-probability maps.
  """
  rng = np.random.default_rng(seed)
  m, n = len(systems), max(len(s.p) for s in systems)
  A, b, p = np.zeros((m, n, 2, 2)), np.zeros((m, n, 2)), np.zeros((m, n))
  for i, s in enumerate(systems):
    k = len(s.p)
    A[i, :k], b[i, :k], p[i, :k] = s.A, s.b, s.p
  cdf = np.cumsum(p, axis=1)
  cdf[:, -1] = 1.0
  x = rng.uniform(-1, 1, (m, walkers, 2))
  rows = np.arange(m)[:, None]
  out = []
  for t in range(steps):
    j = (rng.uniform(size=(m, walkers, 1)) > cdf[:, None, :]).sum(-1)
    j = np.minimum(j, n - 1)
    x = np.einsum("mwij,mwj->mwi", A[rows, j], x) + b[rows, j]
    if t >= burn_in:
      out.append(x)
  return np.concatenate(out, axis=1)


def rasterise(points: np.ndarray, size: int, supersample: int = 4
              ) -> np.ndarray:
  """Points [m, P, 2] -> images [m, size, size] in [0, 1]: each attractor is
  rescaled to its bounding box, drawn as binary pixels at ``size *
  supersample`` and average-pooled (anti-aliased)."""
  m, big = len(points), size * supersample
  lo, hi = points.min(1, keepdims=True), points.max(1, keepdims=True)
  unit = (points - lo) / np.maximum(hi - lo, 1e-9)
  ij = np.clip((unit * big).astype(np.int64), 0, big - 1)
  canvas = np.zeros((m, big, big), np.float32)
  canvas[np.arange(m)[:, None], ij[..., 1], ij[..., 0]] = 1.0
  return canvas.reshape(m, size, supersample, size, supersample).mean((2, 4))


def fill_rate(images: np.ndarray) -> np.ndarray:
  """Share of pixels the attractor touches, per image."""
  return (images > 0).mean(axis=(1, 2))


def _contracting_maps(rng, n: int, max_sigma: float) -> np.ndarray:
  """``n`` matrices with entries U[-1, 1] whose largest singular value is
  below ``max_sigma`` (rejection sampling, map by map)."""
  kept = np.zeros((0, 2, 2))
  while len(kept) < n:
    A = rng.uniform(-1, 1, (8 * n, 2, 2))
    ok = np.linalg.svd(A, compute_uv=False).max(-1) < max_sigma
    kept = np.concatenate([kept, A[ok]])
  return kept[:n]


def sample_systems(num_classes: int, seed: int, maps: tuple = (2, 8),
                   min_fill: float = 0.15, max_sigma: float = 0.95,
                   check_size: int = 32) -> list[System]:
  """``num_classes`` random IFS categories that pass the filters (see top)."""
  if num_classes < 1:
    raise ValueError(f"num_classes={num_classes!r} is invalid; allowed: >= 1")
  if not 2 <= maps[0] <= maps[1]:
    raise ValueError(f"maps={maps!r} is invalid; allowed: (lo, hi) with "
                     "2 <= lo <= hi")
  rng = np.random.default_rng(seed)
  kept, tries = [], 0
  while len(kept) < num_classes:
    tries += 1
    if tries > 1000 + 200 * num_classes:
      raise ValueError(f"min_fill={min_fill!r} keeps too few systems; "
                       "allowed: a lower min_fill")
    n = int(rng.integers(maps[0], maps[1] + 1))
    A = _contracting_maps(rng, n, max_sigma)
    system = System(A, rng.uniform(-1, 1, (n, 2)), _probabilities(A))
    image = rasterise(chaos_game([system], seed=tries), check_size, 1)
    if fill_rate(image)[0] >= min_fill:
      kept.append(system)
  return kept


def variant(system: System, rng, scale: tuple = (0.8, 1.2)) -> System:
  """An instance of a category: one parameter of one map scaled by U[scale]."""
  A, b = system.A.copy(), system.b.copy()
  j, k = rng.integers(len(A)), rng.integers(6)
  factor = rng.uniform(*scale)
  if k < 4:
    A[j].flat[k] *= factor
  else:
    b[j, k - 4] *= factor
  return System(A, b, _probabilities(A))


def render(systems, labels, size: int, seed: int) -> np.ndarray:
  """Images [len(labels), size, size, 1] of instances of ``systems[labels]``."""
  rng = np.random.default_rng(seed)
  instances = [variant(systems[c], rng) for c in labels]
  images = rasterise(chaos_game(instances, seed=seed + 1), size)
  flip = rng.uniform(size=len(labels)) < 0.5
  images[flip] = images[flip, :, ::-1]
  return images[..., None].astype(np.float32)


def make(num_classes: int = 32, per_class: int = 48, test_per_class: int = 8,
         size: int = 8, seed: int = 0, **filters) -> Raw:
  """A fractal classification set: train and test instances of the same
  ``num_classes`` categories, labels sorted by class."""
  systems = sample_systems(num_classes, seed, **filters)
  split = lambda k, s: (np.repeat(np.arange(num_classes), k).astype(np.int32),
                        s)
  (tr_y, tr_s), (te_y, te_s) = split(per_class, seed + 1), split(
      test_per_class, seed + 2)
  return Raw(render(systems, tr_y, size, tr_s), tr_y,
             render(systems, te_y, size, te_s), te_y, num_classes)


def source(data_dir=None, limit=None) -> Raw:
  """The registered data source "fractal" (``data.load("fractal")``): 32
  categories x 48 (+8 test) 8x8 images (the digits' size), seed 0."""
  del data_dir
  raw = make()
  cut = lambda x: x if limit is None else x[:limit]
  return Raw(cut(raw.train_images), cut(raw.train_labels),
             cut(raw.test_images), cut(raw.test_labels), raw.num_classes)
