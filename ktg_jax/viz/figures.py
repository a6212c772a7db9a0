"""Figures without pyplot: matplotlib's object-oriented ``Figure`` on its own
Agg canvas, so drawing a picture never switches the process's backend (a
notebook that imports ``ktg_jax.viz.run_pictures`` keeps its inline plots).

Example:
  >>> import os, tempfile
  >>> import matplotlib
  >>> backend = matplotlib.get_backend()
  >>> fig, ax = subplots(figsize=(2, 2))
  >>> _ = ax.plot([0, 1], [1, 0])
  >>> path = save(fig, os.path.join(tempfile.mkdtemp(), "line.png"))
  >>> os.path.getsize(path) > 0, matplotlib.get_backend() == backend
  (True, True)
"""

from __future__ import annotations

import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
  """``pyplot.subplots``' ``(fig, axes)``, on a private Agg canvas."""
  fig_kw = {k: kwargs.pop(k) for k in ("figsize", "dpi") if k in kwargs}
  fig = Figure(**fig_kw)
  FigureCanvasAgg(fig)
  return fig, fig.subplots(nrows, ncols, **kwargs)


def save(fig: Figure, path: str, dpi: int = 110, tight: bool = True,
         bbox_inches: str | None = "tight") -> str:
  """Writes ``fig`` to ``path`` (folders made); returns ``path``."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if tight:
    fig.tight_layout()
  fig.savefig(path, dpi=dpi, bbox_inches=bbox_inches)
  return path
