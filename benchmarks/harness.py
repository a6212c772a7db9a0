"""Runners of one KTG step per framework, and interleaved A/B timing.

A *runner* is ``(name, setup_s, run(steps) -> seconds)``: ``run`` does
``steps`` updates on a fixed batch and returns the wall time, synchronising
with the device only at the end (no per-step host sync: the JAX loop dispatches
asynchronously, as a training loop should). Device-agnostic: JAX uses its
default backend; torch the ``device`` argument (cuda when available).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, NamedTuple

import numpy as np


class Runner(NamedTuple):
  name: str
  setup_s: float  # the first step: compile (jit/torch.compile) + 1 step
  run: Callable[[int], float]
  init_s: float = 0.0  # building models and the initial state


def batch(batch_size, image_size, num_classes, seed=0):
  rng = np.random.RandomState(seed)
  x = rng.randn(batch_size, image_size, image_size, 3).astype(np.float32)
  y = rng.randint(0, num_classes, batch_size).astype(np.int32)
  return x, y


def jax_runner(name, spec, x, y, *, num_classes, donate=True, total_steps=10**6,
               fast_conv=False, split=None, compute_dtype=None):
  """ktg_jax's compiled step; ``donate``: the state buffers are reused in place;
  ``fast_conv``: trace with benchmarks/fast_conv.py's weight gradient;
  ``split`` over all devices (state replicated): None (one device),
  ``"nodes"``: each group of nodes of one model runs one forward split over
  them (``compile(node_mesh=)``, ktg_jax/parallel/node_axis.py; batch replicated),
  ``"data"``: the batch split over a ``data`` mesh, ``config.data_parallel``'s
  layout (XLA's SPMD partitioner adds the all-reduces). On the CPU the devices
  are forced host devices (``--devices``). ``compute_dtype``: mixed
  precision (``compile(compute_dtype=)``, e.g. "bfloat16")."""
  import contextlib
  import jax
  from benchmarks import fast_conv as fast_conv_lib
  import ktg_jax as ktg
  from ktg_jax.run import memory
  from ktg_jax.parallel import sharding
  if split not in (None, "nodes", "data"):
    raise ValueError(f"split={split!r}; allowed: None, 'nodes', 'data'")
  mesh = None if split is None else sharding.mesh(
      sharding.NODE if split == "nodes" else sharding.DATA)
  program = ktg.compile(spec, num_classes=num_classes, total_steps=total_steps,
                        optimizer=ktg.optim.sgd(0.1), jit=False,
                        node_mesh=mesh if split == "nodes" else None,
                        compute_dtype=compute_dtype)
  step = jax.jit(program.step, donate_argnums=(0,) if donate else ())
  t0 = time.perf_counter()
  state = jax.jit(program.init)(jax.random.PRNGKey(0), x)
  put = jax.device_put if mesh is None else (
      lambda v: sharding.replicate(v, mesh))
  state = put(state)
  jax.block_until_ready(state)
  init = time.perf_counter() - t0
  batch_ = (sharding.shard_batch({"image": x, "label": y}, mesh)
            if split == "data" else {"image": put(x), "label": put(y)})
  with fast_conv_lib.patched() if fast_conv else contextlib.nullcontext():
    memory.compile_ahead(step, state, batch_)  # as training.fit does
    state, _ = step(state, batch_)
  jax.block_until_ready(state)
  setup = time.perf_counter() - t0 - init
  box = [state]

  def run(steps):
    s = box[0]
    t = time.perf_counter()
    for _ in range(steps):
      s, metrics = step(s, batch_)
    jax.block_until_ready((s, metrics))
    box[0] = s
    return time.perf_counter() - t
  return Runner(name, setup, run, init), program, state


def torch_runner(name, spec, x, y, *, num_classes, jax_state=None,
                 compile_mode=None, device=None, channels_last=False):
  """The PyTorch reference; ``compile_mode``: wrap each model in torch.compile."""
  import torch
  from benchmarks import torch_reference
  device = device or ("cuda" if torch.cuda.is_available() else "cpu")
  t0 = time.perf_counter()
  ref = torch_reference.TorchKTG(spec, num_classes=num_classes,
                                 total_steps=10**6, device=device,
                                 channels_last=channels_last)
  if jax_state is not None:
    ref.load_flax(jax_state)
  if compile_mode is not None:
    ref.models = [torch.compile(m, mode=compile_mode) for m in ref.models]
  images = torch_reference.nhwc_to_nchw(x).to(device)
  labels = torch.from_numpy(y).long().to(device)
  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
  init = time.perf_counter() - t0
  ref.step(images, labels)
  sync()
  setup = time.perf_counter() - t0 - init

  def run(steps):
    t = time.perf_counter()
    for _ in range(steps):
      ref.step(images, labels)
    sync()
    return time.perf_counter() - t
  return Runner(name, setup, run, init)


def interleave(runners, steps, rounds, warmup=1):
  """A B A B ...: each round times every runner once; returns steps/s lists.

  Interleaving spreads the load of other processes on a shared CPU over all
  runners alike, so ratios of medians are steadier than absolute rates.
  """
  for r in runners:
    for _ in range(warmup):
      r.run(1)
  rates = {r.name: [] for r in runners}
  for _ in range(rounds):
    for r in runners:
      rates[r.name].append(steps / r.run(steps))
  return rates


def summary(rates):
  """Median, min and max steps/s of each runner."""
  return {k: {"median": statistics.median(v), "min": min(v), "max": max(v),
              "n": len(v)} for k, v in rates.items()}


def paired_ratio(rates, a, b):
  """Median over rounds of rate[a] / rate[b] (each round's pair ran back to back)."""
  return statistics.median(x / y for x, y in zip(rates[a], rates[b]))


def peak_rss_mib():
  """VmHWM of this process: unlike ru_maxrss it does not inherit the peak of
  the parent that forked it before exec."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) / 1024.0
  except OSError:
    pass
  import resource
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
