"""Weighted k-nearest-neighbour classifier on features (SSL evaluation, 000).

Paper 000 scores self-supervised nodes by the KNN accuracy of the target's
features but gives neither ``k`` nor ``T``. The rule used here is the
weighted cosine vote of Wu et al. 2018 ("InstDisc") as DINO's ``eval_knn.py``
implements it: features and bank are L2-normalised, the ``k`` most similar
bank entries vote for their label with weight ``exp(sim / T)``, the class
with the largest total wins (ties: the smallest class id).

Defaults ``k = 20``, ``T = 0.07``: DINO's reported 20-NN and the ``--temperature``
default of its ``eval_knn.py`` (InstDisc's T as well). Other repositories use
``k = 200``, ``T = 0.1`` (e.g. solo-learn-style CIFAR monitors); pass those to
compare with them. ``weighting="uniform"`` gives the plain majority vote.

Vectorised on the device: queries are processed ``chunk`` at a time with
``lax.map``, so memory stays at ``chunk x N`` similarities for a bank of N.

Example:
  >>> import numpy as np
  >>> bank = np.array([[1., 0.], [.9, .1], [0., 1.], [.1, .9]])
  >>> labels = np.array([0, 0, 1, 1])
  >>> knn_predict(bank, labels, np.array([[1., .2], [.2, 1.]]), 2, k=2).tolist()
  [0, 1]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.07

# vote weight of a neighbour with cosine similarity ``sim``
WEIGHTINGS = {
    "exp": lambda sim, temperature: jnp.exp(sim / temperature),
    "uniform": lambda sim, temperature: jnp.ones_like(sim),
}


def _unit(x):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@functools.partial(jax.jit, static_argnames=("num_classes", "k", "weighting",
                                             "chunk"))
def _predict(bank, bank_labels, queries, temperature, *, num_classes, k,
             weighting, chunk):
  bank = _unit(bank.astype(jnp.float32))
  queries = _unit(queries.astype(jnp.float32))
  n = queries.shape[0]
  pad = -n % chunk
  queries = jnp.pad(queries, ((0, pad), (0, 0)))
  weigh = WEIGHTINGS[weighting]

  def one_chunk(q):
    sims, idx = jax.lax.top_k(q @ bank.T, k)            # [chunk, k]
    onehot = jax.nn.one_hot(bank_labels[idx], num_classes)  # [chunk, k, C]
    votes = jnp.sum(onehot * weigh(sims, temperature)[..., None], axis=1)
    return jnp.argmax(votes, axis=-1)
  out = jax.lax.map(one_chunk, queries.reshape(-1, chunk, queries.shape[-1]))
  return out.reshape(-1)[:n]


def knn_predict(bank_features, bank_labels, query_features, num_classes: int,
                k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE,
                weighting: str = "exp", chunk: int = 256):
  """Predicted labels int[Q] of ``query_features`` [Q, D] from the bank [N, D]."""
  n = bank_features.shape[0]
  if not 1 <= k <= n:
    raise ValueError(f"k={k}; allowed: 1 <= k <= bank size {n}")
  if weighting not in WEIGHTINGS:
    raise ValueError(f"weighting={weighting!r}; allowed: {sorted(WEIGHTINGS)}")
  if not temperature > 0:
    raise ValueError(f"temperature={temperature}; allowed: > 0")
  if chunk < 1:
    raise ValueError(f"chunk={chunk}; allowed: >= 1")
  chunk = min(chunk, max(1, query_features.shape[0]))
  return _predict(jnp.asarray(bank_features), jnp.asarray(bank_labels),
                  jnp.asarray(query_features), temperature,
                  num_classes=num_classes, k=k, weighting=weighting, chunk=chunk)


def knn_accuracy(bank_features, bank_labels, query_features, query_labels,
                 num_classes: int, **kwargs) -> float:
  """Share of queries whose KNN prediction equals their label (0..1)."""
  pred = knn_predict(bank_features, bank_labels, query_features, num_classes,
                     **kwargs)
  return float(jnp.mean(pred == jnp.asarray(query_labels)))


__all__ = ["DEFAULT_K", "DEFAULT_TEMPERATURE", "WEIGHTINGS", "knn_accuracy",
           "knn_predict"]
