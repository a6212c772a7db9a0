"""Ensemble KTG (thesis ch.4): attention loss kinds, ABN's label loss, PCGrad
in the step, the ch4 space, the ensemble report of ``fit`` — each against an
independent numpy / hand-written reference."""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

import ktg_jax as ktg
from ktg_jax import checkpoint, classic, data, losses, losses_attention, training
from ktg_jax.search import spaces

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


def np_pcgrad(flat):
  """PCGrad (Yu et al. 2020, Alg. 1), j ascending, on the original g_j."""
  out = flat.copy()
  for i in range(len(flat)):
    for j in range(len(flat)):
      d = out[i] @ flat[j]
      if i != j and d < 0:
        out[i] = out[i] - d / (flat[j] @ flat[j]) * flat[j]
  return out.sum(0)


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
  want = NP_KINDS[stem](zs, zt, s, t, ktg.attention.CROP_SIZES[family], param)
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


# --- ABN: the label edge trains both heads (ABN eq 1) ---------------------------

def test_abn_label_edge_is_attention_plus_perception_ce():
  spec = classic.vanilla("abn_resnet8")
  opt = optax.sgd(0.1)
  program = ktg.compile(spec, num_classes=5, total_steps=4, optimizer=opt)
  x = jnp.float32(RNG.uniform(size=(6, 12, 12, 1)))
  y = jnp.asarray(RNG.integers(0, 5, size=6))
  state = program.init(jax.random.key(0), x)
  new_state, m = program.step(state, {"image": x, "label": y})
  module = program.modules[0]

  def loss(params):
    out, _ = module.apply({"params": params, **state.model_state["node0"]}, x,
                          train=True, mutable=["batch_stats"])
    ce = lambda z: -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(6), y])
    return ce(out["logits"]) + ce(out["attention_logits"]), out

  (want, out), g = jax.value_and_grad(loss, has_aux=True)(
      state.params["node0"])
  zl, za = np.asarray(out["logits"], np.float64), np.asarray(
      out["attention_logits"], np.float64)
  np_ce = lambda z: -np.mean(np.log(np_softmax(z))[np.arange(6), np.asarray(y)])
  np.testing.assert_allclose(m["label_loss"][0], np_ce(zl) + np_ce(za),
                             rtol=1e-5)
  chex.assert_trees_all_close(
      new_state.params["node0"],
      jax.tree.map(lambda p, d: p - 0.1 * d, state.params["node0"], g),
      atol=1e-5, rtol=1e-5)


# --- PCGrad inside the step (compile(..., aggregate="pcgrad")) -------------------

C = 4
SMALL = ktg.models.create("small_cnn", C)
X = jnp.float32(RNG.uniform(size=(8, 16, 16, 1)))
Y = jnp.asarray(RNG.integers(0, C, size=8))


def teachers(module=SMALL, x=X):
  t1 = module.init(jax.random.key(11), x, train=False)
  # Teacher 2 the opposite of teacher 1 (negated head): its KD gradient
  # points against teacher 1's, so the two edges conflict.
  # Sharp (x30) teachers, teacher 2 with the negated head of teacher 1.
  t1 = jax.tree.map(lambda x: x, t1)
  t1["params"]["fc"] = jax.tree.map(lambda w: 30.0 * w, t1["params"]["fc"])
  t2 = jax.tree.map(lambda x: x, t1)
  t2["params"]["fc"] = jax.tree.map(lambda w: -w, t1["params"]["fc"])
  return t1, t2


def compression_program(spec, aggregate):
  return ktg.compile(spec, num_classes=C, total_steps=10,
                     optimizer=optax.sgd(0.1), aggregate=aggregate)


def test_pcgrad_step_equals_hand_written_projection():
  t1, t2 = teachers()
  spec = classic.compression("small_cnn", ["small_cnn"] * 2, ["/a", "/b"],
                             temperature=2.0)
  program = compression_program(spec, "pcgrad")
  state = program.init(jax.random.key(0), X, frozen_variables={1: t1, 2: t2})
  new_state, m = program.step(state, {"image": X, "label": Y})

  stats = state.model_state["node0"]
  zt = [SMALL.apply(t, X, train=False)["logits"] for t in (t1, t2)]

  def student(p):
    return SMALL.apply({"params": p, **stats}, X, train=True,
                       mutable=["batch_stats"])[0]["logits"]

  def kd(p, z):
    ls, lt = jax.nn.log_softmax(student(p) / 2), jax.nn.log_softmax(z / 2)
    return 4.0 * jnp.mean(jnp.sum(jnp.exp(lt) * (lt - ls), -1))

  def ce(p):
    return -jnp.mean(jax.nn.log_softmax(student(p))[jnp.arange(8), Y])

  p0 = state.params["node0"]
  flat = lambda g: np.asarray(jax.flatten_util.ravel_pytree(g)[0], np.float64)
  _, unravel = jax.flatten_util.ravel_pytree(p0)
  g1, g2 = flat(jax.grad(kd)(p0, zt[0])), flat(jax.grad(kd)(p0, zt[1]))
  assert g1 @ g2 < 0                  # the two teachers' edges conflict
  total = flat(jax.grad(ce)(p0)) + np_pcgrad(np.stack([g1, g2]))
  want = jax.tree.map(lambda p, d: p - 0.1 * d, p0, unravel(jnp.float32(total)))
  chex.assert_trees_all_close(new_state.params["node0"], want, atol=2e-6,
                              rtol=1e-4)
  conflicts = np.asarray(m["conflicts"])
  assert conflicts[1, 2] == conflicts[2, 1] == 1 and conflicts.sum() == 2
  # Projection changed the step: it differs from the plain sum.
  plain = compression_program(spec, None)
  plain_state, _ = plain.step(plain.init(jax.random.key(0), X,
                                         frozen_variables={1: t1, 2: t2}),
                              {"image": X, "label": Y})
  diff = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                      plain_state.params["node0"], new_state.params["node0"])
  assert max(jax.tree.leaves(diff)) > 1e-4


def test_pcgrad_without_conflicts_is_the_plain_sum():
  t1, _ = teachers()
  spec = classic.compression("small_cnn", ["small_cnn"], ["/a"])
  states = []
  for aggregate in (None, "pcgrad"):
    program = compression_program(spec, aggregate)
    state = program.init(jax.random.key(3), X, frozen_variables={1: t1})
    for _ in range(2):
      state, m = program.step(state, {"image": X, "label": Y})
    states.append(state)
  assert int(np.sum(m["conflicts"])) == 0
  chex.assert_trees_all_close(states[0].params, states[1].params, atol=1e-6,
                              rtol=1e-5)
  with pytest.raises(ValueError, match="aggregate='mean'"):
    compression_program(spec, "mean")


def test_compression_graphs():
  each = classic.compression("resnet8", ["abn_resnet8"] * 2, ["/a", "/b"],
                             attention=True, temperature=5.0)
  assert {e.loss for (s, _), e in each.edges.items() if s != "label"} == {
      "kd_att_mse_abn"}
  assert each.edges[(1, 0)].loss_param == 5.0
  ens = classic.compression("resnet8", ["resnet8"] * 3, ["/a", "/b", "/c"],
                            source="ensemble")
  assert ens.node_kinds() == ("trainable", "frozen", "frozen", "frozen",
                              "ensemble")
  assert set(ens.edges) == {("label", 0), (4, 0)}
  with pytest.raises(ValueError, match="source='mean'"):
    classic.compression("resnet8", ["resnet8"], ["/a"], source="mean")


# --- the ch4 space -------------------------------------------------------------

@pytest.mark.parametrize("m", [2, 3])
def test_ch4_space_size(m):
  space = spaces.get("ch4", num_nodes=m)
  g, d = len(spaces.CH4_GATES), len(spaces.CH4_DESIGNS)
  size = spaces.size(space)
  # eq 4.14: a gate per label edge, gate x design per member edge.
  assert (size.plain, size.continuous) == (g ** m * (g * d) ** (m * (m - 1)), 0)
  assert f"{size.plain:,}" in spaces.describe(space)


@pytest.mark.parametrize("model", ["resnet8", "abn_resnet8_nobypass"])
def test_ch4_points_are_ensemble_graphs_with_designs(model):
  space = spaces.get("ch4", target_model=model, aux_models=(model,))
  assert len(spaces.loss_kinds(space)) == 6
  for seed in range(20):
    point = spaces.sample(space, np.random.default_rng(seed))
    if not spaces.feasible(space, point):
      continue
    spec = spaces.to_spec(space, point)
    assert spec.target == 3 and spec.nodes[3].members == (0, 1, 2)
    assert all(t != 3 and s != 3 for s, t in spec.edges)  # the score only
    for (s, t), e in spec.edges.items():
      if s == "label":
        assert e.loss == "ce" and f"loss_label_{t}" not in point
      else:
        assert e.loss == losses_attention.kind_name(point[f"loss_{s}_{t}"],
                                                    model)
        assert e.loss in spaces.loss_kinds(space)


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


def test_fit_sums_conflicts_per_epoch(tmp_path):
  d = data.load("digits", limit=120)
  t1, t2 = teachers(ktg.models.create("small_cnn", d.num_classes),
                    d.train.images[:2])
  paths = [checkpoint.save_variables(str(tmp_path / f"t{i}"), t)
           for i, t in enumerate((t1, t2))]
  spec = classic.compression("small_cnn", ["small_cnn"] * 2, paths)
  cfg = training.default_config()
  cfg.epochs, cfg.batch_size, cfg.verbose = 1, 32, False
  cfg.aggregate, cfg.augment = "pcgrad", False
  r = training.fit(spec, d, cfg)
  steps = len(d.train.labels) // 32
  conflicts = np.asarray(r.history[0]["conflicts"])
  chex.assert_shape(conflicts, (3, 3))
  assert (conflicts == conflicts.T).all() and np.trace(conflicts) == 0
  assert 0 < conflicts[1, 2] <= steps      # opposite teachers conflict
