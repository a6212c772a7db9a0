"""The fractal pre-training source (002): deterministic, class-distinct, shaped."""

import chex
import numpy as np
import pytest

from ktg_jax import data
from ktg_jax.data import fractal


def test_same_seed_same_images_other_seed_other_images():
  a = fractal.make(num_classes=4, per_class=3, test_per_class=1, seed=1)
  b = fractal.make(num_classes=4, per_class=3, test_per_class=1, seed=1)
  c = fractal.make(num_classes=4, per_class=3, test_per_class=1, seed=2)
  np.testing.assert_array_equal(a.train_images, b.train_images)
  np.testing.assert_array_equal(a.test_images, b.test_images)
  assert np.abs(a.train_images - c.train_images).max() > 0.1


def test_shapes_range_labels():
  raw = fractal.make(num_classes=5, per_class=4, test_per_class=2, size=12)
  chex.assert_shape(raw.train_images, (20, 12, 12, 1))
  chex.assert_shape(raw.test_images, (10, 12, 12, 1))
  assert raw.train_images.dtype == np.float32
  assert raw.train_images.min() >= 0.0 and raw.train_images.max() <= 1.0
  np.testing.assert_array_equal(np.bincount(raw.train_labels), [4] * 5)
  # every image shows an attractor (the fill-rate filter, at 12x12)
  assert (fractal.fill_rate(raw.train_images[..., 0]) > 0.02).all()


def test_filters_hold():
  systems = fractal.sample_systems(6, seed=3, maps=(2, 5), max_sigma=0.9)
  for s in systems:
    assert 2 <= len(s.p) <= 5
    assert np.linalg.svd(s.A, compute_uv=False).max() < 0.9
    np.testing.assert_allclose(s.p.sum(), 1.0)
    det = np.abs(np.linalg.det(s.A)) + 1e-6  # FractalDB's p_j ~ |det A_j|
    np.testing.assert_allclose(s.p, det / det.sum())


def test_images_of_one_class_are_closer_than_of_other_classes():
  raw = fractal.make(num_classes=6, per_class=6, test_per_class=1, size=16,
                     seed=0)
  x = raw.train_images.reshape(len(raw.train_labels), -1)
  d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
  same = raw.train_labels[:, None] == raw.train_labels[None]
  off_diag = ~np.eye(len(x), dtype=bool)
  # nearest-neighbour (leave-one-out) classification is mostly right ...
  nn = np.where(off_diag, d, np.inf).argmin(1)
  assert (raw.train_labels[nn] == raw.train_labels).mean() >= 0.8
  # ... and the mean within-class distance is below the between-class one
  assert d[same & off_diag].mean() < d[~same].mean()


def test_chaos_game_matches_a_one_walker_reference():
  system = fractal.sample_systems(1, seed=4)[0]
  pts = fractal.chaos_game([system], seed=9, walkers=1, steps=50, burn_in=0)
  # Replay the same random draws with a plain loop.
  rng = np.random.default_rng(9)
  x = rng.uniform(-1, 1, (1, 1, 2))[0, 0]
  cdf = np.cumsum(system.p)
  cdf[-1] = 1.0
  ref = []
  for _ in range(50):
    u = rng.uniform(size=(1, 1, 1))[0, 0, 0]
    j = min(int((u > cdf).sum()), len(cdf) - 1)
    x = system.A[j] @ x + system.b[j]
    ref.append(x)
  np.testing.assert_allclose(pts[0], np.array(ref), rtol=1e-6, atol=1e-9)


def test_registered_as_a_data_source():
  d = data.load("fractal", limit=64)
  assert d.name == "fractal" and d.num_classes == 32
  chex.assert_shape(d.train.images, (51, 8, 8, 1))


def test_bad_arguments_are_named():
  with pytest.raises(ValueError, match="num_classes=0"):
    fractal.sample_systems(0, seed=0)
  with pytest.raises(ValueError, match=r"maps=\(1, 3\)"):
    fractal.sample_systems(2, seed=0, maps=(1, 3))
