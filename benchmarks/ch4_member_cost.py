r"""CPU seconds a training step of one ch4-space graph costs, by member model
(issue 27 item 2: whether ABN members fit this machine; docs/ch4_rows.md).

One fixed M = 2 graph of the ``ch4`` space (thesis eq 4.14; an ensemble node
the target, eq 4.10): both label edges Through, both member edges Through
with the Prob(+)Att(+) design (the costliest: logits and attention maps),
crops (2, 3, 4); compiled with every design's loss kind, as a search trial
is. Batch 64 of the 14 x 28 pairs stand-in (random images, 100 classes).
Models are timed in rounds A B A B (``time.process_time`` of ``--steps``
steps, compilation excluded), single-threaded as the regime runs.

  env JAX_PLATFORMS=cpu XLA_FLAGS=--xla_cpu_multi_thread_eigen=false \
    nice -n 10 python benchmarks/ch4_member_cost.py \
      --out=benchmarks/results/ch4_rows/member_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import numpy as np
import optax

from ktg_jax.core import step
from ktg_jax.search import presets

POINT = {"gate_label_0": "through", "gate_label_1": "through",
         "gate_0_1": "through", "gate_1_0": "through",
         "loss_0_1": "prob+att+", "loss_1_0": "prob+att+"}


def graph(model: str, crop_sizes=(2, 3, 4)):
  """(space, spec) of ``POINT`` in the ch4 space of ``model`` members."""
  space = presets.get("ch4", 2, model=model, crop_sizes=tuple(crop_sizes))
  point = {**POINT, **{k: model for k in space.parameters()
                       if k.startswith("model_")}}
  return space, space.to_spec(point)


def runner(model: str, batch: int, classes: int, shape):
  """A function running n steps of the graph; the compile seconds."""
  space, spec = graph(model)
  program = step.compile(spec, num_classes=classes, total_steps=10_000,
                         optimizer=optax.sgd(0.05, momentum=0.9),
                         loss_kinds=space.loss_kinds())
  rng = np.random.default_rng(0)
  b = {"image": rng.normal(size=(batch, *shape)).astype(np.float32),
       "label": rng.integers(classes, size=batch).astype(np.int32)}
  state = program.init(jax.random.PRNGKey(0), b["image"])
  t0 = time.process_time()
  state, m = program.step(state, b)
  jax.block_until_ready(m)
  compile_s = time.process_time() - t0
  box = [state]

  def run(n):
    for _ in range(n):
      box[0], m = program.step(box[0], b)
    jax.block_until_ready(m)
  return run, compile_s


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--models", default="resnet8,abn_resnet8_nobypass")
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--rounds", type=int, default=4)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  models = a.models.split(",")
  load0 = os.getloadavg()
  runs = {m: runner(m, a.batch, 100, (14, 28, 1)) for m in models}
  per_step = {m: [] for m in models}
  for _ in range(a.rounds):
    for m in models:
      t0 = time.process_time()
      runs[m][0](a.steps)
      per_step[m].append((time.process_time() - t0) / a.steps)
  out = {"models": models, "batch": a.batch, "steps": a.steps,
         "rounds": a.rounds, "graph": POINT, "crop_sizes": [2, 3, 4],
         "cpu_s_per_step": {m: statistics.median(v)
                            for m, v in per_step.items()},
         "cpu_s_per_step_rounds": per_step,
         "compile_cpu_s": {m: r[1] for m, r in runs.items()},
         "ratio_to_first": {m: statistics.median(per_step[m])
                            / statistics.median(per_step[models[0]])
                            for m in models},
         "loadavg_start": load0, "loadavg_end": os.getloadavg(),
         "machine": platform.processor() or platform.machine(),
         "cpus": os.cpu_count(),
         "xla_flags": os.environ.get("XLA_FLAGS", ""),
         "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
  print(json.dumps(out, indent=1))
  if a.out:
    with open(a.out, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()
