"""Measures multi-seed training on this backend: sequential programs vs one vmap.

  JAX_PLATFORMS=cpu python experiments/seed_speed.py --seeds=0,1,2 --model=small_cnn

Prints steps/s of S seeds trained one after another (S x one program step)
and of one ``jax.vmap(program.step)`` over S stacked states, same batches.
``ktg_jax.run.population.STRATEGY`` picks per backend from numbers like these.
"""

import time

from absl import flags
import jax
import numpy as np

from ktg_jax.cli import common  # the scripts' command line
import ktg_jax as ktg

_SEEDS = flags.DEFINE_string("seeds", "0,1,2", "comma-separated seeds")
_MODEL = flags.DEFINE_string("model", "small_cnn", "node model")
_NODES = flags.DEFINE_integer("nodes", 2, "DML nodes")
_SIZE = flags.DEFINE_integer("size", 28, "image side")
_BATCH = flags.DEFINE_integer("batch", 64, "batch size")
_STEPS = flags.DEFINE_integer("steps", 20, "timed steps")


def _time(fn, state, batch, steps):
  state, m = fn(state, batch)  # compile
  jax.block_until_ready(m)
  start = time.perf_counter()
  for _ in range(steps):
    state, m = fn(state, batch)
  jax.block_until_ready(m)
  return (time.perf_counter() - start) / steps


def main(argv):
  common.check_command_line(argv)
  seeds = common.parse_seeds(_SEEDS.value)
  s, b, n = len(seeds), _BATCH.value, _SIZE.value
  spec = ktg.classic.dml(_NODES.value, _MODEL.value)
  x = np.random.rand(s, b, n, n, 1).astype(np.float32)
  y = np.random.randint(0, 10, (s, b)).astype(np.int32)
  kw = dict(num_classes=10, total_steps=1000, optimizer=ktg.optim.sgd(0.05))
  seq = ktg.compile(spec, **kw)
  states = [seq.init(jax.random.key(i), x[0]) for i in seeds]
  t_seq = sum(_time(seq.step, st, {"image": x[i], "label": y[i]}, _STEPS.value)
              for i, st in enumerate(states))
  raw = ktg.compile(spec, jit=False, **kw)
  stacked = jax.tree_util.tree_map(lambda *a: jax.numpy.stack(a), *states)
  t_vmap = _time(jax.jit(jax.vmap(raw.step)), stacked,
                 {"image": x, "label": y}, _STEPS.value)
  print(f"backend={jax.default_backend()} seeds={s} {spec.num_nodes}x"
        f"{_MODEL.value} {n}x{n} batch {b}: sequential {t_seq * 1e3:.0f} ms "
        f"per step of all seeds, vmap {t_vmap * 1e3:.0f} ms "
        f"(vmap/sequential = {t_vmap / t_seq:.2f})")


if __name__ == "__main__":
  common.run(main)
