"""Raw data sources: each returns the full train and test sets as numpy arrays.

A source is ``fn(data_dir, limit) -> Raw``; images float32 NHWC in [0, 1],
labels int32. ``limit`` keeps the first ``limit`` examples of each split
(tiny runs, tests) so nothing larger than needed is decoded.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ktg_jax.data import idx


class Raw(NamedTuple):
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  num_classes: int


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
  from ktg_jax.data import fractal as fractal_lib  # pylint: disable=import-outside-toplevel
  return fractal_lib.source(data_dir, limit)


SOURCES: dict[str, Callable[..., Raw]] = {
    "fashion_mnist": fashion_mnist,
    "digits": digits,
    "cifar10": _tfds("cifar10", 10),
    "cifar100": _tfds("cifar100", 100),
    "fractal": fractal,
}
