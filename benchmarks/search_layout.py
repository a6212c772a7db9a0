r"""Search throughput of CPU layouts: graphs trained per hour, ktg_jax and torch.

A KTG structure search on a CPU trains graph after graph; what a user feels is
graphs per hour at a fixed trial length. This runs the same trials (the
ch3_4gates space with the CPU protocol of the Fashion-MNIST table:
``experiments/configs/reproduce_fashion_pairs.py``: target resnet8, aux
wrn10_2, 3 nodes, fashion_pairs14, batch 64, SGD-Nesterov lr 0.05) under
several *layouts* of the machine's cores and reports, per layout, graphs/hour
and the trials' validation accuracy (a layout changes where the arithmetic
runs, never which: same graphs, same seeds, same steps).

Layouts (``LAYOUTS``; W workers = trials at once, each a process, as Ray's
workers are; T threads each):

* ``jax_1xall``: 1 trial, XLA's default threads (all cores);
* ``jax_2x1``: 2 trials side by side, one thread each
  (``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``);
* ``jax_2xall``: 2 trials, default threads each (oversubscribed: 2 x all);
* ``jax_split``: 1 trial, the batch split over 2 forced host devices
  (``data_parallel``, ``--xla_force_host_platform_device_count=2``);
* ``jax_split_1t``: the same with XLA's Eigen pool off (one thread per device);
* ``torch_1xall``, ``torch_2x1``, ``torch_2xall``: the PyTorch trial loop
  (``benchmarks/torch_reference.py``, one process per trial worker,
  ``torch.set_num_threads`` and ``OMP_NUM_THREADS``).

Trial i trains graph i (``space.sample`` with seed i: the same graphs in
every layout) for ``--epochs`` epochs and evaluates on the validation split
after each; worker w of W takes trials w, w + W, ... . ktg_jax trials go
through ``training.fit`` (what a search trial runs) with a JAX persistent
compilation cache per layout, shared by its workers (as ``search.py`` does).
Throughput = trials / (last trial end - first trial start), process start and
data loading excluded; ``steady`` excludes each worker's first trial
(compiles of a new structure still count when a later graph has one).

  python benchmarks/search_layout.py --out benchmarks/results/search_layout.json
  python benchmarks/search_layout.py --layouts jax_1xall,torch_1xall --trials 2 \
      --epochs 1 --limit 400         # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


class Layout(NamedTuple):
  framework: str   # "jax" or "torch"
  workers: int     # trials at once (processes)
  threads: int     # torch threads / XLA intra-op threads per worker; 0: default
  devices: int = 1  # jax: forced host devices, the batch split over them
  xla_flags: str = ""


LAYOUTS = {
    "jax_1xall": Layout("jax", 1, 0),
    "jax_2x1": Layout("jax", 2, 1, xla_flags=ONE_THREAD),
    "jax_2xall": Layout("jax", 2, 0),
    "jax_split": Layout("jax", 1, 0, devices=2),
    "jax_split_1t": Layout("jax", 1, 1, devices=2, xla_flags=ONE_THREAD),
    "torch_1xall": Layout("torch", 1, 0),
    "torch_2x1": Layout("torch", 2, 1),
    "torch_2xall": Layout("torch", 2, 0),
}


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--layouts", default=",".join(LAYOUTS))
  p.add_argument("--trials", type=int, default=4, help="graphs per layout")
  p.add_argument("--epochs", type=int, default=2, help="epochs per trial")
  p.add_argument("--dataset", default="fashion_pairs14")
  p.add_argument("--limit", type=int, default=2000)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--space", default="ch3_4gates")
  p.add_argument("--nodes", type=int, default=3)
  p.add_argument("--target", default="resnet8")
  p.add_argument("--aux", default="wrn10_2")
  p.add_argument("--out", default="")
  # child mode (one worker of a layout)
  p.add_argument("--child", default="", help=argparse.SUPPRESS)
  p.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
  p.add_argument("--cache_dir", default="", help=argparse.SUPPRESS)
  return p.parse_args(argv)


def space(args):
  from ktg_jax.search import presets
  return presets.get(args.space, args.nodes, target_model=args.target,
                    aux_models=(args.aux,))


def graph(args, i):
  """Trial i's graph: a uniform random point of the space, seed i."""
  import numpy as np
  sp = space(args)
  rng = np.random.default_rng(i)
  while True:  # as the searcher, only feasible points
    point = sp.sample(rng)
    if sp.feasible(point):
      return sp.to_spec(point), point


def load(args):
  from ktg_jax import data
  return data.sealed(data.from_config(args))  # dataset, limit


def jax_trial(args, layout, spec, d, seed):
  from ktg_jax.run import training
  cfg = training.default_config()
  cfg.update(dict(epochs=args.epochs, batch_size=args.batch,
                  learning_rate=0.05, lr_schedule="cosine", augment=False,
                  seed=seed, eval_split="val", checkpoint_every=0,
                  resume=False, save_variables=False, pictures=False,
                  verbose=False, data_parallel=layout.devices > 1))
  kinds = space(args).loss_kinds()
  if kinds:
    cfg.loss_kinds = kinds
  r = training.fit(spec, d, cfg, workdir=None)
  return r.final_target_accuracy


def torch_trial(args, layout, spec, d, seed):
  """The PyTorch trial loop: the reference step over shuffled batches, the
  target's validation accuracy after every epoch (as ``fit`` in search mode)."""
  import numpy as np
  import torch
  from benchmarks import torch_reference
  torch.manual_seed(seed)
  x, y = d.train.images, d.train.labels
  steps = len(x) // args.batch
  ref = torch_reference.TorchKTG(spec, num_classes=d.num_classes,
                                 total_steps=steps * args.epochs, lr=0.05,
                                 in_channels=x.shape[-1])
  rng = np.random.default_rng(seed)
  xv = torch_reference.nhwc_to_nchw(d.val.images)
  yv = torch.from_numpy(d.val.labels).long()
  acc = float("nan")
  for _ in range(args.epochs):
    order = rng.permutation(len(x))
    for s in range(steps):
      idx = order[s * args.batch:(s + 1) * args.batch]
      ref.step(torch_reference.nhwc_to_nchw(x[idx]),
               torch.from_numpy(y[idx]).long())
    model = ref.models[spec.target]
    model.eval()
    with torch.no_grad():
      pred = torch.cat([model(xv[i:i + 500]).argmax(1)
                        for i in range(0, len(xv), 500)])
    acc = float((pred == yv).float().mean())
  return acc


def child(args):
  """One worker: its share of the trials, one JSON line per trial."""
  layout = LAYOUTS[args.child]
  sys.path.insert(0, ROOT)
  if layout.framework == "torch":
    import torch
    if layout.threads:
      torch.set_num_threads(layout.threads)
  else:
    import jax
    if args.cache_dir:
      jax.config.update("jax_compilation_cache_dir", args.cache_dir)
      jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  d = load(args)
  run = torch_trial if layout.framework == "torch" else jax_trial
  for i in range(args.worker, args.trials, layout.workers):
    spec, _ = graph(args, i)
    t0 = time.time()
    acc = run(args, layout, spec, d, seed=i)
    print("TRIAL " + json.dumps({"trial": i, "worker": args.worker,
                                 "start": t0, "end": time.time(),
                                 "accuracy": acc}), flush=True)


def run_layout(args, name):
  layout = LAYOUTS[name]
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
             os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
  flags = env.get("XLA_FLAGS", "") + " " + layout.xla_flags
  if layout.devices > 1:
    flags += " --xla_force_host_platform_device_count=%d" % layout.devices
  env["XLA_FLAGS"] = flags.strip()
  if layout.threads:
    env["OMP_NUM_THREADS"] = str(layout.threads)
  cache = tempfile.mkdtemp(prefix=f"layout_{name}_")
  base = [sys.executable, os.path.abspath(__file__), "--child", name,
          "--trials", str(args.trials), "--epochs", str(args.epochs),
          "--dataset", args.dataset, "--limit", str(args.limit), "--batch",
          str(args.batch), "--space", args.space, "--nodes", str(args.nodes),
          "--target", args.target, "--aux", args.aux, "--cache_dir", cache]
  t0 = time.time()
  procs = [subprocess.Popen(base + ["--worker", str(w)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True) for w in range(layout.workers)]
  trials = []
  for p in procs:
    out, err = p.communicate()
    if p.returncode:
      raise RuntimeError(f"{name}: worker failed:\n{err[-3000:]}")
    trials += [json.loads(l[6:]) for l in out.splitlines()
               if l.startswith("TRIAL ")]
  wall = time.time() - t0
  trials.sort(key=lambda t: t["trial"])
  span = max(t["end"] for t in trials) - min(t["start"] for t in trials)
  firsts = {}
  for t in sorted(trials, key=lambda t: t["start"]):
    firsts.setdefault(t["worker"], t)
  later = [t for t in trials if t is not firsts[t["worker"]]]
  # steady state: W workers each busy on later trials; graphs/hour = W / mean
  steady = (layout.workers * 3600 / statistics.mean(
      t["end"] - t["start"] for t in later)) if later else None
  row = {"layout": name, **layout._asdict(), "trials": len(trials),
         "span_s": round(span, 1), "process_wall_s": round(wall, 1),
         "graphs_per_hour": round(len(trials) * 3600 / span, 1),
         "graphs_per_hour_steady": steady and round(steady, 1),
         "trial_s": [round(t["end"] - t["start"], 1) for t in trials],
         "val_accuracy": [round(t["accuracy"], 4) for t in trials]}
  print(json.dumps(row), flush=True)
  return row


def uptime():
  return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv=None):
  args = parse(argv)
  if args.child:
    return child(args)
  sys.path.insert(0, ROOT)
  from benchmarks import step_speed
  names = args.layouts.split(",")
  unknown = [n for n in names if n not in LAYOUTS]
  if unknown:
    raise SystemExit(f"--layouts has {unknown}; allowed: {sorted(LAYOUTS)}")
  graphs = [str(graph(args, i)[1]) for i in range(args.trials)]
  result = {"command": " ".join(["python benchmarks/search_layout.py"]
                                + (argv if argv is not None else sys.argv[1:])),
            "env": step_speed.environment(), "uptime_before": uptime(),
            "graphs": graphs, "layouts": []}
  print(json.dumps(result), flush=True)
  for name in names:
    result["layouts"].append(run_layout(args, name))
  result["uptime_after"] = uptime()
  best = {}
  for row in result["layouts"]:
    fw = row["framework"]
    if fw not in best or row["graphs_per_hour"] > best[fw]["graphs_per_hour"]:
      best[fw] = row
  result["best"] = {fw: r["layout"] for fw, r in best.items()}
  if {"jax", "torch"} <= set(best):
    result["graphs_per_hour ktg_jax/torch (best layouts)"] = round(
        best["jax"]["graphs_per_hour"] / best["torch"]["graphs_per_hour"], 3)
  print(json.dumps({k: v for k, v in result.items() if k != "layouts"}))
  step_speed.write_json(result, args.out)


if __name__ == "__main__":
  main()
