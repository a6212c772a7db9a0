"""ktg_jax.run.memory: compiling ahead fills jit's cache and leaves donated
arguments valid; the heap release is safe to call any time."""

import jax
import jax.numpy as jnp
import numpy as np

from ktg_jax.run import memory


def test_compile_ahead_fills_the_jit_cache_and_keeps_donated_arguments():
  traces = []

  def f(x):
    traces.append(1)  # runs once per trace
    return x * 2.0

  jitted = jax.jit(f, donate_argnums=0)
  x = jnp.arange(4.0)
  memory.compile_ahead(jitted, x)
  assert len(traces) == 1
  np.testing.assert_array_equal(np.asarray(x), np.arange(4.0))  # not consumed
  y = jitted(x)
  assert len(traces) == 1  # the call reused the ahead-compiled program
  np.testing.assert_array_equal(np.asarray(y), 2.0 * np.arange(4.0))


def test_release_free_heap_keeps_live_memory():
  live = np.arange(1_000_000, dtype=np.float64)
  garbage = [bytearray(1 << 16) for _ in range(64)]
  del garbage
  assert memory.release_free_heap() in (True, False)
  assert live.sum() == 1_000_000 * 999_999 / 2
