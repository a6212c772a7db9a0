"""The failure modes of the ch.5 pilot (issue 25), against numpy references:
a Pseudo-Label / FixMatch term that is zero or unmasked when it should not
be, and an EMA model scored with BatchNorm statistics that are not those of
its own weights; and the regime's config builds the baselines it documents
(docs/semi_regime.md).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ktg_jax as ktg
from ktg_jax import classic
from ktg_jax.cli import common
from ktg_jax.core import gates

C, HW, BL, BU = 5, 8, 8, 16
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def batch(seed):
  rng = np.random.default_rng(seed)
  return {"image": rng.normal(size=(BL, HW, HW, 1)).astype(np.float32),
          "label": rng.integers(0, C, BL).astype(np.int32),
          "unlabeled_image": rng.normal(size=(BU, HW, HW, 1)).astype(
              np.float32)}


def sharpen(state, scale):
  """Scales the classifier so that some (not all) softmax maxima pass 0.95."""
  p = state.params["node0"]
  fc = {"kernel": p["fc"]["kernel"] * scale, "bias": p["fc"]["bias"]}
  return state._replace(params={"node0": {**p, "fc": fc}})


def np_log_softmax(z):
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.mark.parametrize("gate, step, ramp_weight", [
    (gates.Threshold(0.95), 0, 1.0),
    # USB's warm-up: t = 2 / 10 of a 0.4 ramp -> weight 0.5 (gates.Ramp)
    (gates.ThresholdRamp(0.95, 0.4), 2, 0.5),
    (gates.ThresholdRamp(0.95, 0.4), 7, 1.0)])
def test_thresholded_pseudo_label_is_masked_ce_over_all_unlabelled(
    gate, step, ramp_weight):
  """PL with Threshold(0.95) (USB's p_cutoff): the loss is the CE to the
  argmax on the unlabelled samples whose max probability exceeds 0.95,
  summed and divided by ALL unlabelled samples; below it, zero; times the
  warm-up of ThresholdRamp. Reference: numpy on the logits of the same
  train-mode forward."""
  tau, w = 0.95, 2.0
  spec = classic.pseudo_label("small_cnn", w, gate)
  table = spec.edge_table()
  table.label_kind[:] = gates.CUTOFF  # the PL edge alone
  program = ktg.compile(spec, num_classes=C, total_steps=10,
                        optimizer=optax.sgd(0.0))
  b = batch(0)
  for scale, want_some in ((1.0, False), (30.0, True)):
    state = sharpen(program.init(jax.random.key(0), b["image"], edges=table),
                    scale)
    state = state._replace(step=jnp.asarray(step, state.step.dtype))
    _, m = program.step(state, b)
    x = np.concatenate([b["image"], b["unlabeled_image"]])
    variables = {"params": state.params["node0"],
                 **state.model_state["node0"]}
    (out, _) = program.modules[0].apply(variables, x, train=True,
                                        mutable=["batch_stats"])
    zu = np.asarray(out["logits"], np.float64)[BL:]
    logp = np_log_softmax(zu)
    mask = np.exp(logp).max(-1) > tau
    want = ramp_weight * w * np.sum(
        mask * -logp[np.arange(BU), logp.argmax(-1)]) / BU
    np.testing.assert_allclose(float(m["node_loss"][0]), want, rtol=1e-4,
                               atol=1e-6)
    if want_some:  # the threshold selected some, not all
      assert 0 < mask.sum() < BU and want > 0
    else:  # an untrained net is never 0.95-confident: the term is zero
      assert mask.sum() == 0 and float(m["node_loss"][0]) == 0.0


def test_ema_model_is_scored_with_the_statistics_of_its_own_weights():
  """FixMatch + EMA scorer (``bn="own"``): ``evaluate`` of the EMA node is
  its averaged weights with the running statistics that its OWN train-mode
  forwards accumulated (flax momentum 0.9, numpy recursion), not the
  student's statistics."""
  spec = classic.with_ema_target(classic.fixmatch("small_cnn"), 0.5, bn="own")
  identity = lambda rng, x: x
  program = ktg.compile(spec, num_classes=C, total_steps=10,
                        optimizer=optax.sgd(0.1, momentum=0.9),
                        views={"weak": identity, "strong": identity})
  state = program.init(jax.random.key(0), batch(0)["image"])
  stats = jax.tree.map(np.asarray, state.ema["node1"]["batch_stats"])
  for k in range(3):
    b = batch(k)
    # the EMA model's forward: its previous weights on the labelled images
    params = state.ema["node1"]["params"]
    x = jnp.asarray(b["image"])
    h = x
    for i in range(2):  # small_cnn: conv -> BN (batch stats) -> relu -> pool
      h = jax.lax.conv_general_dilated(
          h, params[f"conv{i}"]["kernel"], (1, 1), "SAME",
          dimension_numbers=("NHWC", "HWIO", "NHWC"))
      mean = np.asarray(h).mean((0, 1, 2))
      var = np.asarray(h).var((0, 1, 2))
      bn = stats[f"bn{i}"]
      bn["mean"] = 0.9 * bn["mean"] + 0.1 * mean
      bn["var"] = 0.9 * bn["var"] + 0.1 * var
      scale, bias = params[f"bn{i}"]["scale"], params[f"bn{i}"]["bias"]
      h = (h - mean) / np.sqrt(var + 1e-5) * scale + bias
      h = jax.nn.relu(h)
      h = jax.lax.reduce_window(h, 0.0, jax.lax.add, (1, 2, 2, 1),
                                (1, 2, 2, 1), "VALID") / 4.0
    state, _ = program.step(state, b)
  got = jax.tree.map(np.asarray, state.ema["node1"]["batch_stats"])
  for i in range(2):
    for key in ("mean", "var"):
      np.testing.assert_allclose(got[f"bn{i}"][key], stats[f"bn{i}"][key],
                                 rtol=1e-4, atol=1e-5)
  student = jax.tree.map(np.asarray, state.model_state["node0"]["batch_stats"])
  assert not np.allclose(student["bn0"]["mean"], got["bn0"]["mean"])
  x = batch(9)["image"]
  logits = program.evaluate(state, x)[1]
  want = program.modules[1].apply(state.ema["node1"], x, train=False)["logits"]
  np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)


def _regime_config(name="semi_regime"):
  path = os.path.join(ROOT, "experiments", "configs", f"{name}.py")
  return common.load_module(path, register=False).get_config()


def test_regime_config_has_the_reference_defaults_it_documents():
  c = _regime_config()
  assert (c.unlabeled_ratio, c.tau, c.pseudo_label_weight, c.ema_decay) == (
      7, 0.95, 1.0, 0.999)
  assert (c.pi_weight, c.consistency_weight, c.pseudo_label_tau) == (
      10.0, 50.0, 0.95)
  assert c.unsup_warmup == 0.4  # USB's unsup_warm_up: Ramp / ThresholdRamp
  assert c.ema_bn == "student"  # USB's EMA: the student's BN buffers
  assert c.epochs * c.eval_every == 20000
  assert c.eval_split == "val"


def test_diverse_regime_is_the_validated_one_with_dual_students_changes():
  """semi_diverse_regime.py departs from semi_regime.py only where its
  docstring says: unlabelled ratio 3 for every method, flip + crop views."""
  base, div = _regime_config(), _regime_config("semi_diverse_regime")
  changed = {k for k in set(base) | set(div)
             if base.get(k) != div.get(k)}
  assert changed == {"unlabeled_ratio", "unlabeled_ratio_by_method", "views",
                     "search_space", "search_trials"}, changed
  assert div.unlabeled_ratio == 3 and not div.unlabeled_ratio_by_method
  assert set(div.views.values()) == {"weak"}
  assert (div.search_space, div.search_trials) == ("ch5_diverse", 50)
