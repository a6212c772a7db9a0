"""Where each step's batch comes from: the data-source strategy of ``fit``.

``training.fit`` is one loop over "epochs" of ``steps_per_epoch`` steps with
an evaluation after each; a *feed* says what an epoch is and which batch step
``s`` of epoch ``e`` gets (for every member of a population at once, leading
axis K). Chosen by the data's type (a registry, not an if-chain):

* ``supervised`` (a ``ktg_jax.data.Dataset``): an epoch is a seeded
  permutation of the training split cut into full batches of ``batch_size``
  (docs/papers.md §5, ch.3 / ch.4).
* ``semi`` (a ``ktg_jax.data.semi.SemiDataset``): training length in
  iterations; an "epoch" is ``eval_every`` iterations, so ASHA's rungs fall at
  the 1st, 2nd, 4th ... evaluation (docs/papers.md §4, ch.5). Step ``k = e *
  eval_every + s`` gets ``semi.batch_at(k)``: ``batch_size`` labelled images
  and ``unlabeled_ratio * batch_size`` unlabelled ones (ch.5: 64 / 448;
  Dual Student: 31 / 97), a pure function of (member seed, k), so a resumed
  run sees the batches of an uninterrupted one.

Both give the step its named views (``config.views``: view name -> kind of
``ktg_jax.data.randaugment.VIEWS``, e.g. ``weak`` = flip / crop, ``strong`` =
weak + RandAugment + Cutout), built only for the names the graphs use.

Example:
  >>> from ktg_jax import data
  >>> from ktg_jax.run import training
  >>> from ktg_jax.data import semi
  >>> cfg = training.default_config()
  >>> cfg.batch_size, cfg.unlabeled_ratio, cfg.eval_every = 8, 2, 5
  >>> ds = semi.load("digits", per_class=3, limit=400)
  >>> feed = make(ds, cfg, seeds=(0,), specs=())
  >>> feed.kind, feed.steps_per_epoch
  ('semi', 5)
  >>> {k: v.shape for k, v in feed.batch(0, 0).items()}["unlabeled_image"]
  (1, 16, 8, 8, 1)
"""

from __future__ import annotations

import json
from typing import Callable, NamedTuple, Sequence

import numpy as np

from ktg_jax.data import randaugment
from ktg_jax.data import semi as semi_lib
from ktg_jax.core import DEFAULT_VIEW
from ktg_jax import data as data_lib


class Feed(NamedTuple):
  kind: str
  steps_per_epoch: int
  batch: Callable      # (epoch, step in epoch) -> batch, every leaf [K, ...]
  init_images: np.ndarray  # [B, H, W, C]: shapes for the nodes' init
  save: Callable       # workdir -> None: the split indices beside the run
  views: dict          # view name -> fn(rng, images), the step's ``views=``


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
  """The data order of one epoch: a function of (seed, epoch) only (resume)."""
  return np.random.default_rng([seed, epoch]).permutation(n)


def batch_of(split, ids: np.ndarray) -> dict:
  """The batch of examples ``ids`` (``[B]``, or ``[K, B]``: one row a member)."""
  return {"image": split.images[ids], "label": split.labels[ids]}


def views(dataset: str, config, specs: Sequence) -> dict:
  """``{name: view fn}`` for the view names the graphs' edges use."""
  named = sorted({v for spec in specs for v in spec.views()} - {DEFAULT_VIEW})
  kinds = dict(config.views or {})
  missing = [v for v in named if v not in kinds]
  if missing:
    raise ValueError(f"config.views={kinds} lacks {missing}, named by the "
                     f"graph's edges; allowed: view name -> one of "
                     f"{sorted(randaugment.VIEWS)}")
  return {v: randaugment.make_view(kinds[v], dataset=dataset) for v in named}


def _supervised(data, config, seeds, specs) -> Feed:
  train, b = data.train, config.batch_size
  spe = len(train.labels) // b
  if spe < 1:
    raise ValueError(f"batch_size={b} > {len(train.labels)} training "
                     "examples; allowed: a smaller batch_size")
  cache = {}

  def batch(epoch, s):
    if cache.get("epoch") != epoch:
      cache.update(epoch=epoch, orders=np.stack(
          [epoch_order(k, epoch, len(train.labels)) for k in seeds]))
    return batch_of(train, cache["orders"][:, s * b:(s + 1) * b])

  return Feed("supervised", spe, batch, train.images[:b],
              lambda workdir: data_lib.save_split(data, workdir),
              views(data.name, config, specs))


def _save_semi(semi, workdir) -> None:
  """labeled_indices.json + split_indices.npz (train = labelled + unlabelled)."""
  semi_lib.save_labeled(semi, workdir)
  train = np.sort(np.concatenate([semi.indices["labeled"],
                                  semi.indices["unlabeled"]]))
  np.savez(f"{workdir}/split_indices.npz", train=train,
           val=semi.indices["val"],
           meta=np.array(json.dumps({"name": semi.name,
                                     "seed": semi.split_seed})))


def _semi(semi, config, seeds, specs) -> Feed:
  b, mu = config.batch_size, config.unlabeled_ratio
  spe = config.eval_every
  if spe is None:  # one pass over the unlabelled pool (Dual Student's epoch)
    spe = max(1, len(semi.unlabeled.labels) // max(1, mu * b))
  if not isinstance(spe, (int, np.integer)) or spe < 1:
    raise ValueError(f"eval_every={spe!r}; allowed: an int >= 1 (iterations "
                     "between evaluations) or None")

  def batch(epoch, s):
    step = epoch * spe + s
    rows = [semi_lib.batch_at(semi, step, b, mu, seed=k) for k in seeds]
    return {key: np.stack([r[key] for r in rows]) for key in rows[0]}

  return Feed("semi", int(spe), batch, semi.labeled.images[:b],
              lambda workdir: _save_semi(semi, workdir),
              views(semi.name, config, specs))


# data type -> feed factory; the first whose test matches is used.
FEEDS: dict[str, tuple[Callable, Callable]] = {
    "semi": (lambda d: isinstance(d, semi_lib.SemiDataset), _semi),
    "supervised": (lambda d: hasattr(d, "train"), _supervised),
}


def make(data, config, seeds: Sequence[int], specs: Sequence) -> Feed:
  """The feed of ``data`` for members with ``seeds`` training ``specs``."""
  for _, (matches, factory) in FEEDS.items():
    if matches(data):
      return factory(data, config, tuple(seeds), tuple(specs))
  raise ValueError(f"data={type(data).__name__}; allowed: a ktg_jax.data."
                   "Dataset or a ktg_jax.data.semi.SemiDataset")
