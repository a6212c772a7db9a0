"""Raw data sources: each returns the full train and test sets as numpy arrays.

A source is ``fn(data_dir, limit) -> Raw``; images float32 NHWC in [0, 1],
labels int32. ``limit`` keeps the first ``limit`` examples of each split
(tiny runs, tests) so nothing larger than needed is decoded.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from ktg_jax.data import fractal as fractal_lib
from ktg_jax.data import idx
from ktg_jax.data.raw import Raw


def _scale(images, max_value: float) -> np.ndarray:
  return (np.asarray(images, np.float32) / max_value)


def _cut(x, limit):
  return x if limit is None else x[:limit]


def fashion_mnist(data_dir=None, limit=None) -> Raw:
  """Fashion-MNIST from the IDX .gz files of Debian's `dataset-fashion-mnist`."""
  tr_x, tr_y, te_x, te_y = idx.load_fashion_mnist(data_dir)
  return Raw(_scale(_cut(tr_x, limit), 255.0),
             _cut(tr_y, limit).astype(np.int32),
             _scale(_cut(te_x, limit), 255.0),
             _cut(te_y, limit).astype(np.int32), 10)


def digits(data_dir=None, limit=None, test_fraction: float = 0.2) -> Raw:
  """scikit-learn's 8x8 digits (1,797 images, 16 grey levels), bundled offline.

  It has no official test split: a fixed one (seed 0, 20%) is carved out
  once, so every run's test set is the same set of images.
  """
  del data_dir
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  d = load_digits()
  images = _scale(d.images[..., None], 16.0)
  labels = d.target.astype(np.int32)
  order = np.random.default_rng(0).permutation(len(labels))
  n_test = int(round(test_fraction * len(labels)))
  te, tr = order[:n_test], order[n_test:]
  return Raw(_cut(images[tr], limit), _cut(labels[tr], limit),
             _cut(images[te], limit), _cut(labels[te], limit), 10)


def _tfds_split(name: str, split: str, data_dir, limit):
  """Reads a TFDS split with ``tfds.data_source`` (random access, no TensorFlow).

  ``tfds.load`` would need TensorFlow; ``data_source`` reads ArrayRecord files
  directly and also works under ``tfds.testing.mock_data``.
  """
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  source = tfds.data_source(name, split=split, data_dir=data_dir,
                            download=True)
  n = len(source) if limit is None else min(limit, len(source))
  examples = [source[i] for i in range(n)]
  images = np.stack([np.asarray(e["image"]) for e in examples])
  labels = np.asarray([e["label"] for e in examples], np.int32)
  return _scale(images, 255.0), labels


def _tfds(name: str, num_classes: int) -> Callable[..., Raw]:
  def load(data_dir=None, limit=None) -> Raw:
    tr_x, tr_y = _tfds_split(name, "train", data_dir, limit)
    te_x, te_y = _tfds_split(name, "test", data_dir, limit)
    return Raw(tr_x, tr_y, te_x, te_y, num_classes)
  load.__doc__ = f"{name} through tensorflow-datasets (needs internet once)."
  return load


def fractal(data_dir=None, limit=None) -> Raw:
  """Formula-driven fractal categories, generated offline (``data/fractal.py``)."""
  return fractal_lib.source(data_dir, limit)


def pair_images(images, labels, n: int, seed: int, num_classes: int = 10):
  """``n`` side-by-side pairs of ``images``: pair i is
  ``concat(images[l_i], images[r_i], axis=width)`` with label
  ``num_classes * labels[l_i] + labels[r_i]`` (l, r drawn uniformly with
  replacement from a ``seed``-ed generator).

  Example:
    >>> x = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1)
    >>> px, py = pair_images(x, np.array([0, 1, 2]), 4, seed=0)
    >>> px.shape, bool(np.all(py == 10 * px[:, 0, 0, 0] + px[:, 0, 1, 0]))
    ((4, 1, 2, 1), True)
  """
  rng = np.random.default_rng(seed)
  left = rng.integers(0, len(labels), size=n)
  right = rng.integers(0, len(labels), size=n)
  x = np.concatenate([images[left], images[right]], axis=2)
  y = (num_classes * labels[left] + labels[right]).astype(np.int32)
  return x, y


def _avg_pool(x: np.ndarray, k: int) -> np.ndarray:
  """Mean over non-overlapping k x k windows of NHWC images."""
  if k == 1:
    return x
  n, h, w, c = x.shape
  return x.reshape(n, h // k, k, w // k, k, c).mean((2, 4))


def paired(data_dir=None, limit=None, *, base: str = "fashion_mnist",
           seed: int = 0, pool: int = 1, test_pairs: int | None = None) -> Raw:
  """A 100-class stand-in for CIFAR-100 built offline from a 10-class
  source (docs/measured.md: the collaborative effect shows with 100 related
  classes, not with 10): each image is two ``base`` images side by side
  (H x 2W), label = 10 x left class + right class. Training pairs are
  drawn (seed ``seed``) only from ``base``'s training split, test pairs
  (seed ``seed + 1``) only from its test split. ``limit`` training pairs
  (default: as many as the split has images); ``test_pairs`` test pairs
  (default: ``limit``, else the test split's size); ``pool``: k x k mean
  pooling (2 = 14 x 28 pairs from Fashion-MNIST, 7x cheaper on a CPU).
  """
  if pool < 1:
    raise ValueError(f"pool={pool}; allowed: an int >= 1")
  raw = SOURCES[base](data_dir=data_dir)
  k = raw.num_classes
  n_tr = len(raw.train_labels) if limit is None else limit
  n_te = test_pairs or (len(raw.test_labels) if limit is None else limit)
  tr_x, tr_y = pair_images(_avg_pool(raw.train_images, pool),
                           raw.train_labels, n_tr, seed, k)
  te_x, te_y = pair_images(_avg_pool(raw.test_images, pool),
                           raw.test_labels, n_te, seed + 1, k)
  return Raw(tr_x, tr_y, te_x, te_y, k * k)


def place_images(images, canvas: int, seed: int) -> np.ndarray:
  """Each H x W image pasted at a random position of a black ``canvas`` x
  ``canvas`` square (offsets uniform in [0, canvas - H] x [0, canvas - W],
  one draw per image from a ``seed``-ed generator).

  Example:
    >>> x = np.ones((5, 2, 2, 1), np.float32)
    >>> y = place_images(x, 4, seed=0)
    >>> y.shape, float(y.sum()) == float(x.sum())
    ((5, 4, 4, 1), True)
  """
  n, h, w, c = images.shape
  if canvas < max(h, w):
    raise ValueError(f"canvas={canvas}; allowed: an int >= {max(h, w)} "
                     "(the images' side)")
  rng = np.random.default_rng(seed)
  top = rng.integers(0, canvas - h + 1, size=n)
  left = rng.integers(0, canvas - w + 1, size=n)
  out = np.zeros((n, canvas, canvas, c), np.float32)
  for i in range(n):
    out[i, top[i]:top[i] + h, left[i]:left[i] + w] = images[i]
  return out


def placed(data_dir=None, limit=None, *, base: str = "fashion_mnist",
           canvas: int = 36, seed: int = 0) -> Raw:
  """``base`` with every image at a random position of a larger black canvas
  (training positions drawn with ``seed``, test ones with ``seed + 1``).

  Why: Fashion-MNIST's garments are centred and aligned, which makes raw-pixel
  KNN an unusually strong baseline (docs/ssl_regime.md: 79-83 % on 2,000
  validation images, above SimCLR's 81 %); natural-image sets are not aligned.
  Placement keeps the classes and breaks the alignment, so a learned,
  translation-invariant feature has something to beat (a "translated MNIST"
  in the spirit of the spatial-transformer experiments).
  """
  raw = SOURCES[base](data_dir=data_dir, limit=limit)
  return Raw(place_images(raw.train_images, canvas, seed), raw.train_labels,
             place_images(raw.test_images, canvas, seed + 1), raw.test_labels,
             raw.num_classes)


SOURCES: dict[str, Callable[..., Raw]] = {
    "fashion_mnist": fashion_mnist,
    "digits": digits,
    "cifar10": _tfds("cifar10", 10),
    "cifar100": _tfds("cifar100", 100),
    "fractal": fractal,
    "fashion_pairs": functools.partial(paired, base="fashion_mnist"),
    # 14 x 28 pairs, 10,000 test pairs whatever the training limit.
    "fashion_pairs14": functools.partial(paired, base="fashion_mnist",
                                         pool=2, test_pairs=10000),
    "digits_pairs": functools.partial(paired, base="digits"),
    # Fashion-MNIST at random positions of a 36 x 36 black canvas.
    "fashion_placed36": functools.partial(placed, base="fashion_mnist",
                                          canvas=36),
}
