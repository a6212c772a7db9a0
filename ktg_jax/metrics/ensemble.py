"""Ensemble evaluation of ch.4: accuracy, ensemble, diversity, gain (docs/papers.md §2).

Accuracies are fractions in [0, 1] (the thesis prints %). Member logits are
stacked on a leading axis M: ``float[M, N, C]``; labels ``int[N]``.

Example:
  >>> import jax.numpy as jnp
  >>> z = jnp.array([[[2.0, 0.0], [0.0, 1.0]],     # member 1: right, right
  ...                [[0.0, 1.0], [3.0, 0.0]]])    # member 2: wrong, wrong
  >>> y = jnp.array([0, 1])
  >>> accuracy(z, y).tolist(), float(ensemble_accuracy(z, y))
  ([1.0, 0.0], 0.5)
  >>> float(ensemble_gain(z, y))                   # 0.5 - (1 + 0) / 2
  0.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ktg_jax.families.ensemble import nodes as ensemble_nodes


def accuracy(logits, labels):
  """Top-1 accuracy: ``1/N sum_n 1[argmax_c z_n = y_n]``; [..., N, C] -> [...]."""
  return jnp.mean(jnp.argmax(logits, axis=-1) == labels, axis=-1)


def ensemble_accuracy(member_logits, labels):
  """Accuracy of the mean of the members' logits (eq 4.10); [M, N, C] -> []."""
  return accuracy(ensemble_nodes.ensemble_logits(member_logits), labels)


def ensemble_gain(member_logits, labels):
  """Eq 4.4: ``ACC_ens - 1/M sum_m ACC_m`` (M = 2 in the thesis); [M, N, C] -> []."""
  return (ensemble_accuracy(member_logits, labels)
          - jnp.mean(accuracy(member_logits, labels)))


def mutual_kl(logits1, logits2):
  """Per-sample ``1/2 (KL(p1 || p2) + KL(p2 || p1))`` (eq 4.2's summand, 4.3).

  Equals ``1/2 sum_c (p1^c - p2^c)(log p1^c - log p2^c)``; [..., C] -> [...].
  """
  logp1 = jax.nn.log_softmax(logits1, axis=-1)
  logp2 = jax.nn.log_softmax(logits2, axis=-1)
  return 0.5 * jnp.sum((jnp.exp(logp1) - jnp.exp(logp2)) * (logp1 - logp2),
                       axis=-1)


def diversity(logits1, logits2):
  """Diversity of two models, eq 4.2: ``1/N sum_n mutual_kl``; [..., N, C] -> [...].

  Example:
    >>> import jax.numpy as jnp
    >>> z = jnp.array([[1.0, 0.0, -1.0]])
    >>> float(diversity(z, z))
    0.0
  """
  return jnp.mean(mutual_kl(logits1, logits2), axis=-1)


def diversity_matrix(member_logits):
  """``D[a, b] = diversity(l_a, l_b)`` of M members; [M, N, C] -> [M, M].

  Symmetric with a zero diagonal. One [M, N*C] x [N*C, M] product instead of
  M^2 pair evaluations: ``2 N D[a, b] = S_a + S_b - X[a, b] - X[b, a]`` with
  ``S_a = sum p_a log p_a`` and ``X[a, b] = sum p_a log p_b`` over n and c.
  """
  m, n = member_logits.shape[0], member_logits.shape[-2]
  logp = jax.nn.log_softmax(member_logits, axis=-1).reshape(m, -1)
  # HIGHEST: no TF32 / bf16 passes on accelerators, the terms nearly cancel.
  cross = jnp.matmul(jnp.exp(logp), logp.T,
                     precision=jax.lax.Precision.HIGHEST)     # X[a, b]
  self_terms = jnp.diagonal(cross)                    # S_a
  d = 0.5 * (self_terms[:, None] + self_terms[None, :] - cross - cross.T) / n
  return jnp.where(jnp.eye(m, dtype=bool), 0.0, d)


def pairwise_gain(member_logits, labels):
  """``G[a, b]`` = eq 4.4 for the two-model ensemble of members a and b; [M, M].

  The analysis of Tables 4.1-4.3 (100 models, 4,950 pairs): plot it against
  ``diversity_matrix``. Rows are computed one at a time (``lax.map``) so the
  memory is O(M N C), not O(M^2 N C). The diagonal is 0 (a model with itself).
  """
  acc = accuracy(member_logits, labels)                               # [M]

  def row(la):
    pair = jnp.argmax(la[None] + member_logits, axis=-1) == labels   # [M, N]
    return jnp.mean(pair, axis=-1)

  pair_acc = jax.lax.map(row, member_logits)                          # [M, M]
  return pair_acc - 0.5 * (acc[:, None] + acc[None, :])


def ensemble_report(node_logits, labels, members) -> dict:
  """What every trained ensemble reports (thesis ch.4 §4.2, eqs 4.2, 4.4, 4.10).

  ``node_logits``: float[N, n, C] of every node of a graph; ``members``: the
  ensemble node's member indices. Returns plain floats / lists (JSON-ready):
  member accuracies, their mean, the ensemble accuracy (mean of the members'
  logits), the gain (eq 4.4, generalised to M members), the pairwise
  diversity matrix (eq 4.2) and its mean over pairs.

  Example:
    >>> import numpy as np
    >>> z = np.array([[[2.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [3.0, 0.0]]])
    >>> r = ensemble_report(z, np.array([0, 1]), (0, 1))
    >>> r["member_accuracy"], r["ensemble_accuracy"], r["gain"]
    ([1.0, 0.0], 0.5, 0.0)
  """
  z = jnp.asarray(node_logits)[jnp.asarray(tuple(members))]
  labels = jnp.asarray(labels)
  acc = accuracy(z, labels)
  d = diversity_matrix(z)
  m = z.shape[0]
  pairs = jnp.triu(jnp.ones((m, m), bool), 1)
  return {"member_accuracy": [float(a) for a in acc],
          "mean_member_accuracy": float(jnp.mean(acc)),
          "ensemble_accuracy": float(ensemble_accuracy(z, labels)),
          "gain": float(ensemble_gain(z, labels)),
          "diversity_matrix": d.tolist(),
          "mean_diversity": float(jnp.sum(jnp.where(pairs, d, 0.0))
                                  / jnp.sum(pairs))}
