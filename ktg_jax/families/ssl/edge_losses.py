"""DoGo and DisCo as registered edge-loss kinds between ``ssl`` nodes (000).

Importing ``ktg_jax`` registers them in ``ktg_jax.core.losses`` (after the ch.4
attention kinds; ids are appended, never reordered). Both read the nodes'
``projection`` (the embedding the learners' objectives use; equal widths at
every ``ssl`` node) and follow the edge contract of the core: source under
``stop_gradient`` (the caller's), one value per sample, then gated and
reduced over the batch (docs/papers.md §2). Formulas, reductions and scales:
``ktg_jax/families/ssl/edges.py``.

* ``dogo`` (temperature ``T``, default 0.1 as DoGo's config):
  ``KL(P^s_i || P^t_i)`` with ``P_i = softmax_j(cos(z^a_i, z^b_j) / T)``, the
  row of sample i of the view-a x view-b similarity matrix of each node. An
  ``ssl`` node's view-a outputs carry its view-b projection
  (``projection_b``, ``ktg_jax/families/ssl/learner.py``), so the edge reads both
  views from its one slot; without it the matrix is view a's own.
* ``dogo_t2``: the same KL times ``T^2`` (0.01 at T = 0.1), the scale of the
  KTG PyTorch code's later ``DoGoLoss`` (batch-mean KL x T^2): for comparing
  with runs of that code; ``dogo`` stays this project's default.
* ``disco`` (no parameter): ``||unit(z^t_i) - unit(z^s_i)||^2``, summed over
  the embedding (in [0, 4]).
* ``disco_mean``: the same distance averaged over the D embedding dimensions
  (``disco / D``), the scale of DisCo's code (``nn.MSELoss()``, a mean over
  B x D).

Example:
  >>> import jax
  >>> from ktg_jax.core import losses
  >>> z = {"projection": jax.random.normal(jax.random.key(0), (3, 4))}
  >>> [round(float(v), 6) for v in losses.BY_NAME["disco"].fn(z, z, 0.0)]
  [0.0, 0.0, 0.0]
"""

from __future__ import annotations

from ktg_jax.core import losses
from ktg_jax.families.ssl import edges
from ktg_jax.families.ssl.learner import PAIRED
from ktg_jax.families.ssl.objectives import PROJECTION


def _as_features(out: dict) -> dict:
  feats = {edges.FEATURES: out[PROJECTION]}
  if PAIRED in out:
    feats[edges.FEATURES_B] = out[PAIRED]
  return feats


def dogo(source: dict, target: dict, temperature):
  """DoGo edge: per-sample row KL of the similarity distributions."""
  return edges.dogo(_as_features(source), _as_features(target), temperature)


def disco_mean(source: dict, target: dict, param):
  """DisCo edge averaged over the embedding (DisCo's code's scale)."""
  return disco(source, target, param) / source[PROJECTION].shape[-1]


def dogo_t2(source: dict, target: dict, temperature):
  """DoGo edge scaled by ``T^2`` (the KTG PyTorch code's DoGoLoss scale)."""
  return temperature ** 2 * dogo(source, target, temperature)


def disco(source: dict, target: dict, param):
  """DisCo edge: per-sample squared distance of the unit projections."""
  del param
  return edges.disco_mse(source[PROJECTION], target[PROJECTION])


DOGO = losses.register("dogo", dogo, reads=(PROJECTION,),
                       param_name="temperature",
                       default_param=edges.DOGO_TEMPERATURE)
DISCO = losses.register("disco", disco, reads=(PROJECTION,))
DOGO_T2 = losses.register("dogo_t2", dogo_t2, reads=(PROJECTION,),
                          param_name="temperature",
                          default_param=edges.DOGO_TEMPERATURE)

DISCO_MEAN = losses.register("disco_mean", disco_mean, reads=(PROJECTION,))

__all__ = ["DISCO", "DISCO_MEAN", "DOGO", "DOGO_T2", "disco", "disco_mean",
           "dogo", "dogo_t2"]
