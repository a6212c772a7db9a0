"""Node models: shapes, parameter counts of the published architectures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ktg_jax import models


def n_params(name, shape=(1, 32, 32, 3), classes=100):
  variables = jax.eval_shape(
      lambda: models.create(name, classes).init(jax.random.key(0),
                                                jnp.zeros(shape), train=False))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("name, millions", [
    # He et al. 2016 Table 6 (CIFAR-10): 0.27M / 0.46M / 0.85M / 1.7M;
    # WRN-28-2 ~1.5M (Zagoruyko & Komodakis). 10 classes as in those tables.
    ("resnet20", 0.27), ("resnet32", 0.46), ("resnet56", 0.85),
    ("resnet110", 1.7), ("wrn28_2", 1.47)])
def test_parameter_counts_match_the_papers(name, millions):
  assert n_params(name, classes=10) / 1e6 == pytest.approx(millions, rel=0.04)


@pytest.mark.parametrize("name", ["small_cnn", "resnet8", "wrn10_1"])
@pytest.mark.parametrize("shape", [(2, 28, 28, 1), (2, 32, 32, 3), (2, 8, 8, 1)])
def test_logits_shape_for_any_input(name, shape):
  model = models.create(name, 7)
  variables = model.init(jax.random.key(0), jnp.zeros(shape), train=False)
  out, updates = model.apply(variables, jnp.ones(shape), train=True,
                             mutable=["batch_stats"])
  assert out["logits"].shape == (2, 7) and out["logits"].dtype == jnp.float32
  assert set(out) == set(models.outputs(name))
  assert out["features"].ndim == 2 and out["features"].shape[0] == 2
  assert out["attention"].ndim == 3 and out["attention"].shape[0] == 2
  assert "batch_stats" in updates


def test_option_a_shortcut_has_no_parameters():
  variables = models.create("resnet8", 10).init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  names = {k for k in variables["params"]}
  assert not any("shortcut" in k or "downsample" in k for k in names)


def test_unknown_model_lists_allowed():
  with pytest.raises(ValueError, match=r"model='resnet21'.*allowed.*resnet32"):
    models.create("resnet21", 10)
  assert models.exists("wrn16_3") and models.exists("resnet8")
  assert not models.exists("wrn28_0")


@pytest.mark.parametrize("name", ["small_cnn", "resnet8", "wrn10_2"])
def test_jitted_init_equals_eager_init_bit_for_bit(name):
  """models.init (one compiled program; not used by Program.init, see its
  docstring) draws the same variables as flax's op-by-op eager init."""
  module = models.create(name, 10)
  rng, images = jax.random.PRNGKey(3), jnp.zeros((2, 16, 16, 3))
  eager = module.init(rng, images, train=False)
  jitted = models.init(module, rng, images)
  leaves_e, tree_e = jax.tree.flatten(eager)
  leaves_j, tree_j = jax.tree.flatten(jitted)
  assert tree_e == tree_j and len(leaves_e) > 4
  for a, b in zip(leaves_e, leaves_j):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # compiled once per architecture and shapes: a new module object of the
  # same model (a search's next trial) reuses it
  n = len(models._COMPILED_INITS)
  models.init(models.create(name, 10), jax.random.PRNGKey(4), images)
  assert len(models._COMPILED_INITS) == n
