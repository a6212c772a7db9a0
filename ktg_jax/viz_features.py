"""A 2-D picture of a node's features, coloured by class (000: what the KNN
score reads). Projection: PCA by SVD of the centred features; matplotlib
(Agg) only.

Example:
  >>> import numpy as np
  >>> x = np.array([[0., 0., 1.], [2., 0., 1.], [4., 0., 1.]])
  >>> [round(float(v), 6) for v in np.abs(pca_2d(x)[:, 0])]
  [2.0, 0.0, 2.0]
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position


def pca_2d(features) -> np.ndarray:
  """The first two principal components' scores: [n, D] -> [n, 2]
  (``(X - mean) V[:, :2]``, V the right singular vectors)."""
  x = np.asarray(features, np.float64)
  x = x - x.mean(axis=0)
  _, _, vt = np.linalg.svd(x, full_matrices=False)
  return x @ vt[:2].T


def draw_features(features, labels, path: str, title: str = "",
                  class_names=None) -> str:
  """Scatter of ``pca_2d(features)`` coloured by ``labels``; returns path."""
  xy, labels = pca_2d(features), np.asarray(labels)
  fig, ax = plt.subplots(figsize=(6, 5))
  cmap = plt.get_cmap("tab10")
  for c in np.unique(labels):
    m = labels == c
    name = class_names[c] if class_names is not None else str(c)
    ax.scatter(xy[m, 0], xy[m, 1], s=4, color=cmap(int(c) % 10), label=name)
  ax.set_xlabel("PC 1")
  ax.set_ylabel("PC 2")
  ax.set_title(title, fontsize=9)
  ax.legend(markerscale=3, fontsize=7, loc="best")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


__all__ = ["draw_features", "pca_2d"]
