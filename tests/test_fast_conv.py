"""benchmarks/fast_conv.py's 9-matmul weight gradient equals XLA's conv gradient."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import fast_conv  # noqa: E402


@pytest.mark.parametrize("stride", [1, 2])
def test_conv3x3_gradients_match_lax(stride):
  rng = np.random.RandomState(stride)
  x = jnp.asarray(rng.randn(4, 8, 8, 32).astype(np.float32))
  w = jnp.asarray(rng.randn(3, 3, 32, 8).astype(np.float32))
  dy = jnp.asarray(rng.randn(4, 8 // stride, 8 // stride, 8).astype(np.float32))
  want = jax.vjp(lambda a, b: fast_conv._conv(a, b, stride), x, w)[1](dy)
  got = jax.vjp(lambda a, b: fast_conv.conv3x3(a, b, stride), x, w)[1](dy)
  for g, h in zip(got, want):
    np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-4 * float(
        jnp.max(jnp.abs(h))))
