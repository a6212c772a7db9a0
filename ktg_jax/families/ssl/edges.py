"""Per-sample transfer losses between self-supervised nodes (paper 000, docs/papers.md §2).

``ktg_jax.families.ssl.edge_losses`` registers both as edge-loss kinds of the core's
contract ``fn(source_outputs, target_outputs, param) -> float[..., B]``: the
source is already ``stop_gradient``-ed by the caller, and gating and the batch
reduction happen afterwards (docs/papers.md §2: per sample, then gated, then reduced).

* **DoGo** (Bhat et al. 2021, "Distill on the Go", refs [2] of 000): each node's
  cosine-similarity matrix between its embeddings of view a (rows) and view b
  (columns) of the batch, ``S_ij = cos(z^a_i, z^b_j) / T``, row-softmaxed; the
  per-sample value is the KL of sample i's row, ``KL(P^s_i || P^t_i)``. With
  one view only (no ``FEATURES_B`` in the outputs) the matrix is the in-batch
  self-similarity of view a.
* **DisCo** (Gao et al. 2022, ref [3]): the squared distance between the same
  sample's L2-normalised final embeddings, ``||z^t_i/|z^t_i| - z^s_i/|z^s_i|||^2
  = 2 - 2 cos`` (target learns from the detached source).

Scale (chosen so that the gate search compares terms of like size, all O(1)
per sample like the nodes' own SSL losses):

* DoGo: the row KL itself, unscaled. The official code (github NeurAI-Lab/DoGo,
  branch ``dogo``, ``criterion/kl.py``) uses ``F.kl_div`` with its default
  'mean' reduction over all B x B entries, i.e. ``(1/B) mean_i KL_i``, and then
  weights it by 100 (``criterion_weight[2]`` of ``template.yaml``): ``(100/B)
  mean_i KL_i``, 0.39 x ours at their B = 256 and varying with B, which a
  per-sample loss must not. A KD-style ``T^2`` factor (the KTG authors' later
  PyTorch ``DoGoLoss``) shrinks the term 100-fold at DoGo's ``T = 0.1``; it is
  the registered kind ``dogo_t2`` — on the issue-26 regime's validation split
  (docs/ssl000_rows.md) DML of two SimCLR nodes scored 80.30 with it, 77.85 with
  this scale, SimCLR alone 78.75 (seed 0).
* DisCo: summed over the embedding dimension (so in [0, 4], independent of D).
  DisCo's code (github Yuting-Gao/DisCo-pytorch, ``main_moco_distill.py``)
  takes ``nn.MSELoss()`` (a mean over B x D, i.e. ours / D: the registered
  kind ``disco_mean``) of the student's
  normalised embedding and the teacher's (whose normalisation is lost to a
  ``teacehr_q`` typo in ``moco/my_builder.py``); we normalise both, as intended.

Example:
  >>> import jax
  >>> z = {FEATURES: jax.random.normal(jax.random.key(0), (4, 3))}
  >>> [round(float(v), 6) for v in dogo(z, z, 0.1)]   # same node: no transfer
  [0.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

FEATURES = "features"      # view a, [..., B, D] (core convention)
FEATURES_B = "features_b"  # view b of the same batch, optional

DOGO_TEMPERATURE = 0.1  # ``KL_temperature`` of DoGo's template.yaml


def _unit(x):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _check_same_width(name, source, target):
  if source.shape[-1] != target.shape[-1]:
    raise ValueError(
        f"{name}: source features width {source.shape[-1]} != target width "
        f"{target.shape[-1]}; allowed: equal embedding sizes (add a projector)")


def similarity_log_probs(z_a, z_b, temperature):
  """``log softmax_j(cos(z^a_i, z^b_j) / T)``: float[..., B, D] x2 -> [..., B, B]."""
  s = jnp.einsum("...id,...jd->...ij", _unit(z_a), _unit(z_b))
  return jax.nn.log_softmax(s / jnp.asarray(temperature)[..., None, None], -1)


def dogo_kl(source_a, source_b, target_a, target_b, temperature=DOGO_TEMPERATURE):
  """Per-row ``KL(P^s_i || P^t_i)`` of the similarity distributions -> [..., B]."""
  _check_same_width("dogo", source_a, target_a)  # only for a clear error
  logp_s = similarity_log_probs(source_a, source_b, temperature)
  logp_t = similarity_log_probs(target_a, target_b, temperature)
  return jnp.sum(jnp.exp(logp_s) * (logp_s - logp_t), axis=-1)


def dogo(source_outputs: dict, target_outputs: dict, temperature):
  """DoGo edge loss per sample (see the module doc for the formula and scale)."""
  def views(out):
    return out[FEATURES], out.get(FEATURES_B, out[FEATURES])
  return dogo_kl(*views(source_outputs), *views(target_outputs), temperature)


def disco_mse(source, target):
  """``||unit(target) - unit(source)||^2`` per sample = ``2 - 2 cos`` -> [..., B]."""
  _check_same_width("disco", source, target)
  return jnp.sum((_unit(target) - _unit(source)) ** 2, axis=-1)


__all__ = ["DOGO_TEMPERATURE", "FEATURES", "FEATURES_B", "disco_mse", "dogo",
           "dogo_kl", "similarity_log_probs"]
