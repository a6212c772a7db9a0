"""A 2-D picture of a node's features, coloured by class (000: what the KNN
score reads). Projection: PCA by SVD of the centred features; matplotlib
on a private Agg canvas (``ktg_jax.viz.figures``).

Example:
  >>> import numpy as np
  >>> x = np.array([[0., 0., 1.], [2., 0., 1.], [4., 0., 1.]])
  >>> [round(float(v), 6) for v in np.abs(pca_2d(x)[:, 0])]
  [2.0, 0.0, 2.0]
"""

from __future__ import annotations

import textwrap

import matplotlib
import numpy as np

from ktg_jax.viz import figures


def pca_2d(features) -> np.ndarray:
  """The first two principal components' scores: [n, D] -> [n, 2]
  (``(X - mean) V[:, :2]``, V the right singular vectors)."""
  x = np.asarray(features, np.float64)
  x = x - x.mean(axis=0)
  _, _, vt = np.linalg.svd(x, full_matrices=False)
  return x @ vt[:2].T


def draw_features(features, labels, path: str, title: str = "",
                  class_names=None) -> str:
  """Scatter of ``pca_2d(features)`` coloured by ``labels``, the legend
  naming each class (``class_names[c]``, e.g. ``data.class_names(name)``;
  the class index without them); returns path."""
  fig = features_figure(features, labels, title, class_names)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  return path


def features_figure(features, labels, title: str = "", class_names=None):
  """``draw_features``' figure, not saved."""
  xy, labels = pca_2d(features), np.asarray(labels)
  fig, ax = figures.subplots(figsize=(6, 5))
  cmap = matplotlib.colormaps["tab10" if len(np.unique(labels)) <= 10 else "tab20"]
  for c in np.unique(labels):
    m = labels == c
    name = class_names[c] if class_names is not None else str(c)
    ax.scatter(xy[m, 0], xy[m, 1], s=4, color=cmap(int(c) % cmap.N), label=name)
  ax.set_xlabel("PC 1")
  ax.set_ylabel("PC 2")
  ax.set_title(textwrap.fill(title, 80), fontsize=9)  # a run's long names
  ax.legend(markerscale=3, fontsize=7, loc="best")
  return fig


__all__ = ["draw_features", "features_figure", "pca_2d"]
