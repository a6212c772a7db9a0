"""What a KTG structure search costs at scale: ASHA replayed over epoch times.

  # 1. measure seconds per epoch of a pack of K graphs (one population)
  JAX_PLATFORMS=cpu python benchmarks/search_cost.py --measure \\
      --models=resnet8,resnet8,resnet8 --image=16 --packs=1,4 --out=/tmp/e.json
  # 2. replay the ch.3 search (1,500 graphs, 30 workers, 200 epochs) on them
  python benchmarks/search_cost.py --epoch_times=/tmp/e.json

The simulator: D workers; a worker takes the next graph (or pack of K graphs)
when its current one ends; every epoch costs ``epoch_time[K]`` seconds of one
accelerator; ASHA (Ray's rule, ``ktg_jax/search/tune.py``: rungs at epochs
1, 2, 4, ...; a member stops when its accuracy is below the median recorded
at that rung by earlier members) judges every *member*. A graph's accuracy at
epoch e is ``q + noise`` with a latent quality q ~ U(0, 1) (only the ranking
matters to ASHA). A pack ends when all its members are stopped: under ASHA a
stopped member keeps its slot in the vmapped program (its compute is wasted),
which is why packs and ASHA combine badly; without early stopping (BO,
sweeps, 5-seed retraining) a pack wastes nothing.
"""

from __future__ import annotations

import argparse
import heapq
import json
import time

import numpy as np

PUBLISHED_GPU_HOURS = 356.0   # docs/papers.md §4: 3 nodes, 11.87 h on 30 workers
STEPS_PER_EPOCH = 40_000 // 64  # CIFAR search split, batch 64


def asha_stops(rung_values: dict, rung: int, value: float) -> bool:
  """Ray's asynchronous rule: below the median of earlier values at ``rung``."""
  earlier = rung_values.setdefault(rung, [])
  stop = bool(earlier) and value < np.nanpercentile(earlier, 50)
  earlier.append(value)
  return stop


def simulate(num_graphs: int, workers: int, epochs: int, pack: int,
             epoch_seconds: float, asha: bool = True, seed: int = 0) -> dict:
  """Replays a search; returns accelerator-hours, wall hours, epochs run."""
  rng = np.random.default_rng(seed)
  quality = rng.uniform(size=num_graphs)
  rungs = set(2 ** i for i in range(20) if 2 ** i < epochs)
  rung_values, next_graph = {}, 0
  wall, acc_sec, member_epochs, finished = 0.0, 0.0, 0, 0
  events = []  # (time, worker): the worker's pack ended

  def start(worker, now):
    nonlocal next_graph, acc_sec, member_epochs, finished
    ids = list(range(next_graph, min(next_graph + pack, num_graphs)))
    next_graph += len(ids)
    alive, e = set(ids), 0
    while alive and e < epochs:
      e += 1
      member_epochs += len(alive)
      if asha and e in rungs:
        for g in sorted(alive):
          acc = quality[g] + 0.05 * rng.normal()
          if asha_stops(rung_values, e, acc):
            alive.discard(g)
    finished += len(alive)
    acc_sec += e * epoch_seconds
    heapq.heappush(events, (now + e * epoch_seconds, worker))

  for w in range(workers):
    if next_graph < num_graphs:
      start(w, 0.0)
  while events:
    now, w = heapq.heappop(events)
    wall = max(wall, now)
    if next_graph < num_graphs:
      start(w, now)
  return {"pack": pack, "accelerator_hours": acc_sec / 3600,
          "wall_hours": wall / 3600, "member_epochs": member_epochs,
          "reached_last_epoch": finished}


def measure(models, image, channels, classes, batch, packs, steps,
            strategy) -> dict:
  """Seconds per training step of packs of K graphs (jitted, after compile)."""
  import jax  # pylint: disable=import-outside-toplevel
  import ktg_jax as ktg  # pylint: disable=import-outside-toplevel
  from ktg_jax.run import population  # pylint: disable=import-outside-toplevel
  spec = ktg.classic.dml(list(models))
  x = np.random.rand(batch, image, image, channels).astype(np.float32)
  y = np.random.randint(0, classes, batch).astype(np.int32)
  out = {}
  for k in packs:
    runner = population.runner(
        population.members(spec, list(range(k))), strategy,
        num_classes=classes, total_steps=1000, optimizer=ktg.optim.sgd(0.05))
    state = runner.init(x)
    b = {"image": np.stack([x] * k), "label": np.stack([y] * k)}
    t0 = time.perf_counter()
    state, m = runner.step(state, b)
    jax.block_until_ready(m)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
      state, m = runner.step(state, b)
    jax.block_until_ready(m)
    sec = (time.perf_counter() - t0) / steps
    out[k] = {"step_s": sec, "epoch_s": sec * STEPS_PER_EPOCH,
              "first_step_s": compile_s, "strategy": runner.strategy}
    print(f"pack {k:2d} ({runner.strategy}): {sec:.3f} s/step -> "
          f"{sec * STEPS_PER_EPOCH / 60:.1f} min/epoch", flush=True)
  return out


def project(epoch_times: dict, num_graphs: int, workers: int, epochs: int,
            packs) -> list:
  """Rows per pack size: ASHA (graph per member) and no early stopping."""
  known = sorted(int(k) for k in epoch_times)
  rows = []
  for k in packs:
    if k in known:
      sec, how = epoch_times[k]["epoch_s"], "measured"
    else:  # per-member cost of the largest measured pack, times k
      big = known[-1]
      sec, how = epoch_times[big]["epoch_s"] * k / big, f"from pack {big}"
    for asha in (True, False):
      r = simulate(num_graphs, workers, epochs, k, sec, asha=asha)
      rows.append(dict(r, asha=asha, epoch_s=sec, how=how))
  return rows


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--measure", action="store_true")
  p.add_argument("--models", default="resnet32,resnet32,resnet32")
  p.add_argument("--image", type=int, default=32)
  p.add_argument("--channels", type=int, default=3)
  p.add_argument("--classes", type=int, default=100)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--packs", default="1,4,8,16")
  p.add_argument("--steps", type=int, default=3)
  p.add_argument("--strategy", default=None)
  p.add_argument("--out", default=None)
  p.add_argument("--epoch_times", default=None, help="JSON from --measure")
  p.add_argument("--graphs", type=int, default=1500)
  p.add_argument("--workers", type=int, default=30)
  p.add_argument("--epochs", type=int, default=200)
  a = p.parse_args()
  packs = [int(k) for k in a.packs.split(",")]
  if a.measure:
    times = measure(a.models.split(","), a.image, a.channels, a.classes,
                    a.batch, packs, a.steps, a.strategy)
    if a.out:
      with open(a.out, "w") as f:
        json.dump({"models": a.models, "image": a.image, "batch": a.batch,
                   "date": time.strftime("%Y-%m-%d %H:%M"),
                   "epoch_times": times}, f, indent=1)
    return
  with open(a.epoch_times) as f:
    epoch_times = {int(k): v for k, v in json.load(f)["epoch_times"].items()}
  rows = project(epoch_times, a.graphs, a.workers, a.epochs, packs)
  one = simulate(a.graphs, a.workers, a.epochs, 1, 1.0)
  print(f"ASHA, {a.graphs} graphs, {a.workers} workers, {a.epochs} epochs: "
        f"{one['member_epochs']} graph-epochs, {one['reached_last_epoch']} "
        f"reach epoch {a.epochs}; the published {PUBLISHED_GPU_HOURS} GPU-h "
        f"imply {3600 * PUBLISHED_GPU_HOURS / one['member_epochs']:.0f} s "
        "per graph-epoch on a Quadro P5000")
  print("| pack | ASHA | epoch s (pack) | how | accelerator-h | wall h "
        "(30 workers) | graph-epochs |")
  print("|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['pack']} | {'yes' if r['asha'] else 'no'} | "
          f"{r['epoch_s']:.0f} | {r['how']} | {r['accelerator_hours']:.0f} | "
          f"{r['wall_hours']:.1f} | {r['member_epochs']} |")


if __name__ == "__main__":
  main()
