"""ssl nodes in the graph (000): learners train, momentum, own-term gate, DoGo,
KNN scoring in fit. Tiny model (small_cnn of width 4) on 8x8 digits, few steps.

References are numpy, written from the published formulas (SimCLR eq. 1,
BYOL §3.2's cosine momentum, DoGo's row KL, the weighted KNN vote).
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ktg_jax as ktg
from ktg_jax import LABEL, Edge, GraphSpec, Node, data, models
from ktg_jax.run import training
from ktg_jax.core import gates
from ktg_jax.models.small_cnn import SmallCNN
from ktg_jax.families.ssl import learner as ssl_learner
from ktg_jax.families.ssl import objectives

from numpy_references import nt_xent

TINY = "small_cnn_w4_ssltest"
models.register(TINY, functools.partial(SmallCNN, width=4))
LEARNERS = [o.name for o in objectives.OBJECTIVES]
B, STEPS, TOTAL = 32, 4, 50


def flip_noise(rng, x):  # a cheap random view (the SSL views have own tests)
  k1, k2 = jax.random.split(rng)
  flip = jax.random.bernoulli(k1, 0.5, (x.shape[0], 1, 1, 1))
  x = jnp.where(flip, x[:, :, ::-1], x)
  return jnp.clip(x + 0.1 * jax.random.normal(k2, x.shape), 0.0, 1.0)


@pytest.fixture(scope="module")
def digits():
  return data.load("digits", limit=512)


@pytest.fixture(scope="module")
def seven(digits):
  """One graph of seven ssl nodes, one per learner, each with its own term
  only (one compile); states at init, before and after the last step."""
  spec = GraphSpec(
      nodes=[Node(TINY, kind="ssl", learner=name) for name in LEARNERS],
      edges={(LABEL, i): gates.Through() for i in range(len(LEARNERS))})
  prog = ktg.compile(spec, num_classes=10, total_steps=TOTAL,
                     optimizer=ktg.optim.sgd(0.05, weight_decay=5e-4),
                     views={"a": flip_noise, "b": flip_noise})
  x = digits.train.images
  state0 = state = prog.init(jax.random.key(0), x[:B])
  losses, stds = [], []
  for k in range(STEPS):
    before = state
    state, m = prog.step(state, {"image": x[k * B:(k + 1) * B],
                                 "label": digits.train.labels[k * B:(k + 1) * B]})
    losses.append(np.asarray(m["label_loss"]))
    stds.append(np.asarray(m["embedding_std"]))
  return prog, state0, before, state, np.stack(losses), np.stack(stds)


@pytest.mark.parametrize("i", range(len(LEARNERS)), ids=LEARNERS)
def test_learner_node_trains_without_collapse(seven, i):
  prog, _, _, _, losses, stds = seven
  assert np.all(np.isfinite(losses[:, i]))
  assert losses[0, i] != losses[-1, i]   # the own term moves
  # The step's monitor: mean over dims of the batch std of z / |z| (view a,
  # train mode). Collapse = one direction for all samples: std -> 0; a spread
  # D-dim unit embedding has ~1/sqrt(D). Demand a third of the value at init.
  d = prog.modules[i].proj_dim
  assert stds[-1, i] > 0.3 * stds[0, i] and stds[-1, i] > 0.1 / np.sqrt(d), (
      stds[:, i])


def test_learner_state_and_momentum_encoders(seven):
  prog, state0, _, state, _, _ = seven
  moco, dino = LEARNERS.index("moco"), LEARNERS.index("dino")
  chex.assert_shape(state.kind_state[f"node{moco}"].keys,
                    (ssl_learner.NODE_DEFAULTS["moco"]["queue_size"], 128))
  assert int(state.kind_state[f"node{moco}"].ptr) == (STEPS * B) % 4096
  chex.assert_shape(state.kind_state[f"node{dino}"], (100,))
  assert np.any(np.asarray(state.kind_state[f"node{dino}"]) != 0)  # centre moved
  with_momentum = {ssl_learner.momentum_key(i) for i, n in enumerate(LEARNERS)
                   if n in ("moco", "byol", "dino")}
  assert set(state.ema) == with_momentum
  chex.assert_trees_all_equal_shapes(state.ema[ssl_learner.momentum_key(moco)],
                                     state0.ema[ssl_learner.momentum_key(moco)])


def np_momentum(name, k, total):
  if name == "moco":
    return 0.999                                  # MoCo §3.2: constant
  return 1 - (1 - 0.996) * (np.cos(np.pi * k / total) + 1) / 2  # BYOL §3.2


@pytest.mark.parametrize("name", ["moco", "byol", "dino"])
def test_momentum_update_direction_and_schedule(seven, name):
  _, _, before, after, _, _ = seven
  i = LEARNERS.index(name)
  key = ssl_learner.momentum_key(i)
  m = np_momentum(name, int(before.step), TOTAL)
  old = np.asarray(before.ema[key]["params"]["projector"]["fc2"]["kernel"])
  new = np.asarray(after.ema[key]["params"]["projector"]["fc2"]["kernel"])
  online = np.asarray(after.params[f"node{i}"]["projector"]["fc2"]["kernel"])
  np.testing.assert_allclose(new, m * old + (1 - m) * online, rtol=1e-5,
                             atol=1e-6)
  assert np.linalg.norm(new - online) < np.linalg.norm(old - online)


def fixed_views():
  # Deterministic views, so the reference can recompute the forward.
  return {"a": lambda rng, x: x, "b": lambda rng, x: x[:, :, ::-1]}


@pytest.fixture(scope="module")
def pair(digits):
  """Two SimCLR nodes, own terms and both DoGo edges: one program whose
  edge table the tests below change (gates are data)."""
  spec = GraphSpec(
      nodes=[Node(TINY, kind="ssl", learner="simclr")] * 2,
      edges={(LABEL, 0): gates.PositiveGamma(2.0),
             (LABEL, 1): gates.Through(),
             (1, 0): Edge(gates.Through(), "dogo"),
             (0, 1): Edge(gates.Through(), "disco")})
  prog = ktg.compile(spec, num_classes=10, total_steps=TOTAL,
                     optimizer=ktg.optim.sgd(0.1, weight_decay=0.0),
                     views=fixed_views())
  x, y = digits.train.images[:B], digits.train.labels[:B]
  return spec, prog, {"image": x, "label": y}


def projections(prog, state, i, x):
  """Node i's train-mode forward over [view a; view b], as the step runs it."""
  out, _ = prog.modules[i].apply(ktg.node_variables(state, i),
                                 np.concatenate([x, x[:, :, ::-1]]), train=True,
                                 mutable=["batch_stats"])
  z = np.asarray(out["projection"], np.float64)
  return z[:len(x)], z[len(x):]


def test_own_term_is_the_objective_times_its_gate(pair):
  spec, prog, batch = pair
  k, gamma = 20, 2.0
  state = prog.init(jax.random.key(1), batch["image"])._replace(
      step=jnp.asarray(k, jnp.int32))
  za, zb = projections(prog, state, 0, batch["image"])
  _, m = prog.step(state, batch)
  want = (k / TOTAL) ** gamma * nt_xent(za, zb, 0.5)   # PG: t ** gamma
  np.testing.assert_allclose(float(m["label_loss"][0]), want, rtol=2e-4)
  # Cutoff on the own term (and the rest): the node does not move.
  cut = GraphSpec(nodes=spec.nodes, edges={
      (LABEL, 0): gates.Cutoff(), (LABEL, 1): gates.Cutoff(),
      (1, 0): Edge(gates.Cutoff(), "dogo"), (0, 1): Edge(gates.Cutoff(), "disco")})
  state = prog.init(jax.random.key(1), batch["image"], edges=cut.edge_table())
  after, m = prog.step(state, batch)
  assert float(m["label_loss"][0]) == 0.0
  chex.assert_trees_all_equal(after.params, state.params)


def np_dogo(sa, sb, ta, tb, t):
  def logp(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    s = a @ b.T / t
    return s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
  ps, pt = logp(sa, sb), logp(ta, tb)
  return np.sum(np.exp(ps) * (ps - pt), axis=1)     # KL per row (sample)


def test_dogo_edge_value_and_gradient_only_into_its_target(pair):
  spec, prog, batch = pair
  only = GraphSpec(nodes=spec.nodes, edges={
      (LABEL, 0): gates.Cutoff(), (LABEL, 1): gates.Cutoff(),
      (1, 0): Edge(gates.Through(), "dogo"), (0, 1): Edge(gates.Cutoff(), "disco")})
  state = prog.init(jax.random.key(2), batch["image"], edges=only.edge_table())
  x = batch["image"]
  want = np.mean(np_dogo(*projections(prog, state, 1, x),
                         *projections(prog, state, 0, x), 0.1))
  after, m = prog.step(state, batch)
  np.testing.assert_allclose(float(m["edge_loss"][1, 0]), want, rtol=2e-4)
  assert want > 0
  chex.assert_trees_all_equal(after.params["node1"], state.params["node1"])
  moved = jax.tree_util.tree_map(lambda a, b: bool(np.any(a != b)),
                                 after.params["node0"], state.params["node0"])
  assert moved["projector"]["fc2"]["kernel"] and any(
      jax.tree_util.tree_leaves(moved["backbone"]))


def test_fit_scores_ssl_graph_by_knn(digits):
  spec = GraphSpec(nodes=[Node(TINY, kind="ssl", learner="simsiam")],
                   edges={(LABEL, 0): gates.Through()})
  cfg = training.default_config()
  cfg.update(epochs=1, batch_size=B, eval_batch_size=128, verbose=False,
             learning_rate=0.05, knn_k=5, knn_temperature=0.1)
  cfg.views.a = cfg.views.b = "weak"  # cheap here; "ssl" in real runs
  small = data.load("digits", limit=200)
  result = training.fit(spec, small, cfg)
  last = result.history[-1]
  assert last["eval_metric"].startswith("knn(k=5, T=0.1")
  # Independent weighted cosine KNN (k=5, T=0.1) on the final features.
  feats = lambda split: np.array(prog_features(spec, result.state,
                                               split.images), np.float64)
  bank, query = feats(small.train), feats(small.val)
  bank /= np.linalg.norm(bank, axis=1, keepdims=True)
  query /= np.linalg.norm(query, axis=1, keepdims=True)
  sims = query @ bank.T
  correct = 0
  for q in range(len(query)):
    top = np.argsort(-sims[q], kind="stable")[:5]
    votes = np.zeros(10)
    np.add.at(votes, small.train.labels[top], np.exp(sims[q, top] / 0.1))
    correct += np.argmax(votes) == small.val.labels[q]
  np.testing.assert_allclose(last["target_accuracy"], correct / len(query),
                             atol=1.5 / len(query))


def prog_features(spec, state, images):
  module = ktg.core.step.node_modules(spec, 10)[0]
  return module.apply(ktg.node_variables(state, 0), images,
                      train=False)["features"]
