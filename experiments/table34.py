r"""Thesis Table 3.4 at CPU scale: accuracy of the target vs the number of nodes.

  python experiments/table34.py --config=experiments/configs/table34.py \
      --workdir=../t34-run --seeds=0,1,2
  # finished cells, copied into the repository (any time, also mid-run)
  python experiments/table34.py --workdir=../t34-run \
      --collect=benchmarks/results/table34.jsonl
  # only some cells: --only=short (a regime), --only=short/3 (and N),
  # --only=short/3/dml (one cell)

A cell is (regime, N, graph): the graph (a 2-node point of
``config.grid.graphs`` extended to N nodes, ``ktg_jax.search.extend``) trained
once per seed as one population (``training.fit(..., seeds=...)``), scored on
the validation split during training; after the last epoch the target is
read once on the test split (final runs: nothing is selected here).
Frozen auxiliary nodes (an all-Cutoff node of the pattern) load teachers
trained first (``ktg_jax.search.teachers``: the aux model alone, seeds
``grid.teacher_seeds``). Resumable: a finished (cell, seed set) is ``<workdir>/cells/
<regime>_n<N>_<graph>_seeds<s...>.json`` and is skipped; a cell in progress
continues from its last checkpoint (every ``checkpoint_every`` epochs).
Seeds can be added later (``--seeds=1``): ``--collect`` merges a cell's
disjoint seed sets into one row (member k of a population equals a run of
its seed alone, ``training.fit``).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time

from absl import flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
import jax

from ktg_jax.cli import common  # the scripts' command line
from ktg_jax import reproduce as rp
from ktg_jax import stats
from ktg_jax.core.step import node_modules, node_variables
from ktg_jax.run import scoring, training
from ktg_jax.search import extend, presets, teachers
# pylint: enable=wrong-import-position

_CONFIG = config_flags.DEFINE_config_file(
    "config", common.config_path("table34.py"), "the grid")
_WORKDIR = flags.DEFINE_string("workdir", None, "teachers, runs, cells")
_SEEDS = flags.DEFINE_list("seeds", None, "override config.seeds")
_ONLY = flags.DEFINE_list("only", None, "cells to run: regime[/N[/graph]]")
_COLLECT = flags.DEFINE_string(
    "collect", None, "write every finished cell (one JSON line each) to this "
    "file, then exit")
_REPORT = flags.DEFINE_string(
    "report", None, "read a collected JSONL (--collect's file), print the "
    "grid as a markdown table (mean ± std, Welch p vs DML at the same N) "
    "and draw the plot --plot, then exit")
_PLOT = flags.DEFINE_string("plot", None, "the report's picture (PNG)")


def cell_name(regime: str, n: int, graph: str) -> str:
  return f"{regime}_n{n}_{graph}"


def cells(config, only=None) -> list[tuple[str, int, int, str, tuple]]:
  """(regime, epochs, N, graph, 2-node gates): all cells in config order
  (regimes as listed, then N, then graphs), or — ``only`` given — the cells
  matching each of its ``regime[/N[/graph]]`` prefixes, in ``only``'s order
  (a priority list; each cell once)."""
  every = [(regime, int(epochs), int(n), graph, tuple(gates))
           for regime, epochs in config.grid.regimes
           for n in config.grid.nodes
           for graph, gates in config.grid.graphs]
  if not only:
    return every
  out = []
  for o in only:
    for c in every:
      key = f"{c[0]}/{c[2]}/{c[3]}"
      if (key == o or key.startswith(o + "/")) and c not in out:
        out.append(c)
  return out


def point(gates) -> dict:
  return dict(zip(extend.ROLES, gates))


def frozen_nodes(gates, n: int) -> list[int]:
  """The aux nodes of the extended graph that never learn."""
  full = extend.extend_point(point(gates), n)
  return [j for j in range(1, n)
          if all(full[f"gate_{s}_{j}"] == "cutoff"
                 for s in ["label", *range(n)] if s != j)]


def teacher_checkpoints(config, data, cfg, root, gates, n, log) -> dict:
  """{node: checkpoint} of the frozen nodes, their teachers trained first."""
  frozen = frozen_nodes(gates, n)
  if not frozen:
    return {}
  seeds = [config.grid.teacher_seeds[j - 1] for j in frozen]
  space = presets.get("ch3_4gates", 2, target_model=config.target,
                      aux_models=(config.aux,),
                      pretrained_checkpoints={
                          config.aux: teachers.template(config.aux)})
  tcfg = cfg.copy_and_resolve_references()
  tcfg.eval_every_epochs = 0  # its score: the last epoch's
  teachers.train(space, data, tcfg, root, seeds, log=log)
  return {j: os.path.join(root, teachers.template(config.aux).format(seed=s))
          for j, s in zip(frozen, seeds)}


def target_accuracy(spec, state, split, num_classes: int,
                    batch_size: int) -> float:
  """Top-1 accuracy of the target node alone on ``split``."""
  module = node_modules(spec, num_classes)[spec.target]
  variables = node_variables(state, spec.target)
  logits = jax.jit(lambda x: module.apply(variables, x, train=False)["logits"])
  return float(scoring.accuracy(lambda _, x: logits(x), None, split,
                                batch_size))


def load() -> str:
  with open("/proc/loadavg") as f:
    return " ".join(f.read().split()[:3])


def run_cell(config, data, regime, epochs, n, graph, gates, seeds, workdir,
             log) -> dict:
  cfg = rp.train_config(config)
  cfg.update(epochs=epochs, eval_split="val", verbose=False, resume=True,
             save_variables=False, pictures=False)
  root = os.path.join(workdir, regime)
  checkpoints = teacher_checkpoints(config, data, cfg, root, gates, n, log)
  models = [config.target] + [config.aux] * (n - 1)
  spec = extend.extended_spec(point(gates), models, checkpoints)
  load_start, wall, cpu = load(), time.time(), time.process_time()
  result = training.fit(spec, data, cfg, os.path.join(
      root, "runs", cell_file(regime, n, graph, seeds)[:-5]),
                        seeds=tuple(seeds))
  wall, cpu = time.time() - wall, time.process_time() - cpu
  hist = [m.history for m in result.members]
  val = [h[-1]["target_accuracy"] for h in hist]
  test = [target_accuracy(spec, m.state, data.test, data.num_classes,
                          cfg.eval_batch_size) for m in result.members]
  sv, st = stats.summarize(val), stats.summarize(test)
  return {
      "regime": regime, "epochs": epochs, "nodes": n, "graph": graph,
      "point": point(gates), "models": models,
      "frozen": {str(k): os.path.relpath(v, workdir)
                 for k, v in checkpoints.items()},
      "seeds": list(seeds), "val": val, "test": test,
      "val_mean": sv.mean, "val_std": sv.std,
      "test_mean": st.mean, "test_std": st.std,
      "curve": [[[h_["epoch"], h_["target_accuracy"]] for h_ in h
                 if h_["target_accuracy"] == h_["target_accuracy"]]
                for h in hist],
      "train_acc": [h[-1]["train_accuracy"][0] for h in hist],
      "val_all_nodes": [h[-1]["accuracy"] for h in hist],
      "train_pairs": int(len(data.train.labels)),
      "val_pairs": int(len(data.val.labels)),
      "test_pairs": int(len(data.test.labels)),
      "wall_s": wall, "cpu_s": cpu, "load_start": load_start,
      "load_end": load(),
      "finished": datetime.datetime.now(datetime.timezone.utc).strftime(
          "%Y-%m-%d %H:%M:%S UTC")}


def cell_file(regime: str, n: int, graph: str, seeds) -> str:
  """A finished (cell, seed set) file: ``<cell>_seeds<s1-s2...>.json``;
  runs of one cell with disjoint seed sets are merged by ``merge``."""
  return f"{cell_name(regime, n, graph)}_seeds{'-'.join(map(str, seeds))}.json"


PER_SEED = ("seeds", "val", "test", "curve", "train_acc", "val_all_nodes")


def merge(parts: list[dict]) -> dict:
  """One cell's records of disjoint seed sets as one record: the per-seed
  lists concatenated (sorted by seed), mean ± std recomputed, costs summed,
  the runs' loads listed."""
  parts = sorted(parts, key=lambda r: min(r["seeds"]))
  seeds = [s for r in parts for s in r["seeds"]]
  if len(set(seeds)) != len(seeds):
    raise ValueError(f"cell {cell_name(parts[0]['regime'], parts[0]['nodes'], parts[0]['graph'])}"
                     f": seeds {seeds} overlap; allowed: disjoint seed sets")
  out = {k: v for k, v in parts[0].items() if k not in PER_SEED}
  per_seed = sorted(zip(*[[x for r in parts for x in r[k]]
                          for k in PER_SEED]))
  out.update({k: [row[i] for row in per_seed]
              for i, k in enumerate(PER_SEED)})
  for split in ("val", "test"):
    sm = stats.summarize(out[split])
    out[f"{split}_mean"], out[f"{split}_std"] = sm.mean, sm.std
  out["wall_s"] = sum(r["wall_s"] for r in parts)
  out["cpu_s"] = sum(r["cpu_s"] for r in parts)
  out["runs"] = [{k: r[k] for k in ("seeds", "wall_s", "cpu_s", "load_start",
                                    "load_end", "finished")} for r in parts]
  for k in ("load_start", "load_end", "finished"):
    out.pop(k, None)
  return out


def collect(workdir: str, path: str) -> int:
  """Every finished cell under ``workdir`` (seed sets merged), one JSON
  line each, into ``path``; returns the number of cells."""
  cdir = os.path.join(workdir, "cells")
  names = sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []
  groups: dict = {}
  for name in names:
    if name.endswith(".json"):
      with open(os.path.join(cdir, name)) as f:
        r = json.load(f)
      groups.setdefault((r["regime"], r["nodes"], r["graph"]), []).append(r)
  rows = [merge(parts) for parts in groups.values()]
  order = {g: i for i, g in enumerate(GRAPH_ORDER)}
  rows.sort(key=lambda r: (r["epochs"], r["regime"], r["nodes"],
                           order.get(r["graph"], 9), r["graph"]))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    for r in rows:
      f.write(json.dumps(r) + "\n")
  return len(rows)


GRAPH_ORDER = ("dml", "all_correct", "all_linear", "best_extended")


def read_rows(path: str) -> list[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _span(values) -> str:
  lo, hi = min(values), max(values)
  return f"{lo:.3f}" if lo == hi else f"{lo:.3f}-{hi:.3f}"


def report_table(rows: list[dict]) -> str:
  """The grid as markdown: per regime, N and graph the target's validation
  and test accuracy (mean ± std over seeds, %, ddof 1) and Welch p against
  DML at the same regime and N."""
  by = {(r["regime"], r["nodes"], r["graph"]): r for r in rows}
  lines = ["| regime | N | graph | seeds | val. acc. % | p vs DML (val) "
           "| test acc. % | p vs DML (test) | target train acc. |",
           "|---|---|---|---|---|---|---|---|---|"]
  for regime in dict.fromkeys(r["regime"] for r in rows):
    for n in sorted({r["nodes"] for r in rows if r["regime"] == regime}):
      dml = by.get((regime, n, "dml"))
      for g in GRAPH_ORDER:
        r = by.get((regime, n, g))
        if r is None:
          continue
        p = lambda k: (stats.format_p(stats.welch_p(r[k], dml[k]))
                       if dml is not None and g != "dml" else "")
        lines.append(
            f"| {regime} | {n} | {g} | {len(r['seeds'])} | "
            f"{stats.mean_std(r['val_mean'], r['val_std'], scale=100)} | "
            f"{p('val')} | "
            f"{stats.mean_std(r['test_mean'], r['test_std'], scale=100)} | "
            f"{p('test')} | {_span(r['train_acc'])} |")
  return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: str) -> str:
  """Accuracy of the target vs N: one line per graph (mean, error bar = std
  over seeds), a column per regime, validation above and test below."""
  from ktg_jax.viz import figures  # pylint: disable=import-outside-toplevel
  regimes = list(dict.fromkeys(r["regime"] for r in rows))
  fig, axes = figures.subplots(2, len(regimes), figsize=(
      4.2 * len(regimes), 6.4), squeeze=False, sharey="row")
  handles = {}
  for col, regime in enumerate(regimes):
    for row, split in enumerate(("val", "test")):
      ax = axes[row][col]
      for color, g in enumerate(GRAPH_ORDER):
        pts = sorted((r["nodes"], 100 * r[f"{split}_mean"],
                      100 * r[f"{split}_std"]) for r in rows
                     if r["regime"] == regime and r["graph"] == g)
        if pts:
          xs, ms, ss = zip(*pts)
          handles[g] = ax.errorbar(xs, ms, yerr=[0 if s != s else s
                                                 for s in ss],
                                   marker="o", capsize=3, label=g,
                                   color=f"C{color}")
      epochs = next(r["epochs"] for r in rows if r["regime"] == regime)
      ax.set_title(f"{regime} ({epochs} epochs): {split}")
      ax.set_xlabel("nodes N")
      ax.set_xticks(sorted({r["nodes"] for r in rows}))
      ax.grid(alpha=0.3)
      if col == 0:
        ax.set_ylabel("target accuracy %")
  axes[0][0].legend([handles[g] for g in GRAPH_ORDER if g in handles],
                    [g for g in GRAPH_ORDER if g in handles], fontsize=8)
  return figures.save(fig, path)


def main(argv):
  if _REPORT.value:
    rows = read_rows(_REPORT.value)
    print(report_table(rows), end="")
    if _PLOT.value:
      print(f"plot -> {plot(rows, _PLOT.value)}")
    return
  common.check_command_line(argv, workdir=_WORKDIR.value)
  workdir = os.path.abspath(_WORKDIR.value)
  if _COLLECT.value:
    print(f"{collect(workdir, _COLLECT.value)} cells -> {_COLLECT.value}")
    return
  config = _CONFIG.value
  seeds = [int(s) for s in (_SEEDS.value or config.seeds)]
  start = time.time()

  def log(message):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")
    print(f"{now} +{(time.time() - start) / 60:.1f} min load {load()} "
          f"{message}", flush=True)

  todo = cells(config, _ONLY.value)
  log(f"{len(todo)} cells, seeds {seeds}")
  data = rp.load_data(config, config.val_fraction)
  os.makedirs(os.path.join(workdir, "cells"), exist_ok=True)
  for regime, epochs, n, graph, gates in todo:
    path = os.path.join(workdir, "cells",
                        cell_file(regime, n, graph, seeds))
    if os.path.exists(path):
      continue
    record = run_cell(config, data, regime, epochs, n, graph, gates, seeds,
                      workdir, log)
    with open(path + ".tmp", "w") as f:
      json.dump(record, f)
    os.replace(path + ".tmp", path)
    log(f"{cell_name(regime, n, graph)}: val "
        f"{stats.mean_std(record['val_mean'], record['val_std'], scale=100)}"
        f", test {stats.mean_std(record['test_mean'], record['test_std'], scale=100)}"
        f", train acc {[round(a, 3) for a in record['train_acc']]}, "
        f"{record['wall_s']:.0f} s wall, {record['cpu_s']:.0f} CPU-s")


if __name__ == "__main__":
  common.run(main)
