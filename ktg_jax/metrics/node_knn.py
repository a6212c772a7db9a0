"""KNN accuracy of nodes' features: how a self-supervised graph is scored (000).

A node's ``features`` output in inference mode, scored by the weighted
cosine KNN vote of ``ktg_jax.metrics.knn`` (bank: the training split without
augmentation; queries: validation or test).
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from ktg_jax import classic
from ktg_jax import data as data_lib
from ktg_jax.core import step
from ktg_jax.metrics import knn


@functools.lru_cache(maxsize=32)
def _features_fn(module, output: str = "features"):
  return jax.jit(lambda v, x: module.apply(v, x, train=False)[output])


def features(module, variables, images, batch_size: int,
             output: str = "features") -> np.ndarray:
  """``features`` output of ``module`` in inference mode (running BatchNorm
  statistics), [n, D]; the last batch is padded, not recompiled. ``output``:
  another output instead (an ssl node's ``projection``)."""
  fn = _features_fn(module, output)
  return np.concatenate([np.asarray(fn(variables, x))[:n] for x, n
                         in data_lib.padded_batches(images, batch_size)])


def knn_node_accuracy(modules, variables, bank, query, num_classes: int, *,
                      k: int = knn.DEFAULT_K,
                      temperature: float = knn.DEFAULT_TEMPERATURE,
                      batch_size: int = 500) -> np.ndarray:
  """Per node, the weighted cosine KNN accuracy (``ktg_jax.metrics.knn``) of its
  features: the bank is split ``bank`` (the training split, no augmentation),
  the queries split ``query`` (validation or test). Nodes without a network
  or a ``features`` output get NaN.

  Args:
    modules: per node its flax module or None (``step.node_modules``).
    variables: per node its variables (``step.node_variables``) or None.
    bank, query: splits with ``images`` and ``labels``.
    num_classes: C. k, temperature: the vote (defaults k=20, T=0.07: DINO's).

  Returns:
    float[N] accuracies in [0, 1].
  """
  out = np.full(len(modules), np.nan)
  for i, (m, v) in enumerate(zip(modules, variables)):
    if m is None or v is None:
      continue
    fb = features(m, v, bank.images, batch_size)
    fq = features(m, v, query.images, batch_size)
    out[i] = knn.knn_accuracy(fb, bank.labels, fq, query.labels, num_classes,
                              k=min(k, len(bank.labels)),
                              temperature=temperature)
  return out


def untrained_knn(data, model: str, seeds, *, split: str = "val",
                  k: int = 20, temperature: float = 0.07) -> np.ndarray:
  """Per seed, the KNN accuracy (0..1) of a freshly initialised
  ``classic.ssl(model)`` node (000 Table 2's reference row): bank
  ``data.train``, queries ``data.<split>``, as ``fit`` scores a trained one
  (``experiments/ssl_untrained.py``)."""
  query = getattr(data, split)
  module = step.node_modules(classic.ssl(model), data.num_classes)[0]
  return np.asarray([float(knn_node_accuracy(
      [module], [module.init(jax.random.key(seed), data.train.images[:2],
                             train=False)],
      data.train, query, data.num_classes, k=k, temperature=temperature)[0])
                     for seed in seeds])
