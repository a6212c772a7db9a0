"""Peak host memory of a run: hand the compiler's freed heap back first.

Compiling a KTG step on XLA:CPU allocates and frees hundreds of MiB (the
4-node graph of docs/papers.md §6: ~500 MiB). glibc keeps freed small-chunk heap in its
arenas, and the step's big buffers are fresh ``mmap``s, so the first step's
peak resident memory is "compiler leftovers + the step's buffers". Compiling
ahead of the first step (``jit(f).lower(...).compile()`` fills jit's cache,
so the first call does not compile again) and then ``malloc_trim(0)`` makes
it the step's buffers alone. Measured (benchmarks/RESULTS.md, section 4):
peak RSS of the 4-node graph 3,360 -> 2,900 MiB.

Example:
  >>> import jax, jax.numpy as jnp
  >>> f = jax.jit(lambda x: x * 2)
  >>> compile_ahead(f, jnp.ones(3))
  >>> f(jnp.ones(3)).tolist()
  [2.0, 2.0, 2.0]
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
  name = ctypes.util.find_library("c")
  try:
    return getattr(ctypes.CDLL(name), "malloc_trim") if name else None
  except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
    return None


def release_free_heap() -> bool:
  """Returns freed heap pages to the OS (glibc ``malloc_trim(0)``); False
  where the C library has no such call. Live memory is never touched."""
  trim = _malloc_trim()
  if trim is None:
    return False
  trim(0)
  return True


def compile_ahead(jitted, *args, **kwargs) -> None:
  """Compiles ``jitted`` (a ``jax.jit`` function) for these arguments, then
  releases the compiler's freed heap before any step buffer exists.

  The arguments are only traced (shapes, dtypes, shardings), not consumed:
  donated buffers stay valid.
  """
  jitted.lower(*args, **kwargs).compile()
  release_free_heap()
