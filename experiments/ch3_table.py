r"""The tabulated 2-node ch.3 benchmark: every graph of the space trained.

  python experiments/ch3_table.py --config=experiments/configs/ch3_table.py \
      --workdir=runs/ch3_table --seeds=0
  # more seeds for the reference graphs and the 24 best at seed 0 only
  python experiments/ch3_table.py --config=experiments/configs/ch3_table.py \
      --workdir=runs/ch3_table --seeds=1,2 --top=24
  # the finished rows, copied into the repository (any time, also mid-run)
  python experiments/ch3_table.py --config=experiments/configs/ch3_table.py \
      --workdir=runs/ch3_table --collect=benchmarks/results/ch3_table.jsonl

Space (``table_space``): target ``config.target``, one auxiliary node
``config.aux``, the four gates {through, cutoff, linear, correct} on the four
edges label->0, label->1, 1->0, 0->1: 256 assignments, less the 16 whose
target gets only Cutoff = 240 graphs. An auxiliary node whose incoming edges
are all Cutoff is the pre-trained auxiliary (KD's frozen teacher): the aux
model alone on the labels in the same regime, one teacher per seed
(``ktg_jax.search.teachers``), trained first.

Every (graph, seed) is one ``training.fit`` run of the library's exhaustive
sweep (``ktg_jax.search.exhaustive``), scored on the validation split after
every epoch (the test split is sealed); a record per line in
``<workdir>/seed<s>/shard<k>/results.jsonl`` (the contract: exhaustive's
docstring). Seeds run one after another (all graphs at the first seed,
then the next); the reference graphs (``config.table.first``: Vanilla-like,
DML, KD, the thesis's 2-node graph) first. ``config.table.shards`` > 1 runs
that many single-threaded processes, each a disjoint share of the packs.

Resume after a kill (kill -9 included): run the same command again; finished
teachers and graphs are read back, the graph in progress continues from its
last epoch checkpoint.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

from absl import flags
import numpy as np

from ktg_jax.cli import common  # the scripts' command line
from ktg_jax import reproduce as rp
from ktg_jax.search import exhaustive, presets, spaces, teachers
from ktg_jax.search.presets import FOUR_GATES

_CONFIG = common.define_config("ch3_table.py", "the table's regime")
_WORKDIR = flags.DEFINE_string("workdir", None, "teachers, sweeps, results")
_SEEDS = flags.DEFINE_list("seeds", "0,1", "seeds of every graph (one "
                           "sweep each, in order)")
_SHARD = flags.DEFINE_integer("shard", None, "internal: this process's shard")
_TOP = flags.DEFINE_integer(
    "top", None, "train only the reference graphs and the TOP best graphs "
    "by validation score at --ranked_seed (all its graphs finished): more "
    "seeds for the table's best, as issue 23 allows when the budget is short")
_RANKED_SEED = flags.DEFINE_integer("ranked_seed", 0, "the seed --top ranks")
_REPORT = flags.DEFINE_string(
    "report", None, "read the collected table (this JSONL path) and write "
    "what it says into --workdir: report.md, edf.png, edf_edges.png")
_COLLECT = flags.DEFINE_string(
    "collect", None, "write the finished rows (results.jsonl lines, sorted "
    "by seed and index) to this file and the teachers' records beside it "
    "(<name>_teachers.jsonl), then exit")

EDGES = ("gate_label_0", "gate_label_1", "gate_1_0", "gate_0_1")


def table_space(config) -> spaces.SearchSpace:
  """The 2-node 4-gate ch.3 space with a per-seed frozen teacher."""
  return presets.get("ch3_4gates", 2, target_model=config.target,
                    aux_models=(config.aux,), fixed={"model_1": config.aux},
                    gates=tuple(config.table.get("gates", FOUR_GATES)),
                    pretrained_checkpoints={
                        config.aux: teachers.template(config.aux)})


def first_indices(space, named) -> list[int]:
  """Indices (in ``exhaustive.points``) of the reference graphs, in order."""
  pts = exhaustive.points(space)
  out = []
  for name, gates in named:
    point = dict(zip(EDGES, gates))
    if point not in pts:
      raise ValueError(f"table.first[{name!r}]={gates!r} is not a feasible "
                       f"point; allowed: gates of {EDGES} from "
                       f"{space.gates}, target not all-Cutoff")
    out.append(pts.index(point))
  return out


def sweep_dir(workdir: str, seed: int, shard: int) -> str:
  return os.path.join(workdir, f"seed{seed}", f"shard{shard}")


def finished(workdir: str) -> dict[tuple, dict]:
  """Every finished row under ``workdir``, keyed by (index, seed)."""
  rows = {}
  for seed_dir in sorted(os.listdir(workdir)):
    if not seed_dir.startswith("seed"):
      continue
    for shard in sorted(os.listdir(os.path.join(workdir, seed_dir))):
      rows.update(exhaustive.read_results(os.path.join(workdir, seed_dir,
                                                       shard)))
  return rows


def top_indices(rows, n_graphs: int, top: int, seed: int,
                first) -> list[int]:
  """The reference graphs and the ``top`` best graphs by ``score`` at
  ``seed`` (ties: the lower index), sorted. Every one of the ``n_graphs``
  graphs must be finished at ``seed``, so the set cannot change while the
  extra seeds run.

  >>> rows = [{"index": i, "seed": 0, "score": s}
  ...         for i, s in enumerate([.3, .5, .4, .5])]
  >>> top_indices(rows, 4, 2, 0, first=[0])
  [0, 1, 3]
  """
  score = {r["index"]: r["score"] for r in rows if r["seed"] == seed}
  missing = sorted(set(range(n_graphs)) - set(score))
  if missing:
    raise ValueError(f"--top needs every graph finished at --ranked_seed="
                     f"{seed}; {len(missing)} are not (first: {missing[:5]})")
  ranked = sorted(score, key=lambda i: (-score[i], i))
  return sorted(set(first) | set(ranked[:top]))


def collect(workdir: str, path: str) -> tuple[int, int]:
  """Copies every finished row under ``workdir`` into ``path`` (JSONL,
  sorted by (seed, index), one line per (graph, seed)) and the teachers'
  records into ``<path stem>_teachers.jsonl``; returns both counts."""
  rows = finished(workdir)
  found = []
  tdir = os.path.join(workdir, "teachers")
  for name in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else ():
    record = teachers.read(os.path.join(tdir, name, "variables", "node0"))
    if record is not None:
      found.append(record)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    for key in sorted(rows, key=lambda k: (k[1], k[0])):
      f.write(json.dumps(rows[key]) + "\n")
  with open(os.path.splitext(path)[0] + "_teachers.jsonl", "w") as f:
    for r in sorted(found, key=lambda r: (r["model"], r["seed"])):
      f.write(json.dumps(r) + "\n")
  return len(rows), len(found)


def _gates(point) -> str:
  return " / ".join(point[e] for e in EDGES)


def write_report(rows: list[dict], config, out_dir: str,
                 seed: int = 0) -> str:
  """What the table says (issue 23 part 3), from the collected rows:
  ``report.md`` (the reference graphs' ranks, the best graphs with every
  seed they have, per-edge gate marginals, runs that are the same run) and
  two EDF pictures of the target's validation error at ``seed``
  (``ktg_jax.search.edf``, 003's curves): all graphs with the reference
  graphs marked, and one panel per edge with one curve per gate."""
  from ktg_jax.search import edf  # pylint: disable=import-outside-toplevel
  from ktg_jax.viz import figures  # pylint: disable=import-outside-toplevel
  os.makedirs(out_dir, exist_ok=True)
  at = [r for r in rows if r["seed"] == seed]
  rank = exhaustive.ranks(rows, seed)
  point = {r["index"]: r["point"] for r in at}
  seeds_of: dict[int, list[float]] = {}
  for r in rows:
    seeds_of.setdefault(r["index"], []).append(r["score"])
  named = {}
  for name, gates in config.table.first:
    want = dict(zip(EDGES, gates))
    named.update({i: name for i, p in point.items() if p == want})
  errors = np.sort([1 - r["score"] for r in at])
  fig, ax = figures.subplots(figsize=(5.2, 3.6))
  ax.step(np.concatenate([[errors[0]], errors]),
          np.arange(len(errors) + 1) / len(errors), where="post",
          color="#1d3557", label=f"all {len(errors)} graphs")
  for (i, name), color in zip(sorted(named.items(), key=lambda x: x[1]),
                              ("#e63946", "#2a9d8f", "#f4a261", "#6a4c93",
                               "#8d99ae")):
    ax.axvline(1 - rank[i][1], color=color, ls="--", lw=1,
               label=f"{name} (rank {rank[i][0]})")
  ax.set_xlabel("error (1 - target validation accuracy)")
  ax.set_ylabel("F(e): share of graphs below e")
  ax.set_title(f"ch.3 2-node table, seed {seed}", fontsize=9)
  ax.legend(fontsize=7, loc="lower right")
  figures.save(fig, os.path.join(out_dir, "edf.png"))
  fig, axes = figures.subplots(2, 2, figsize=(8, 6), sharex=True,
                               sharey=True)
  for ax, e in zip(axes.flat, EDGES):
    for v, cu in edf.curves(at, e, floor=0.0).items():
      ax.step(np.concatenate([[cu.errors[0]], cu.errors]),
              np.arange(cu.n + 1) / cu.n, where="post",
              label=f"{v} (n={cu.n})")
    ax.set_title(e, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
  for ax in axes[1]:
    ax.set_xlabel("error")
  for ax in axes[:, 0]:
    ax.set_ylabel("F(e)")
  figures.save(fig, os.path.join(out_dir, "edf_edges.png"))
  lines = [f"# The ch.3 2-node table at seed {seed}: {len(at)} graphs", "",
           "Target validation accuracy (%) at the last epoch; gates in the "
           f"order {' / '.join(EDGES)}.", "",
           "| graph | gates | accuracy | rank of "
           f"{len(at)} | every seed |", "|---|---|---|---|---|"]
  for i, name in sorted(named.items(), key=lambda x: rank[x[0]][0]):
    lines.append(f"| {name} | {_gates(point[i])} | {100 * rank[i][1]:.2f} "
                 f"| {rank[i][0]} | "
                 f"{', '.join(f'{100 * s:.2f}' for s in seeds_of[i])} |")
  lines += ["", "The 12 best (the top 5 %):", "",
            "| index | gates | accuracy | rank | mean of every seed (n) |",
            "|---|---|---|---|---|"]
  for i in sorted(rank, key=lambda i: (rank[i][0], i))[:12]:
    every = seeds_of[i]
    lines.append(f"| {i} | {_gates(point[i])} | {100 * rank[i][1]:.2f} | "
                 f"{rank[i][0]} | {100 * np.mean(every):.2f} "
                 f"({len(every)}) |")
  lines += ["", "Per edge and gate: the graphs with that gate on that edge "
            "(accuracy %; 003's EDF read as numbers):", "",
            "| edge | gate | graphs | mean | median | best |",
            "|---|---|---|---|---|---|"]
  for e in EDGES:
    for v, cu in edf.curves(at, e, floor=0.0).items():
      acc = 100 * (1 - cu.errors)
      lines.append(f"| {e} | {v} | {cu.n} | {acc.mean():.2f} | "
                   f"{np.median(acc):.2f} | {acc.max():.2f} |")
  groups = exhaustive.same_runs(rows, seed)
  lines += ["", f"Distinct runs: {len(groups)} of {len(at)} graphs "
            f"({sum(len(g) > 1 for g in groups)} groups of graphs whose "
            "per-epoch curves are equal: a Correct gate on a label edge "
            "trains what Through trains)."]
  path = os.path.join(out_dir, "report.md")
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  return path


def _data(config):
  """The training split and ``config.val_fraction`` of it held out; the
  test split sealed (reading it raises): the table is validation only."""
  from ktg_jax import data as data_lib  # pylint: disable=import-outside-toplevel
  return data_lib.sealed(rp.load_data(config, config.val_fraction))


def _log(prefix: str):
  start = time.time()

  def log(message: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")
    print(f"{now} +{(time.time() - start) / 60:.1f} min {prefix}{message}",
          flush=True)
  return log


def _children(argv, seed: int, n: int, log) -> None:
  """Runs the n shards of ``seed`` as single-threaded child processes."""
  env = {**os.environ, "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") +
                                     " --xla_cpu_multi_thread_eigen=false"
                                     ).strip()}
  args = [a for a in argv[1:] if not a.startswith(("--shard=", "--seeds="))]
  procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), *args,
                             f"--seeds={seed}", f"--shard={k}"], env=env)
           for k in range(n)]
  codes = [p.wait() for p in procs]
  if any(codes):
    raise SystemExit(f"seed {seed}: shard exit codes {codes}")
  log(f"seed {seed}: all {n} shards finished")


def main(argv):
  common.check_command_line(argv, workdir=_WORKDIR.value)
  config, workdir = _CONFIG.value, os.path.abspath(_WORKDIR.value)
  if _REPORT.value:
    with open(_REPORT.value) as f:
      rows = [json.loads(line) for line in f if line.strip()]
    print(f"{len(rows)} rows -> {write_report(rows, config, workdir)}")
    return
  if _COLLECT.value:
    n, t = collect(workdir, _COLLECT.value)
    print(f"{n} rows and {t} teachers -> {_COLLECT.value}")
    return
  seeds = list(common.parse_seeds(_SEEDS.value))
  n = int(config.table.shards)
  shard = _SHARD.value
  log = _log("" if shard is None else f"[seed {seeds[0]} shard {shard}] ")
  space = table_space(config)
  first = first_indices(space, config.table.first)
  only = None
  if _TOP.value is not None:
    only = top_indices(finished(workdir).values(),
                       len(exhaustive.points(space)), _TOP.value,
                       _RANKED_SEED.value, first)
  cfg = rp.train_config(config)
  cfg.update(verbose=False, eval_split="val", eval_every_epochs=1)
  data = None
  if shard is None:
    log(f"{space.describe()}; {len(exhaustive.points(space))} graphs, "
        f"seeds {seeds}, {n} shard(s), reference graphs first: "
        f"{[name for name, _ in config.table.first]} = indices {first}" +
        ("" if only is None else f"; only these {len(only)} (the reference "
         f"graphs and the {_TOP.value} best at seed {_RANKED_SEED.value}): "
         f"{only}"))
  for seed in seeds:
    if shard is None:  # the teachers before any graph (shards share them)
      if any(teachers.read(c) is None
             for _, _, c in teachers.needed(space, [seed], workdir)):
        data = data or _data(config)
        teachers.train(space, data, cfg, workdir, [seed], log=log)
      if n > 1:
        _children(sys.argv, seed, n, log)
        continue
    data = data or _data(config)
    exhaustive.run(space, data, cfg, sweep_dir(workdir, seed, shard or 0),
                   repeats=(seed,), pack_size=int(config.table.pack_size),
                   first=first, only=only, teachers_first=False,
                   teachers_dir=workdir,
                   shard=(shard or 0, n), log=log)
    log(f"seed {seed} done")


if __name__ == "__main__":
  common.run(main)
