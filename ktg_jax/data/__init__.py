"""Data: loaders, seeded train/validation splits with saved indices, augmentation.

The contract other modules rely on::

  data = ktg_jax.data.load("fashion_mnist", seed=0, val_fraction=0.2)
  data.train.images  # float32 NHWC in [0, 1];  data.train.labels  # int32
  data.val, data.test, data.num_classes, data.name, data.split_indices

The validation set is carved out of the official training set (docs/papers.md §4: CIFAR
40,000 / 10,000, i.e. ``val_fraction=0.2`` of 50,000; 80/20 for the others);
the official test set is used only for final numbers, never for search or
model selection. ``sealed(data)`` replaces the test split by one that raises
on any read, so a search can prove it never looked.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

import numpy as np

from ktg_jax import typed_config
from ktg_jax.data import augment
from ktg_jax.data.idx import find_fashion_mnist, parse_idx, read_idx
from ktg_jax.data.names import CLASS_NAMES, class_names
from ktg_jax.data.raw import Raw
from ktg_jax.data.sources import SOURCES

SPLIT_FILE = "split_indices.npz"


class Split(NamedTuple):
  images: np.ndarray  # float32 [n, H, W, C]
  labels: np.ndarray  # int32 [n]


class Dataset(NamedTuple):
  train: Split
  val: Split
  test: Split
  num_classes: int
  name: str
  split_indices: dict  # {"train": int[], "val": int[]} into the official train set
  seed: int = 0


class TestSplitAccessError(RuntimeError):
  """The test split of a sealed dataset was read (docs/papers.md §4: never during search)."""


class SealedSplit:
  """Stands in for the test split: any read raises and is counted."""

  def __init__(self, name: str):
    self._name, self.reads = name, 0

  def _trip(self, what: str):
    self.reads += 1
    raise TestSplitAccessError(
        f"{self._name}: the test split was read ({what}) but this dataset "
        "is sealed for search / model selection (docs/papers.md §4); use "
        "eval_split='val'")

  def __getattr__(self, attr):
    if attr.startswith("__"):
      raise AttributeError(attr)
    return self._trip(repr(attr))

  def __len__(self):
    return self._trip("len()")

  def __iter__(self):
    return self._trip("iteration")

  def __getitem__(self, i):
    return self._trip(f"item {i!r}")


def sealed(data: Dataset) -> Dataset:
  """The same dataset with its test split replaced by a ``SealedSplit``."""
  return data._replace(test=SealedSplit(data.name))


def padded_batches(images, batch_size: int):
  """Yields ``(batch, n)``: consecutive batches of ``images``, the last one
  zero-padded to ``batch_size`` (one shape, so a jitted function is not
  recompiled for it), and ``n`` its number of real images.

  >>> [(b.shape[0], n) for b, n in padded_batches(np.zeros((5, 2)), 2)]
  [(2, 2), (2, 2), (2, 1)]
  """
  for start in range(0, len(images), batch_size):
    batch = images[start:start + batch_size]
    n = len(batch)
    if n < batch_size:
      batch = np.concatenate([batch, np.zeros((batch_size - n,)
                                              + batch.shape[1:], batch.dtype)])
    yield batch, n


def split_indices(n: int, val_fraction: float, seed: int) -> dict:
  """A seeded permutation of ``range(n)`` cut into train / val index sets."""
  if not 0.0 <= val_fraction < 1.0:
    raise ValueError(f"val_fraction={val_fraction}; allowed: 0 <= x < 1")
  order = np.random.default_rng(seed).permutation(n)
  n_val = int(round(val_fraction * n))
  return {"train": np.sort(order[n_val:]), "val": np.sort(order[:n_val])}


def from_arrays(raw: Raw, name: str, *, seed: int = 0,
                val_fraction: float = 0.2) -> Dataset:
  """Splits the official training set of ``raw`` into train / val (seeded)."""
  idx = split_indices(len(raw.train_labels), val_fraction, seed)
  take = lambda ids: Split(raw.train_images[ids], raw.train_labels[ids])
  return Dataset(train=take(idx["train"]), val=take(idx["val"]),
                 test=Split(raw.test_images, raw.test_labels),
                 num_classes=raw.num_classes, name=name, split_indices=idx,
                 seed=seed)


def load(name: str, *, seed: int = 0, val_fraction: float = 0.2,
         data_dir: str | None = None, limit: int | None = None) -> Dataset:
  """Loads data set ``name`` (one of ``SOURCES``) and splits it.

  Args:
    name: a key of ``SOURCES`` ("fashion_mnist", "digits", "cifar10",
      "cifar100", "fractal", the 100-class pairs "fashion_pairs",
      "fashion_pairs14", "digits_pairs").
    seed: seed of the train / validation split.
    val_fraction: share of the official training set held out for validation
      (0 = train on all of it: the final retraining of docs/papers.md §4).
    data_dir: where the files are (Fashion-MNIST IDX folder, TFDS data_dir).
    limit: keep only the first ``limit`` examples of each official split.

  Example (``ktg_jax.load_data`` is this function):
    >>> d = load("fractal", seed=0)      # generated offline, 32 classes
    >>> d.train.images.shape[1:], d.num_classes, d.train.images.dtype
    ((8, 8, 1), 32, dtype('float32'))
    >>> len(d.train.labels) + len(d.val.labels), len(d.test.labels)
    (1536, 256)
  """
  if name not in SOURCES:
    raise ValueError(f"data set {name!r} is unknown; allowed: {sorted(SOURCES)}")
  raw = SOURCES[name](data_dir=data_dir, limit=limit)
  return from_arrays(raw, name, seed=seed, val_fraction=val_fraction)


class DataConfig(NamedTuple):
  """What data a run trains on: the fields ``from_config`` reads (a script's
  ``ConfigDict`` holds them beside ``fit``'s ``FitConfig`` fields)."""
  dataset: str | None = None    # a key of SOURCES (required)
  val_fraction: float = 0.2     # held out of the official training set
  data_dir: str | None = None   # Fashion-MNIST IDX folder, TFDS data_dir
  limit: int | None = None      # the first N examples of each official split
  # Semi-supervised (ch.5): labelled examples per class (semi.load).
  labels_per_class: int | None = None

  @classmethod
  def of(cls, config) -> "DataConfig":
    """The data fields of ``config`` (a ``ConfigDict``, mapping or object
    with those attributes); other fields are left out, a wrong type is named.

    >>> DataConfig.of({"dataset": "digits", "epochs": 3, "limit": 200})
    DataConfig(dataset='digits', val_fraction=0.2, data_dir=None, limit=200, labels_per_class=None)
    >>> from_config({"epochs": 3})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: config.dataset is not set; allowed: ['cifar10', ..., 'fractal']
    """
    return typed_config.pick(cls, config)


def from_config(config, *, val_fraction: float | None = None, seed: int = 0,
                labels_seed: int | None = None):
  """The data set a config describes: the one way the scripts build theirs.

  ``load(dataset)`` with the config's ``data_dir``, ``limit`` and
  ``val_fraction`` (``val_fraction=`` given here wins: 0.0 = the final runs'
  whole training split, docs/papers.md §4); with ``labels_per_class`` set,
  its semi-supervised cut (``semi.load``, ch.5: a ``SemiDataset``).

  Args:
    config: a ``DataConfig``, or a script's ``ConfigDict`` / dict / object
      holding its fields (``training.default_config()``,
      ``search.trial.Settings``); absent fields take DataConfig's defaults.
    val_fraction: overrides ``config.val_fraction``.
    seed: the train / validation split's seed.
    labels_seed: the labelled draw's seed (semi-supervised; default ``seed``).

  Example:
    >>> d = from_config({"dataset": "digits", "limit": 200,
    ...                  "val_fraction": 0.25})
    >>> len(d.train.labels), len(d.val.labels), d.name
    (150, 50, 'digits')
    >>> len(from_config({"dataset": "digits", "limit": 200},
    ...                 val_fraction=0.0).val.labels)
    0
    >>> s = from_config({"dataset": "digits", "limit": 200,
    ...                  "labels_per_class": 2})
    >>> type(s).__name__, len(s.labeled.labels), s.per_class
    ('SemiDataset', 20, 2)
  """
  c = DataConfig.of(config)
  if c.dataset is None:
    raise ValueError(f"config.dataset is not set; allowed: {sorted(SOURCES)}")
  kw = dict(val_fraction=c.val_fraction if val_fraction is None
            else val_fraction, data_dir=c.data_dir, limit=c.limit)
  if c.labels_per_class is None:
    return load(c.dataset, seed=seed, **kw)
  # data.semi imports this package's Dataset: imported when first needed.
  from ktg_jax.data import semi  # pylint: disable=import-outside-toplevel
  return semi.load(c.dataset, c.labels_per_class,
                   seed=seed if labels_seed is None else labels_seed,
                   split_seed=seed, **kw)


def save_split(data: Dataset, workdir: str) -> str:
  """Writes the split indices beside a run (``split_indices.npz``)."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, SPLIT_FILE)
  np.savez(path, train=data.split_indices["train"],
           val=data.split_indices["val"],
           meta=np.array(json.dumps({"name": data.name, "seed": data.seed})))
  return path


def load_split(workdir: str) -> dict:
  with np.load(os.path.join(workdir, SPLIT_FILE)) as f:
    return {"train": f["train"], "val": f["val"],
            **json.loads(str(f["meta"]))}


__all__ = ["CLASS_NAMES", "DataConfig", "Dataset", "Raw", "SOURCES", "SealedSplit", "Split",
           "TestSplitAccessError", "augment", "class_names", "find_fashion_mnist",
           "from_arrays", "from_config", "load", "load_split", "parse_idx", "read_idx",
           "save_split", "sealed", "split_indices"]
