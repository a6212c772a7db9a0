"""Mixed precision (ktg_jax/core/precision.py): bf16 compute, float32 variables."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import ktg_jax as ktg
from ktg_jax import models
from ktg_jax.core import precision

pytestmark = pytest.mark.gpu_subset


def _bf16(a):
  """numpy's own round-to-nearest-even to bfloat16, back in float32."""
  return np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).astype(
      np.float32)


def test_dense_head_matches_a_numpy_bf16_reference():
  """One Dense layer: inputs and weights rounded to bf16, products summed in
  bf16's precision class (tolerance: bf16's 2^-8 relative step)."""
  class Head(ktg.models.resnet.nn.Module):
    @ktg.models.resnet.nn.compact
    def __call__(self, x, train=False):
      return {"logits": ktg.models.resnet.nn.Dense(4, name="fc")(x)}
  x = np.random.RandomState(0).randn(3, 5).astype(np.float32)
  m = precision.Mixed(Head(), "bfloat16")
  v = m.init(jax.random.PRNGKey(0), x)
  got = np.asarray(m.apply(v, x)["logits"])
  assert got.dtype == np.float32
  w, b = (np.asarray(v["params"]["fc"][k]) for k in ("kernel", "bias"))
  want = _bf16(x) @ _bf16(w) + _bf16(b)
  np.testing.assert_allclose(got, want, rtol=2 ** -7, atol=2 ** -7)
  assert np.max(np.abs(got - x @ w - b)) > 0  # it did compute in bf16


def _step(compute_dtype):
  spec = ktg.classic.dml(["small_cnn", "resnet8"])
  p = ktg.compile(spec, num_classes=5, total_steps=10,
                  optimizer=ktg.optim.sgd(0.1), compute_dtype=compute_dtype)
  rng = np.random.RandomState(0)
  batch = {"image": rng.randn(8, 8, 8, 3).astype(np.float32),
           "label": rng.randint(0, 5, 8).astype(np.int32)}
  s0 = p.init(jax.random.PRNGKey(0), batch["image"])
  s1, m = p.step(s0, batch)
  return s0, s1, m, p.step.lower(s0, batch).as_text()


@pytest.fixture(scope="module")
def runs():
  return {d: _step(d) for d in (None, "float32", "bfloat16")}


def test_bf16_step_keeps_float32_state_and_is_close_to_float32(runs):
  s0, s1, m, _ = runs["bfloat16"]
  f0, f1, fm, _ = runs[None]
  # same initial variables (init is not cast), float32 everywhere in the state
  for a, b in zip(jax.tree.leaves(s0.params), jax.tree.leaves(f0.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  for leaf in jax.tree.leaves((s1.params, s1.model_state, s1.opt_state)):
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      assert leaf.dtype == jnp.float32
  assert m["node_loss"].dtype == jnp.float32
  # bf16 has 8 bits of mantissa: losses within a few 2^-8
  np.testing.assert_allclose(m["node_loss"], fm["node_loss"], rtol=3e-2)
  assert not np.array_equal(np.asarray(m["node_loss"]),
                            np.asarray(fm["node_loss"]))
  # the update moved the float32 master weights like the float32 step: the
  # whole update vector within 25% (measured 11.6%: bf16 gradients through
  # BatchNorm on a batch of 8)
  flat = lambda s: np.concatenate([np.ravel(np.asarray(a) - np.asarray(c))
                                   for a, c in zip(jax.tree.leaves(s.params),
                                                   jax.tree.leaves(f0.params))])
  step_bf, step_f = flat(s1), flat(f1)
  err = np.linalg.norm(step_bf - step_f) / np.linalg.norm(step_f)
  assert 0 < err < 0.25, err


def test_float32_compute_dtype_is_the_plain_step(runs):
  _, s1, m, program = runs["float32"]
  _, f1, fm, plain = runs[None]
  assert program == plain  # the same StableHLO, op for op
  assert program != runs["bfloat16"][3]
  # Bitwise on the CPU. On a GPU two compilations of one program may autotune
  # to different cuDNN convolution algorithms (measured on an H200, 2026-12-04:
  # 427 of 4,608 weights differ by <= 1.5e-8), so there: float32 rounding.
  if jax.default_backend() == "cpu":
    check = np.testing.assert_array_equal
  else:
    check = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  check(np.asarray(m["node_loss"]), np.asarray(fm["node_loss"]))
  for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(f1.params)):
    check(np.asarray(a), np.asarray(b))


def test_unknown_compute_dtype_names_the_field_and_allowed_values():
  with pytest.raises(ValueError, match=r"compute_dtype='int8'; allowed.*bfloat16"):
    ktg.compile(ktg.classic.dml(["small_cnn"] * 2), num_classes=3,
                total_steps=2, optimizer=ktg.optim.sgd(0.1),
                compute_dtype="int8")
  assert precision.wrap(None, "bfloat16") is None
  m = models.create("small_cnn", 3)
  assert precision.wrap(m, "float32") is m
