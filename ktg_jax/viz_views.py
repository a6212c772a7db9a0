"""A picture of the views: a PNG grid, one row per view, one column per image.

The first row is the original batch, the next rows ``view(rng, images)``
for each named view (e.g. weak, strong), so one can see what the nodes of a
semi-supervised graph are shown. matplotlib, Agg backend, no display.

Example:
  >>> import os, tempfile, jax, numpy as np
  >>> from ktg_jax.data import randaugment
  >>> images = np.random.default_rng(0).uniform(size=(3, 8, 8, 1))
  >>> path = save_views_grid(
  ...     os.path.join(tempfile.mkdtemp(), "views.png"), images,
  ...     {"weak": randaugment.make_view("weak", dataset="digits")},
  ...     jax.random.key(0))
  >>> os.path.getsize(path) > 0
  True
"""

from __future__ import annotations

import os

from ktg_jax import figures
import numpy as np  # pylint: disable=wrong-import-position


def view_rows(images, views: dict, rng) -> dict:
  """``{"original": images, name: view(key_name, images), ...}`` as numpy.

  Each view gets its own key (``fold_in`` of its position), so rows differ
  even for views built alike.
  """
  import jax  # pylint: disable=import-outside-toplevel
  images = np.asarray(images, np.float32)
  rows = {"original": images}
  for i, (name, view) in enumerate(views.items()):
    rows[name] = np.asarray(view(jax.random.fold_in(rng, i), images))
  return rows


def save_views_grid(path: str, images, views: dict, rng, *,
                    max_images: int = 8, cell: float = 1.2) -> str:
  """Saves a PNG grid: rows original + each view, columns the first images."""
  if not views:
    raise ValueError("views={}; allowed: a dict name -> fn(rng, images)")
  images = np.asarray(images)[:max_images]
  rows = view_rows(images, views, rng)
  n_rows, n_cols = len(rows), images.shape[0]
  fig, axes = figures.subplots(n_rows, n_cols, squeeze=False,
                           figsize=(cell * n_cols + 0.8, cell * n_rows))
  for r, (name, batch) in enumerate(rows.items()):
    for c in range(n_cols):
      ax = axes[r, c]
      image = np.clip(batch[c], 0.0, 1.0)
      if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
      else:
        ax.imshow(image[..., :3])
      ax.set_xticks([])
      ax.set_yticks([])
      if c == 0:
        ax.set_ylabel(name)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=80)
  return path
