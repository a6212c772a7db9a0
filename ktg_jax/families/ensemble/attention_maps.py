"""A picture of the attention maps the ch.4 edges crop (docs/papers.md §2, thesis Fig. 4.4).

One row per node, one column per image: the image in grey, the node's
attention map (``outputs["attention"]``, resized to the image) over it, and
the crop windows of the attention losses drawn as squares — each k x k window
centred on the map's argmax, shifted inside the map, exactly as
``attention.crop_starts`` places it (one colour per size). matplotlib, Agg.

Example:
  >>> import os, tempfile, numpy as np
  >>> images = np.random.default_rng(0).uniform(size=(2, 14, 14, 1))
  >>> maps = {"node 0": np.random.default_rng(1).uniform(size=(2, 7, 7))}
  >>> path = save_attention_grid(os.path.join(tempfile.mkdtemp(), "a.png"),
  ...                            images, maps, {"node 0": (3, 5)})
  >>> os.path.getsize(path) > 0
  True
"""

from __future__ import annotations

import os

import jax.numpy as jnp
from ktg_jax.viz import figures
from matplotlib.patches import Rectangle  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from ktg_jax.families.ensemble import attention  # pylint: disable=wrong-import-position
from ktg_jax import models

COLORS = ("#e63946", "#f4a261", "#2a9d8f", "#457b9d")


def node_maps(spec, variables: dict, images, num_classes: int) -> dict:
  """``{"node i (model)": float[B, h, w]}`` of the nodes in ``variables``
  (node index -> its variables) whose model has an attention output, in
  inference mode."""
  out = {}
  for i, v in sorted(variables.items()):
    model = spec.nodes[i].model
    if "attention" not in models.outputs(model):
      continue
    o = models.create(model, num_classes).apply(v, images, train=False)
    out[f"node {i} ({model})"] = np.asarray(o["attention"])
  return out


def peak_agreement(a, b) -> float:
  """The fraction of images on which two maps (float[B, h, w]) peak in the
  same cell: where the crop losses of an attention edge centre their windows
  (thesis §4.3.2, the source map's argmax; docs/papers.md §2).

  >>> import numpy as np
  >>> a = np.zeros((2, 2, 3)); a[0, 0, 1] = a[1, 1, 2] = 1.0
  >>> b = np.zeros((2, 2, 3)); b[0, 0, 1] = b[1, 0, 0] = 1.0
  >>> peak_agreement(a, b)
  0.5
  """
  a, b = np.asarray(a), np.asarray(b)
  flat = lambda m: np.argmax(m.reshape(m.shape[0], -1), axis=-1)
  return float(np.mean(flat(a) == flat(b)))


def save_attention_grid(path: str, images, maps: dict, sizes: dict) -> str:
  """Draws ``maps`` (name -> float[B, h, w]) over ``images`` (float[B, H, W,
  C] in [0, 1]) with the crop windows of ``sizes[name]`` (sizes larger than
  the map are skipped); returns ``path``."""
  images = np.asarray(images)
  b, h, w = images.shape[:3]
  names = list(maps)
  every = sorted({k for s in sizes.values() for k in s})
  fig, axes = figures.subplots(len(names), b, figsize=(1.8 * b, 1.9 * len(names)),
                           squeeze=False)
  for r, name in enumerate(names):
    m = np.asarray(maps[name], np.float32)
    mh, mw = m.shape[1:]
    for c in range(b):
      ax = axes[r, c]
      ax.imshow(images[c].mean(-1), cmap="gray", extent=(0, w, h, 0))
      ax.imshow(m[c], cmap="jet", alpha=0.45, extent=(0, w, h, 0),
                interpolation="bilinear")
      for k in (s for s in sizes.get(name, ()) if s <= min(mh, mw)):
        row, col = attention.crop_starts(jnp.asarray(m[c:c + 1]), k)
        sy, sx = h / mh, w / mw
        ax.add_patch(Rectangle((int(col[0]) * sx, int(row[0]) * sy), k * sx,
                               k * sy, fill=False, lw=1.2,
                               color=COLORS[every.index(k) % len(COLORS)]))
      ax.set_xticks([])
      ax.set_yticks([])
      if c == 0:
        ax.set_ylabel(name, fontsize=7)
  fig.suptitle("attention maps and crop windows (" + ", ".join(
      f"{k}x{k}: {COLORS[j % len(COLORS)]}" for j, k in enumerate(every))
               + ")", fontsize=7)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  return path
