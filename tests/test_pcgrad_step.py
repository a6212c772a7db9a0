"""PCGrad inside the KTG step (``compile(..., aggregate="pcgrad")``, thesis
§4.3.3) against a hand-written projected step, and the compression graphs."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ktg_jax as ktg
from ktg_jax import checkpoint, classic, data
from ktg_jax.run import training

RNG = np.random.default_rng(0)


def np_pcgrad(flat):
  """PCGrad (Yu et al. 2020, Alg. 1), j ascending, on the original g_j."""
  out = flat.copy()
  for i in range(len(flat)):
    for j in range(len(flat)):
      d = out[i] @ flat[j]
      if i != j and d < 0:
        out[i] = out[i] - d / (flat[j] @ flat[j]) * flat[j]
  return out.sum(0)


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


OPT = optax.sgd(0.1)   # one object: programs of one structure are shared
SPEC = classic.compression("small_cnn", ["small_cnn"] * 2, ["/a", "/b"],
                           temperature=2.0)


def compression_program(spec, aggregate):
  return ktg.compile(spec, num_classes=C, total_steps=10, optimizer=OPT,
                     aggregate=aggregate)


def test_pcgrad_step_equals_hand_written_projection():
  t1, t2 = teachers()
  spec = SPEC
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
  grad_kd = jax.jit(jax.grad(kd))
  g1, g2 = flat(grad_kd(p0, zt[0])), flat(grad_kd(p0, zt[1]))
  assert g1 @ g2 < 0                  # the two teachers' edges conflict
  total = flat(jax.jit(jax.grad(ce))(p0)) + np_pcgrad(np.stack([g1, g2]))
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
  t1, t2 = teachers()
  # Teacher 2's edge Cutoff (same structure, so the same programs): one
  # transfer gradient, nothing to conflict with.
  spec = ktg.GraphSpec(nodes=SPEC.nodes, edges={
      k: e for k, e in SPEC.edges.items() if k != (2, 0)}, target=0)
  assert spec.structure() == SPEC.structure()
  states = []
  for aggregate in (None, "pcgrad"):
    program = compression_program(spec, aggregate)
    state = program.init(jax.random.key(3), X, frozen_variables={1: t1, 2: t2})
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
