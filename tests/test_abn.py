"""ABN on a CIFAR ResNet: outputs, attention range, parameter count, registry,
and its label edge (CE of both branches) in the KTG step."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ktg_jax as ktg
from ktg_jax import classic
from ktg_jax import models
from ktg_jax.models.abn import AbnResNet
from ktg_jax.models.resnet import CifarResNet

K = 10
X = jax.random.normal(jax.random.PRNGKey(1), (4, 16, 16, 3))


def n_params(variables):
  return sum(int(np.prod(p.shape))
             for p in jax.tree.leaves(variables["params"]))


@pytest.fixture(scope="module")
def abn8():
  model = models.create("abn_resnet8", num_classes=K)
  return model, model.init(jax.random.PRNGKey(0), X, train=False)


def test_outputs_shapes_and_range(abn8):
  model, variables = abn8
  out, new_state = model.apply(variables, X, train=True,
                               mutable=["batch_stats"])
  chex.assert_shape(out["logits"], (4, K))
  chex.assert_shape(out["attention_logits"], (4, K))
  chex.assert_shape(out["attention"], (4, 8, 8))      # stage-2 resolution
  chex.assert_shape(out["features"], (4, 64))
  chex.assert_tree_all_finite(out)
  att = np.asarray(out["attention"])
  assert att.min() >= 0.0 and att.max() <= 1.0 and att.std() > 0
  assert set(new_state) == {"batch_stats"}


def test_jit_matches_eager(abn8):
  model, variables = abn8
  apply = lambda v, x: model.apply(v, x, train=False)
  chex.assert_trees_all_close(jax.jit(apply)(variables, X),
                              apply(variables, X), rtol=1e-4, atol=1e-5)


def block(cin, cout):           # two bias-free 3x3 convs, two BN (scale, bias)
  return 9 * cin * cout + 9 * cout * cout + 4 * cout


@pytest.mark.parametrize("depth,map_kernel", [(8, 3), (14, 3), (8, 1)])
def test_parameter_count(depth, map_kernel):
  n = (depth - 2) // 6
  att_stage = block(32, 64) + (n - 1) * block(64, 64)
  heads = (2 * 64                      # BN after the attention stage
           + 64 * K + 2 * K            # 1x1 conv to K maps + BN
           + K * K                     # 1x1 conv of the logits head
           + map_kernel**2 * K + 2)    # map conv to 1 channel + BN
  resnet = CifarResNet(depth, K)
  want = n_params(resnet.init(jax.random.PRNGKey(0), X, train=False)) \
      + att_stage + heads
  model = AbnResNet(depth, K, map_kernel=map_kernel)
  got = n_params(model.init(jax.random.PRNGKey(0), X, train=False))
  assert got == want


def _force_map(variables, value):
  """Sets the map's BN bias so the sigmoid saturates at ~value (0 or 1)."""
  params = jax.tree.map(lambda p: p, variables["params"])
  params["att_map_bn"] = dict(params["att_map_bn"],
                              bias=jnp.full((1,), 1e4 if value else -1e4))
  return {**variables, "params": params}


def test_attention_mechanism_bypass_and_no_bypass():
  nobypass = models.create("abn_resnet8_nobypass", num_classes=K)
  assert nobypass.residual is False
  variables = _force_map(nobypass.init(jax.random.PRNGKey(0), X, train=False), 0)
  out = nobypass.apply(variables, X, train=False)
  np.testing.assert_allclose(out["attention"], 0.0, atol=1e-6)
  # g(x) * M(x) with M = 0: the perception branch sees zeros, no sample differs.
  np.testing.assert_allclose(out["features"], 0.0, atol=1e-6)
  np.testing.assert_allclose(out["logits"], out["logits"][:1].repeat(4, 0),
                             atol=1e-6)
  # g(x) * (1 + M(x)) keeps the features, M = 1 doubles the branch's input.
  bypass = models.create("abn_resnet8", num_classes=K)
  v0 = _force_map(bypass.init(jax.random.PRNGKey(0), X, train=False), 0)
  v1 = _force_map(v0, 1)
  f0 = np.asarray(bypass.apply(v0, X, train=False)["features"])
  f1 = np.asarray(bypass.apply(v1, X, train=False)["features"])
  assert np.abs(f0 - f0[:1]).max() > 1e-3
  assert not np.allclose(f0, f1)


def test_registry_and_errors():
  assert models.exists("abn_resnet20") and models.exists("abn_resnet110_nobypass")
  assert not models.exists("abn_resnet21")
  assert models.create("abn_resnet32", num_classes=K).depth == 32
  with pytest.raises(ValueError, match="depth=9"):
    AbnResNet(9, K).init(jax.random.PRNGKey(0), X, train=False)
  with pytest.raises(ValueError, match="map_kernel=5"):
    AbnResNet(8, K, map_kernel=5).init(jax.random.PRNGKey(0), X, train=False)


def np_softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_abn_label_edge_is_attention_plus_perception_ce():
  spec = classic.vanilla("abn_resnet8")
  opt = optax.sgd(0.1)
  program = ktg.compile(spec, num_classes=5, total_steps=4, optimizer=opt)
  x = jnp.float32(np.random.default_rng(0).uniform(size=(6, 8, 8, 1)))
  y = jnp.asarray(np.random.default_rng(1).integers(0, 5, size=6))
  state = program.init(jax.random.key(0), x)
  new_state, m = program.step(state, {"image": x, "label": y})
  module = program.modules[0]

  def loss(params):
    out, _ = module.apply({"params": params, **state.model_state["node0"]}, x,
                          train=True, mutable=["batch_stats"])
    ce = lambda z: -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(6), y])
    return ce(out["logits"]) + ce(out["attention_logits"]), out

  (_, out), g = jax.jit(jax.value_and_grad(loss, has_aux=True))(
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
