r"""Steps/s of the KTG step: ktg_jax vs the PyTorch reference, side by side.

For 1..4 nodes (target ResNet-32; auxiliaries WRN-28-2, ResNet-32,
ResNet-110, docs/papers.md §6's graphs), batch 64 of 32x32x3, DML edges (every edge
Through, KL): ktg_jax (jit, state donated), torch eager, optionally
torch.compile, and each node's model trained alone in both frameworks (the
floor: N nodes should cost about the sum of their nodes). Runners are timed
A B A B interleaved in one process; ratios are medians of per-round ratios.
Also: a population of K graphs in one vmapped program vs K sequential steps,
and peak RSS of each framework in its own child process.

Threads: ``--threads`` sets torch's intra-op threads and XLA's Eigen pool
alike (XLA_FLAGS must be set before jax is imported, hence the early parse).

Node split: framework ``jax_nodes`` runs the same DML graph with each group of
nodes of one model as one forward split over all devices
(``compile(node_mesh=)``, ktg_jax/parallel/node_axis.py); on a CPU ``--devices N``
forces N host devices (an XLA flag, set before jax is imported, like
``--threads``); ``jax`` then still runs on one of them.

  python benchmarks/step_speed.py --frameworks jax,jax_nodes --devices 2 \
      --nodes 2,4 --models resnet32,resnet32,resnet32,resnet32 --no_floor

  python benchmarks/step_speed.py --quick                 # a few minutes
  python benchmarks/step_speed.py --nodes 1,2,3,4 --steps 3 --rounds 5 \
      --out benchmarks/results/full.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--nodes", default="1,2,3,4", help="graph sizes to run")
  p.add_argument("--models", default="resnet32,wrn28_2,resnet32,resnet110",
                 help="node i's model; the first N are used for N nodes")
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--image", type=int, default=32)
  p.add_argument("--classes", type=int, default=100)
  p.add_argument("--steps", type=int, default=3, help="steps per timed block")
  p.add_argument("--rounds", type=int, default=5, help="A/B rounds")
  p.add_argument("--threads", type=int, default=0,
                 help="intra-op threads of both frameworks (0: their default)")
  p.add_argument("--frameworks", default="jax,torch",
                 help="of jax, jax_nodonate, jax_dw9, jax_dp, jax_nodes, torch, "
                 "torch_compile, torch_cl")
  p.add_argument("--no_floor", action="store_true",
                 help="skip the single-node runs")
  p.add_argument("--population", type=int, default=0,
                 help="K: also time K graphs vmapped vs K sequential")
  p.add_argument("--population_models", default="resnet20,resnet20")
  p.add_argument("--seeds", action="store_true",
                 help="population = one graph under K seeds (same edges)")
  p.add_argument("--rss", action="store_true",
                 help="peak RSS per framework, each in a child process")
  p.add_argument("--xla_flags", default="", help="appended to XLA_FLAGS")
  p.add_argument("--devices", type=int, default=0,
                 help="CPU: force this many host devices (jax_dp splits the "
                 "batch over them, jax_nodes the nodes; 0: as jax finds)")
  p.add_argument("--quick", action="store_true",
                 help="2 nodes of small models, 16x16 images, 2 rounds")
  p.add_argument("--out", default="", help="write the results as JSON")
  args = p.parse_args(argv)
  if args.quick:
    args.nodes, args.models, args.image = "1,2", "resnet8,resnet8", 16
    args.rounds, args.steps = min(args.rounds, 3), 2
  return args


def set_threads(args):
  """Before jax is imported: XLA reads XLA_FLAGS once."""
  flags = os.environ.get("XLA_FLAGS", "") + " " + args.xla_flags
  if getattr(args, "devices", 0):  # op_profile.py has no --devices
    flags += " --xla_force_host_platform_device_count=%d" % args.devices
  if args.threads:
    flags += (" --xla_cpu_multi_thread_eigen=%s intra_op_parallelism_threads=%d"
              % ("true" if args.threads > 1 else "false", args.threads))
  os.environ["XLA_FLAGS"] = flags.strip()


def environment():
  import jax
  import torch
  cpu = subprocess.run("lscpu | grep 'Model name' | cut -d: -f2",
                       shell=True, capture_output=True, text=True).stdout
  return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu.strip(),
          "cores": os.cpu_count(), "jax": jax.__version__,
          "jax_backend": jax.default_backend(), "torch": torch.__version__,
          "python": platform.python_version(),
          "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "torch_threads": torch.get_num_threads()}


# Frameworks that split the step over all devices (harness.jax_runner's split).
SPLITS = {"jax_dp": "data", "jax_nodes": "nodes"}


def graph_runners(args, models, frameworks, x, y):
  """Runners of one graph (DML edges) in each framework, same weights."""
  from benchmarks import harness as h
  import ktg_jax as ktg
  spec = ktg.classic.dml(list(models))
  tag = "+".join(models)
  runners, jax_state = [], None
  for fw in frameworks:
    if fw.startswith("jax"):
      r, _, jax_state = h.jax_runner(f"{fw}:{tag}", spec, x, y,
                                     num_classes=args.classes,
                                     donate=fw != "jax_nodonate",
                                     fast_conv=fw == "jax_dw9",
                                     split=SPLITS.get(fw))
      runners.append(r)
  for fw in frameworks:
    if fw.startswith("torch"):
      try:
        runners.append(h.torch_runner(
            f"{fw}:{tag}", spec, x, y, num_classes=args.classes,
            compile_mode="default" if fw == "torch_compile" else None,
            channels_last=fw == "torch_cl"))
      except Exception as e:  # torch.compile needs a working C++ toolchain
        print(f"# {fw}:{tag} failed: {type(e).__name__}: {e}"[:400])
  return runners


def run_graphs(args, x, y):
  from benchmarks import harness as h
  models = args.models.split(",")
  frameworks = args.frameworks.split(",")
  out = []
  for n in map(int, args.nodes.split(",")):
    used = models[:n]
    runners = graph_runners(args, used, frameworks, x, y)
    singles = sorted(set(used)) if not args.no_floor and n > 1 else []
    for m in singles:
      runners += graph_runners(args, [m], [f for f in frameworks
                                           if f in ("jax", "torch")], x, y)
    rates = h.interleave(runners, args.steps, args.rounds)
    row = {"nodes": n, "models": used,
           "init_s": {r.name: round(r.init_s, 2) for r in runners},
           "first_step_s": {r.name: round(r.setup_s, 2) for r in runners},
        "steps_per_s": h.summary(rates)}
    tag = "+".join(used)
    for fw in frameworks:
      if fw != "torch" and f"{fw}:{tag}" in rates and f"torch:{tag}" in rates:
        row[f"ratio {fw}/torch"] = h.paired_ratio(rates, f"{fw}:{tag}",
                                                  f"torch:{tag}")
    for fw in ("jax", "torch"):
      if singles and f"{fw}:{tag}" in rates:
        # floor: 1 / sum over nodes of each model's single-node step time
        floor = [1 / sum(1 / a for a in (rates[f"{fw}:{m}"][i] for m in used))
                 for i in range(args.rounds)]
        row[f"{fw} graph/floor"] = h.statistics.median(
            g / f for g, f in zip(rates[f"{fw}:{tag}"], floor))
    print(json.dumps(row), flush=True)
    out.append(row)
  return out


def run_population(args, x, y):
  """K graphs of one structure: one vmapped step vs K sequential steps."""
  import jax
  import numpy as np
  import ktg_jax as ktg
  from benchmarks import harness as h
  from ktg_jax.core import gates
  k, models = args.population, args.population_models.split(",")
  specs = [ktg.classic.dml(models) for _ in range(k)]
  # different gates per graph: the edge tables differ, the structure does not
  for i, s in enumerate(specs if not args.seeds else ()):
    edges = dict(s.edges)
    edges[(1, 0)] = gates.Sine(f=i / max(k, 1), phi=1.0)
    specs[i] = ktg.GraphSpec(nodes=s.nodes, edges=edges)
  program = ktg.compile(specs[0], num_classes=args.classes, total_steps=10**6,
                        optimizer=ktg.optim.sgd(0.1), jit=False)
  b = {"image": jax.device_put(x), "label": jax.device_put(y)}
  tables = ktg.stack_edge_tables([s.edge_table() for s in specs])
  init = jax.jit(jax.vmap(program.init, in_axes=(0, None, 0)))
  t0 = time.perf_counter()
  pop = init(jax.random.split(jax.random.PRNGKey(0), k), x, tables)
  vstep = jax.jit(jax.vmap(program.step, in_axes=(0, None)), donate_argnums=0)
  pop, _ = vstep(pop, b)
  jax.block_until_ready(pop)
  setup_v = time.perf_counter() - t0
  step = jax.jit(program.step, donate_argnums=0)
  states = [jax.tree_util.tree_map(lambda a, i=i: a[i], pop) for i in range(k)]
  t0 = time.perf_counter()
  states[0], _ = step(states[0], b)
  jax.block_until_ready(states[0])
  setup_s = time.perf_counter() - t0
  box = {"v": pop, "s": states}

  def run_v(steps):
    p, t = box["v"], time.perf_counter()
    for _ in range(steps):
      p, m = vstep(p, b)
    jax.block_until_ready((p, m))
    box["v"] = p
    return time.perf_counter() - t

  def run_s(steps):
    ss, t = box["s"], time.perf_counter()
    for _ in range(steps):
      ss = [step(s, b)[0] for s in ss]
    jax.block_until_ready(ss)
    box["s"] = ss
    return time.perf_counter() - t
  runners = [h.Runner("vmap", setup_v, run_v), h.Runner("sequential", setup_s,
                                                         run_s)]
  rates = h.interleave(runners, args.steps, args.rounds)
  row = {"population": k, "models": models,
         "mode": "seeds" if args.seeds else "graphs",
         "graph_steps_per_s": {n: v["median"] * k for n, v in
                               h.summary(rates).items()},
         "first_step_s": {r.name: round(r.setup_s, 2) for r in runners},
         "ratio vmap/sequential": h.paired_ratio(rates, "vmap", "sequential")}
  del np
  print(json.dumps(row), flush=True)
  return row


def rss_children(args):
  """Peak RSS of each framework alone (one child process each, 2 steps)."""
  out = {}
  for fw in args.frameworks.split(","):
    cmd = [sys.executable, os.path.abspath(__file__), "--nodes",
           args.nodes.split(",")[-1], "--models", args.models, "--batch",
           str(args.batch), "--image", str(args.image), "--classes",
           str(args.classes), "--steps", "1", "--rounds", "1", "--frameworks",
           fw, "--no_floor", "--threads", str(args.threads), "--child_rss"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [l for l in res.stdout.splitlines() if l.startswith("RSS_MIB")]
    out[fw] = float(lines[-1].split()[1]) if lines else res.stderr[-300:]
  print(json.dumps({"peak_rss_mib": out}), flush=True)
  return out


def write_json(result, path: str) -> None:
  """Writes a benchmark's result dict to ``path`` (nothing when empty)."""
  if path:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
      json.dump(result, f, indent=1)


def print_ratios(result) -> None:
  """One line per graph: steps/s of each runner and its ratio to torch eager."""
  env = result["env"]
  print(f"# {env['date']}  {env['cpu']}, {env['cores']} cores, backend "
        f"{env['jax_backend']}, torch threads {env['torch_threads']}, "
        f"XLA_FLAGS='{env['xla_flags']}'")
  for row in result["graphs"]:
    rates = "  ".join(f"{name.split(':')[0]} {v['median']:.3f}" for name, v
                      in row["steps_per_s"].items() if name.split(":")[1] ==
                      "+".join(row["models"]))
    ratios = "  ".join(f"{k.split()[1]} {v:.2f}" for k, v in row.items()
                       if k.startswith("ratio"))
    print(f"# {'+'.join(row['models'])}: steps/s {rates} | {ratios}")


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  child = "--child_rss" in argv
  args = parse([a for a in argv if a != "--child_rss"])
  set_threads(args)
  sys.path.insert(0, ROOT)
  import torch
  if args.threads:
    torch.set_num_threads(args.threads)
  from benchmarks import harness as h
  x, y = h.batch(args.batch, args.image, args.classes)
  result = {"command": " ".join(["python benchmarks/step_speed.py"] + argv),
            "env": environment()}
  print(json.dumps(result), flush=True)
  result["graphs"] = run_graphs(args, x, y) if args.nodes else []
  if child:
    print("RSS_MIB", h.peak_rss_mib())
    return
  if args.population:
    result["population"] = run_population(args, x, y)
  if args.rss:
    result["peak_rss_mib"] = rss_children(args)
  print_ratios(result)
  write_json(result, args.out)


if __name__ == "__main__":
  main()
