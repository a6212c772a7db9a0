"""Compile time and steps/s of one KTG program (issue 3's measurement).

A 3-node ResNet-20 graph with Sine / Correct / Linear / Positive-Gamma edges,
batch 64 of 32x32x3, 100 classes: the first step (trace + XLA compile + run),
then 10 timed steps with no host sync in between.

  JAX_PLATFORMS=cpu python benchmarks/compile_and_steps.py [--models resnet20] [--steps 10]
"""

import argparse
import time

import jax

import ktg_jax as ktg
from ktg_jax.core import gates
from ktg_jax.core import LABEL


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--models", default="resnet20",
                 help="model of all 3 nodes, or 3 comma-separated names")
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--batch", type=int, default=64)
  args = p.parse_args()
  models = args.models.split(",")
  models = models * 3 if len(models) == 1 else models
  spec = ktg.GraphSpec(nodes=tuple(models), edges={
      (LABEL, 0): gates.Through(), (LABEL, 1): gates.Through(),
      (LABEL, 2): gates.Linear(), (1, 0): gates.Sine(0.5, 4.71),
      (2, 0): gates.Correct(), (0, 1): gates.Through(),
      (0, 2): gates.PositiveGamma(2.0)})
  program = ktg.compile(spec, num_classes=100, total_steps=1000,
                        optimizer=ktg.optim.sgd(0.1))
  k1, k2 = jax.random.split(jax.random.key(0))
  batch = {"image": jax.random.normal(k1, (args.batch, 32, 32, 3)),
           "label": jax.random.randint(k2, (args.batch,), 0, 100)}
  state = program.init(jax.random.key(1), batch["image"])
  t0 = time.perf_counter()
  state, _ = program.step(state, batch)
  jax.block_until_ready(state)
  first = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(args.steps):
    state, _ = program.step(state, batch)
  jax.block_until_ready(state)
  sec = time.perf_counter() - t0
  print(f"{jax.devices()[0].device_kind}: {'+'.join(models)}, batch "
        f"{args.batch}: compile + first step {first:.2f} s; {args.steps} steps "
        f"{sec:.2f} s = {args.steps / sec:.2f} steps/s")


if __name__ == "__main__":
  main()
