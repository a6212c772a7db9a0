r"""Does a vmapped K=2 population leave sequential runs on ONE device?

The recorded finding (ktg_jax/run/population.py, README "Scale out"): a vmapped
K=2 seed population of the 2-node small_cnn DML graph on digits drifted
1.6e-3 from separate runs at step 3. This replays it through ``fit``
(1 epoch of digits, limit 128, batch 32 = 3 steps, lr 0.1 constant, the
default SGD) under both strategies and prints the largest difference of the
parameters and of the BatchNorm statistics; ``--two_pass`` computes BN's
variance as mean((x - mean)^2) instead of flax's one-pass
mean(x^2) - mean(x)^2 (the suspect when a channel's variance is near 0).

  python benchmarks/vmap_drift.py                 # one device
  python benchmarks/vmap_drift.py --devices 2     # a 2-forced-device process
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--devices", type=int, default=0,
                 help="forced host devices of the process (0: as jax finds)")
  p.add_argument("--two_pass", action="store_true",
                 help="BatchNorm variance in two passes")
  args = p.parse_args(argv)
  if args.devices:  # before jax is imported
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count="
                               f"{args.devices}").strip()
  sys.path.insert(0, ROOT)
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  import ktg_jax as ktg
  from ktg_jax import data
  from ktg_jax.run import training
  from ktg_jax.models import small_cnn

  if args.two_pass:
    small_cnn.batch_norm = lambda train, name: nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name,
        use_fast_variance=False)
  digits = data.load("digits", limit=128)
  spec = ktg.classic.dml(2, model="small_cnn")

  def fit(strategy):
    cfg = training.default_config()
    cfg.update(epochs=1, batch_size=32, eval_batch_size=100, augment=False,
               verbose=False, lr_schedule="constant", shard_population=False,
               population_strategy=strategy)
    return training.fit(spec, digits, cfg, seeds=[0, 1]).state

  t = time.perf_counter()
  a, b = fit("sequential"), fit("vmap")
  diff = {f: max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(
      jax.tree.leaves(getattr(a, f)), jax.tree.leaves(getattr(b, f))))
          for f in ("params", "model_state")}
  print(f"devices={jax.device_count()} two_pass={args.two_pass} "
        f"vmap - sequential: params {diff['params']:.2e}, BN statistics "
        f"{diff['model_state']:.2e} ({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
  main()
