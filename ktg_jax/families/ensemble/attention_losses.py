"""The ch.4 attention edge losses as registered loss kinds (docs/papers.md §2, thesis §4.3).

Importing ``ktg_jax`` registers them in ``ktg_jax.core.losses`` (after the
probability losses, in the fixed order below: ids are stable). The six
edge-loss designs of thesis Fig. 4.5 map to loss kinds:

==============  =====================  ===========================
design          ResNet source (3,5,7)  ABN source (3,7,11)
==============  =====================  ===========================
Prob(+)  4.6    ``kl``                 ``kl``
Prob(-)  4.7    ``prob_cosine``        ``prob_cosine``
Att(+)   4.8    ``att_mse``            ``att_mse_abn``
Att(-)   4.9    ``att_cos``            ``att_cos_abn``
Prob(+)Att(+)   ``prob_kl_att_mse``    ``prob_kl_att_mse_abn``
Prob(-)Att(-)   ``prob_cos_att_cos``   ``prob_cos_att_cos_abn``
==============  =====================  ===========================

Crop sizes are static (``dynamic_slice`` needs them at trace time), so each
attention design is two kinds, one per model family of the *source* node
(thesis §4.4.1: sizes {3,5,7} on a ResNet's AT map, {3,7,11} on an ABN's map);
``kind_name(design, source_model)`` picks the kind. Ensemble compression
(thesis §4.3.3) adds ``kd_att_mse[_abn]``: Hinton KD at temperature
``loss_param`` plus the attention MSE (``kd`` alone is the probability-only
transfer). Attention MSE is the mean over crop pixels (docs/papers.md §2 leaves it open;
``attention.att_mse``).

Example:
  >>> kind_name("prob+att+", "abn_resnet8")
  'prob_kl_att_mse_abn'
  >>> from ktg_jax.core import losses
  >>> losses.BY_NAME["att_mse"].reads
  ('logits', 'attention')
"""

from __future__ import annotations

import re

from ktg_jax.families.ensemble import attention
from ktg_jax.core import losses

FAMILIES = {"resnet": "", "abn": "_abn"}   # crop-size family -> name suffix
# Design name -> the loss-kind stem (probability-only designs need no sizes).
DESIGN_KINDS = {"prob+": "kl", "prob-": "prob_cosine", "att+": "att_mse",
                "att-": "att_cos", "prob+att+": "prob_kl_att_mse",
                "prob-att-": "prob_cos_att_cos"}
_PROB_ONLY = ("kl", "prob_cosine")


def family(model: str) -> str:
  """Crop-size family of a model name: "abn" for ``abn_*``, else "resnet"."""
  return "abn" if str(model).startswith("abn_") else "resnet"


def kind_name(design: str, source_model: str, sizes=None) -> str:
  """The registered loss kind of a ch.4 design on an edge out of ``source_model``.

  ``sizes``: crop sizes instead of the source family's (thesis §4.4.1), for
  maps too small for them (``sized_kind``); probability-only designs ignore it.

  >>> kind_name("att-", "resnet8", (2, 3, 4)), kind_name("prob-", "resnet8", (2,))
  ('att_cos_crops2-3-4', 'prob_cosine')
  """
  if design not in DESIGN_KINDS:
    raise ValueError(f"design={design!r}; allowed: {list(DESIGN_KINDS)}")
  stem = DESIGN_KINDS[design]
  if stem in _PROB_ONLY:
    return stem
  if sizes:
    return sized_kind(stem, sizes)
  return stem + FAMILIES[family(source_model)]


_SIZED = re.compile(r"^(?P<stem>[a-z_]+)_crops(?P<sizes>\d+(?:-\d+)*)$")


def ensure_kind(name: str) -> str:
  """Registers a ``sized_kind`` named ``<stem>_crops<k1>-<k2>...`` (a graph
  JSON written by another process: those kinds exist only once used); other
  names are returned unchanged. Returns ``name``.

  >>> ensure_kind("att_mse_crops2-3"), ensure_kind("kl")
  ('att_mse_crops2-3', 'kl')
  """
  m = _SIZED.match(str(name))
  if m and name not in losses.BY_NAME:
    sized_kind(m["stem"], [int(k) for k in m["sizes"].split("-")])
  return name


def ensure_kinds(graph: dict) -> dict:
  """``ensure_kind`` of every edge loss of a GraphSpec JSON object (before
  ``GraphSpec.from_json``); returns ``graph``."""
  for e in graph.get("edges", ()) if isinstance(graph, dict) else ():
    if isinstance(e, dict) and e.get("loss"):
      ensure_kind(e["loss"])
  return graph


def sized_kind(stem: str, sizes) -> str:
  """The loss kind ``stem`` with crop ``sizes`` instead of a family's, registered
  on first use; returns its name, ``<stem>_crops<k1>-<k2>-...``.

  For maps too small for thesis §4.4.1's sizes: a ResNet's last-stage map on
  the 14 x 28 pairs stand-in is 4 x 7, where crops of 5 and 7 do not fit
  (``attention.att_mse`` raises). Same loss as the family kinds otherwise.

  Example:
    >>> sized_kind("kd_att_mse", (2, 3, 4))
    'kd_att_mse_crops2-3-4'
    >>> from ktg_jax.core import losses
    >>> losses.BY_NAME["kd_att_mse_crops2-3-4"].param_name
    'temperature'
  """
  stems = ("att_mse", "att_cos", "prob_kl_att_mse", "prob_cos_att_cos",
           "kd_att_mse")
  if stem not in stems:
    raise ValueError(f"stem={stem!r}; allowed: {list(stems)}")
  sizes = tuple(int(k) for k in sizes)
  if not sizes or min(sizes) < 1:
    raise ValueError(f"sizes={sizes!r}; allowed: a non-empty tuple of ints >= 1")
  name = f"{stem}_crops{'-'.join(map(str, sizes))}"
  if name not in losses.BY_NAME:
    param = ("temperature", 2.0) if stem == "kd_att_mse" else (None, 0.0)
    losses.register(name, _make(stem, sizes), reads=("logits", "attention"),
                    param_name=param[0], default_param=param[1])
  return name


def _make(stem: str, sizes):
  """``fn(source_outputs, target_outputs, param) -> float[B]`` of one kind."""
  sizes = tuple(sizes)

  def att(src, tgt, cos):
    fn = attention.att_cosine if cos else attention.att_mse
    return fn(src["attention"], tgt["attention"], sizes=sizes)

  zs = lambda o: o["logits"]
  table = {
      "att_mse": lambda s, t, p: att(s, t, False),
      "att_cos": lambda s, t, p: att(s, t, True),
      "prob_kl_att_mse": lambda s, t, p: (
          losses.kl(zs(s), zs(t), p) + att(s, t, False)),
      "prob_cos_att_cos": lambda s, t, p: (
          losses.prob_cosine(zs(s), zs(t), p) + att(s, t, True)),
      "kd_att_mse": lambda s, t, p: (
          losses.kd(zs(s), zs(t), p) + att(s, t, False)),
  }
  fn = table[stem]
  fn.__name__ = stem
  return fn


def _register_all() -> None:
  for stem in ("att_mse", "att_cos", "prob_kl_att_mse", "prob_cos_att_cos",
               "kd_att_mse"):
    for fam, suffix in FAMILIES.items():
      name = stem + suffix
      if name in losses.BY_NAME:   # re-import (importlib.reload in tests)
        continue
      # Every kind reads logits too: the step's gates read the source's.
      reads = ("logits", "attention")
      param = ("temperature", 2.0) if stem == "kd_att_mse" else (None, 0.0)
      losses.register(name, _make(stem, attention.CROP_SIZES[fam]),
                      reads=reads, param_name=param[0],
                      default_param=param[1])


_register_all()
