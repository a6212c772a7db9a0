"""Semi-supervised data: N labels per class, an unlabelled pool, resumable batches.

From a ``Dataset`` (``ktg_jax.data.load``) whose official training set is
already cut into train / val (docs/papers.md §4), the *train* split is cut again:
``per_class`` labelled examples per class (seeded) and the rest, labels
hidden, as the unlabelled pool (FixMatch / docs/papers.md §5: CIFAR-100 with 400 /
2,500 / 10,000 labels = 4 / 25 / 100 per class). The validation split stays
labelled and apart: it never enters either set. Test stays official.

Batches are a pure function of ``(seed, step)``: each stream (labelled,
unlabelled) walks seeded per-epoch permutations, so step ``k`` is the same
whether a run got there from step 0 or resumed at ``k``.

Example:
  >>> import numpy as np
  >>> labels = np.array([0, 1, 0, 1, 0, 1, 2, 2])
  >>> idx = labeled_subset(labels, per_class=2, seed=0)
  >>> np.bincount(labels[idx]).tolist()
  [2, 2, 2]
"""

from __future__ import annotations

import json
import os
from typing import Iterator, NamedTuple

import numpy as np

from ktg_jax import data as data_lib
from ktg_jax.data import Dataset, Split

LABELED_FILE = "labeled_indices.json"
_LABELED_STREAM, _UNLABELED_STREAM = 0, 1


class SemiDataset(NamedTuple):
  labeled: Split     # per_class examples per class
  unlabeled: Split   # the rest of train; labels kept for diagnostics only,
                     # never put in a batch
  val: Split
  test: object       # Split, or a SealedSplit
  num_classes: int
  name: str
  indices: dict      # {"labeled", "unlabeled", "val"}: into the official train set
  seed: int          # seed of the labelled draw
  split_seed: int    # seed of the train / val split
  per_class: int | None  # None: saved indices that are not class-balanced


def labeled_subset(labels, per_class: int, seed: int,
                   num_classes: int | None = None) -> np.ndarray:
  """Sorted positions of exactly ``per_class`` examples of each class.

  Class ``c`` takes the first ``per_class`` of a permutation seeded by
  ``(seed, c)``, so for one seed smaller label sets are nested in larger ones
  (the 4-per-class set lies inside the 25-per-class set).

  Args:
    labels: int labels of the pool to draw from (the training split).
    per_class: labelled examples per class, >= 1.
    seed: seed of the draw.
    num_classes: classes 0..num_classes-1 must all be present; default: the
      classes that occur in ``labels``.
  """
  labels = np.asarray(labels)
  if not isinstance(per_class, (int, np.integer)) or per_class < 1:
    raise ValueError(f"per_class={per_class!r}; allowed: an integer >= 1")
  classes = (np.arange(num_classes) if num_classes is not None
             else np.unique(labels))
  chosen = []
  for c in classes:
    pool = np.flatnonzero(labels == c)
    if len(pool) < per_class:
      raise ValueError(
          f"class {int(c)} has {len(pool)} examples in the training split, "
          f"fewer than per_class={per_class}; allowed: per_class <= "
          f"{len(pool)} or a larger split")
    order = np.random.default_rng([seed, int(c)]).permutation(pool)
    chosen.append(order[:per_class])
  return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def semi_supervised(data: Dataset, per_class: int | None = None, *,
                    seed: int = 0, labeled=None) -> SemiDataset:
  """Cuts ``data.train`` into labelled (``per_class`` per class) / unlabelled.

  Args:
    data: a ``Dataset`` from ``ktg_jax.data.load`` (its val split is kept).
    per_class: labelled examples per class, drawn with ``seed``.
    seed: seed of the labelled draw (independent of the split seed).
    labeled: instead of drawing, these indices into the *official* training
      set (``load_labeled(workdir)["labeled"]``: a resumed run).
  """
  train_ids = np.asarray(data.split_indices["train"])
  if labeled is None:
    if per_class is None:
      raise ValueError("per_class=None; allowed: an integer >= 1, or pass "
                       "labeled= (saved indices)")
    pos = labeled_subset(data.train.labels, per_class, seed, data.num_classes)
  else:
    labeled = np.asarray(labeled)
    pos = np.searchsorted(train_ids, labeled)
    pos_ok = (pos < len(train_ids)) & (
        train_ids[np.minimum(pos, len(train_ids) - 1)] == labeled)
    if not pos_ok.all():
      raise ValueError(f"labeled={labeled[~pos_ok][:5].tolist()}...: indices "
                       "not in this dataset's train split; allowed: indices "
                       "of data.split_indices['train']")
    counts = np.bincount(data.train.labels[pos], minlength=data.num_classes)
    per_class = int(counts[0]) if counts.min() == counts.max() else None
  rest = np.setdiff1d(np.arange(len(train_ids)), pos)
  take = lambda p: Split(data.train.images[p], data.train.labels[p])
  return SemiDataset(
      labeled=take(pos), unlabeled=take(rest), val=data.val, test=data.test,
      num_classes=data.num_classes, name=data.name,
      indices={"labeled": train_ids[pos], "unlabeled": train_ids[rest],
               "val": np.asarray(data.split_indices["val"])},
      seed=seed, split_seed=data.seed, per_class=per_class)


def load(name: str, per_class: int, *, seed: int = 0, split_seed: int = 0,
         val_fraction: float = 0.2, data_dir: str | None = None,
         limit: int | None = None) -> SemiDataset:
  """``ktg_jax.data.load`` (train / val cut by ``split_seed``), then the
  labelled / unlabelled cut of its train split by ``seed``."""
  base = data_lib.load(name, seed=split_seed, val_fraction=val_fraction,
                       data_dir=data_dir, limit=limit)
  return semi_supervised(base, per_class, seed=seed)


def _stream(n: int, size: int, seed: int, stream: int, step: int) -> np.ndarray:
  """Positions ``step*size .. step*size+size-1`` of an endless shuffled stream.

  Epoch ``e`` of the stream is ``permutation(n)`` seeded by
  ``(seed, stream, e)``: every example once per epoch; a batch may straddle
  epochs (or span several when ``size > n``).
  """
  if n == 0:
    raise ValueError("an empty set cannot be batched; allowed: n >= 1")
  flat = step * size + np.arange(size)
  epochs, offsets = flat // n, flat % n
  out = np.empty(size, np.int64)
  for e in np.unique(epochs):
    perm = np.random.default_rng([seed, stream, int(e)]).permutation(n)
    out[epochs == e] = perm[offsets[epochs == e]]
  return out


def batch_at(semi: SemiDataset, step: int, batch_size: int, mu: int,
             seed: int = 0) -> dict:
  """Batch ``step``: ``{"image", "label", "unlabeled_image"}`` numpy arrays.

  ``batch_size`` labelled examples and ``mu * batch_size`` unlabelled images
  (FixMatch: B = 64, mu = 7 -> 448; docs/papers.md §5), a pure function of
  ``(seed, step)``.
  """
  if batch_size < 1 or mu < 0:
    raise ValueError(f"batch_size={batch_size}, mu={mu}; allowed: "
                     "batch_size >= 1, mu >= 0")
  lab = _stream(len(semi.labeled.labels), batch_size, seed, _LABELED_STREAM,
                step)
  unl = (_stream(len(semi.unlabeled.labels), mu * batch_size, seed,
                 _UNLABELED_STREAM, step) if mu else np.zeros(0, np.int64))
  return {"image": semi.labeled.images[lab],
          "label": semi.labeled.labels[lab],
          "unlabeled_image": semi.unlabeled.images[unl]}


def batches(semi: SemiDataset, batch_size: int, mu: int, seed: int = 0,
            start_step: int = 0) -> Iterator[dict]:
  """Endless ``batch_at(step)`` for step = start_step, start_step + 1, ..."""
  step = start_step
  while True:
    yield batch_at(semi, step, batch_size, mu, seed)
    step += 1


def save_labeled(semi: SemiDataset, workdir: str) -> str:
  """Writes the labelled indices beside a run (``labeled_indices.json``).

  Indices are into the official training set, like ``split_indices.npz``
  (``ktg_jax.data.save_split``), which holds the train / val cut.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, LABELED_FILE)
  with open(path, "w", encoding="utf-8") as f:
    json.dump({"name": semi.name, "seed": semi.seed,
               "split_seed": semi.split_seed, "per_class": semi.per_class,
               "labeled": semi.indices["labeled"].tolist()}, f)
  return path


def load_labeled(workdir: str) -> dict:
  """The saved record; ``"labeled"`` as an int64 array."""
  with open(os.path.join(workdir, LABELED_FILE), encoding="utf-8") as f:
    record = json.load(f)
  record["labeled"] = np.asarray(record["labeled"], np.int64)
  return record
