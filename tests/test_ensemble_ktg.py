"""Ensemble KTG (thesis ch.4): the registered attention loss kinds and the
ensemble report of ``fit``, against independent numpy references. (ABN's label
loss: test_abn.py; PCGrad in the step: test_pcgrad_step.py; the ch4 space:
test_spaces.py.)"""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import ktg_jax as ktg
from ktg_jax import classic, data
from ktg_jax.run import training
from ktg_jax.families.ensemble import attention_losses as losses_attention
from ktg_jax.core import losses

RNG = np.random.default_rng(0)


# --- numpy references ------------------------------------------------------------

def np_softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def np_kl(zs, zt, temp=1.0):
  ps, pt = np_softmax(zs / temp), np_softmax(zt / temp)
  return np.sum(ps * (np.log(ps) - np.log(pt)), -1)


def np_prob_cos(zs, zt):
  ps, pt = np_softmax(zs), np_softmax(zt)
  return np.sum(ps * pt, -1) / (np.linalg.norm(ps, axis=-1)
                                * np.linalg.norm(pt, axis=-1))


def np_crop(s, t, sizes, cos):
  """Per sample: crops at the source argmax, clamped inside, L2-normalised."""
  out = []
  for b in range(s.shape[0]):
    h, w = s[b].shape
    r, c = np.unravel_index(np.argmax(s[b]), (h, w))
    total = 0.0
    for k in sizes:
      r0 = min(max(r - k // 2, 0), h - k)
      c0 = min(max(c - k // 2, 0), w - k)
      qs = s[b, r0:r0 + k, c0:c0 + k].ravel().astype(np.float64)
      qt = t[b, r0:r0 + k, c0:c0 + k].ravel().astype(np.float64)
      qs, qt = qs / np.linalg.norm(qs), qt / np.linalg.norm(qt)
      total += qs @ qt if cos else np.mean((qs - qt) ** 2)
    out.append(total / len(sizes))
  return np.array(out)


NP_KINDS = {
    "att_mse": lambda zs, zt, s, t, sz, p: np_crop(s, t, sz, False),
    "att_cos": lambda zs, zt, s, t, sz, p: np_crop(s, t, sz, True),
    "prob_kl_att_mse": lambda zs, zt, s, t, sz, p: (
        np_kl(zs, zt) + np_crop(s, t, sz, False)),
    "prob_cos_att_cos": lambda zs, zt, s, t, sz, p: (
        np_prob_cos(zs, zt) + np_crop(s, t, sz, True)),
    "kd_att_mse": lambda zs, zt, s, t, sz, p: (
        p ** 2 * np_kl(zs, zt, p) + np_crop(s, t, sz, False)),
}




# --- the registered attention kinds ------------------------------------------------

@pytest.mark.parametrize("family,hw", [("resnet", 8), ("abn", 12)])
@pytest.mark.parametrize("stem", sorted(NP_KINDS))
def test_attention_kinds_against_numpy(stem, family, hw):
  name = stem + losses_attention.FAMILIES[family]
  kind = losses.BY_NAME[name]
  assert kind.reads == ("logits", "attention")
  b, c = 5, 7
  zs, zt = RNG.normal(size=(b, c)), RNG.normal(size=(b, c))
  s = RNG.uniform(0.01, 1, size=(b, hw, hw))
  t = RNG.uniform(0.01, 1, size=(b, hw, hw))
  s[0, 0, hw - 1] = s[1, hw - 1, 0] = s[2, hw // 2, hw // 2] = 9.0  # borders
  param = 3.0 if stem == "kd_att_mse" else kind.default_param
  got = kind.fn({"logits": jnp.float32(zs), "attention": jnp.float32(s)},
                {"logits": jnp.float32(zt), "attention": jnp.float32(t)},
                jnp.float32(param))
  chex.assert_shape(got, (b,))
  want = NP_KINDS[stem](zs, zt, s, t, ktg.families.ensemble.attention.CROP_SIZES[family], param)
  np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_kind_ids_are_stable_and_designs_map_by_source_family():
  order = [s + f for s in ("att_mse", "att_cos", "prob_kl_att_mse",
                           "prob_cos_att_cos", "kd_att_mse")
           for f in ("", "_abn")]
  ids = [losses.BY_NAME[n].id for n in order]
  assert ids == list(range(ids[0], ids[0] + len(order)))   # appended in order
  assert ids[0] > losses.BY_NAME["pseudo_label"].id
  assert losses_attention.kind_name("prob+", "abn_resnet8") == "kl"
  assert losses_attention.kind_name("prob-", "resnet8") == "prob_cosine"
  assert losses_attention.kind_name("att-", "resnet8") == "att_cos"
  assert losses_attention.kind_name("att-", "abn_resnet8_nobypass") == \
      "att_cos_abn"
  with pytest.raises(ValueError, match="design='att'"):
    losses_attention.kind_name("att", "resnet8")


def test_attention_kind_gradient():
  kind = losses.BY_NAME["prob_kl_att_mse"]
  s = jnp.float32(RNG.uniform(0.1, 1, size=(2, 7, 7)))
  zs = jnp.float32(RNG.normal(size=(2, 4)))

  def f(zt, t):
    return jnp.sum(kind.fn({"logits": zs, "attention": s},
                           {"logits": zt, "attention": t}, 0.0))
  check_grads(f, (jnp.float32(RNG.normal(size=(2, 4))),
                  jnp.float32(RNG.uniform(0.1, 1, size=(2, 7, 7)))),
              order=1, modes=("rev",), atol=1e-2, rtol=1e-2)


# --- fit reports every trained ensemble -------------------------------------------

def test_fit_reports_ensemble_accuracy_diversity_and_gain(tmp_path):
  d = data.load("digits", limit=300)
  cfg = training.default_config()
  cfg.epochs, cfg.batch_size, cfg.verbose, cfg.pictures = 1, 32, False, False
  spec = classic.ensemble(2, "small_cnn")
  r = training.fit(spec, d, cfg, workdir=str(tmp_path))
  rep = r.history[-1]["ensemble"]
  assert rep == json.load(open(os.path.join(tmp_path, "ensemble.json")))
  module = ktg.models.create("small_cnn", d.num_classes)
  z = np.stack([np.asarray(module.apply(ktg.node_variables(r.state, i),
                                        d.val.images, train=False)["logits"],
                           np.float64) for i in (0, 1)])
  y = d.val.labels
  acc = (np.argmax(z, -1) == y).mean(-1)
  ens = (np.argmax(z.mean(0), -1) == y).mean()
  assert rep["ensemble_accuracy"] == pytest.approx(ens)
  assert rep["ensemble_accuracy"] == pytest.approx(r.final_target_accuracy)
  np.testing.assert_allclose(rep["member_accuracy"], acc)
  assert rep["gain"] == pytest.approx(ens - acc.mean())
  div = np.mean(0.5 * (np_kl(z[0], z[1]) + np_kl(z[1], z[0])))   # eq 4.2
  assert rep["mean_diversity"] == pytest.approx(div, rel=1e-3, abs=1e-6)
  assert rep["diversity_matrix"][0][1] == pytest.approx(div, rel=1e-3,
                                                        abs=1e-6)
