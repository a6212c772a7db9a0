"""Independent numpy references shared by several test modules: written as
the papers state them (loops, one query or anchor at a time), never with the
library's code."""

import numpy as np


def knn_votes(xb, yb, xq, c, k, t, uniform=False):
  """Weighted cosine KNN votes (InstDisc / DINO eval_knn rule), one query at
  a time: the k most cosine-similar bank items vote exp(sim / t) (or 1) for
  their label. ``[len(xq), c]``; the prediction is its argmax."""
  ub = xb / np.linalg.norm(xb, axis=1, keepdims=True)
  votes = np.zeros((len(xq), c))
  for i, q in enumerate(xq):
    sims = ub @ (q / np.linalg.norm(q))
    for j in np.argsort(-sims)[:k]:
      votes[i, yb[j]] += 1.0 if uniform else np.exp(sims[j] / t)
  return votes


def nt_xent(za, zb, t):
  """SimCLR eq. 1, mean over the 2B anchors (a loop, as the paper writes it):
  l(i, j) = -log e^{s_ij/t} / sum_{k != i} e^{s_ik/t}, s = cosine."""
  z = np.concatenate([za, zb])
  z = z / np.linalg.norm(z, axis=1, keepdims=True)
  s = z @ z.T / t
  n = len(z)
  total = 0.0
  for i in range(n):
    others = [k for k in range(n) if k != i]
    total += -(s[i, (i + n // 2) % n] - np.log(np.sum(np.exp(s[i, others]))))
  return total / n
