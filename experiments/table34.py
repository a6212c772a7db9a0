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
``grid.teacher_seeds``). Resumable: a finished cell is ``<workdir>/cells/
<regime>_n<N>_<graph>.json`` and is skipped; a cell in progress continues
from its last checkpoint (every ``checkpoint_every`` epochs).
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

import common  # experiments/common.py: the scripts' command line
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


def cell_name(regime: str, n: int, graph: str) -> str:
  return f"{regime}_n{n}_{graph}"


def cells(config, only=None) -> list[tuple[str, int, int, str, tuple]]:
  """(regime, epochs, N, graph, 2-node gates) in run order: regimes as
  listed, then N, then graphs; ``only`` keeps those matching a prefix."""
  out = []
  for regime, epochs in config.grid.regimes:
    for n in config.grid.nodes:
      for graph, gates in config.grid.graphs:
        key = f"{regime}/{n}/{graph}"
        if not only or any(key == o or key.startswith(o + "/") for o in only):
          out.append((regime, int(epochs), int(n), graph, tuple(gates)))
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
      root, "runs", cell_name(regime, n, graph)), seeds=tuple(seeds))
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


def collect(workdir: str, path: str) -> int:
  cdir = os.path.join(workdir, "cells")
  names = sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []
  rows = []
  for name in names:
    if name.endswith(".json"):
      with open(os.path.join(cdir, name)) as f:
        rows.append(json.load(f))
  order = {"dml": 0, "all_correct": 1, "all_linear": 2, "best_extended": 3}
  rows.sort(key=lambda r: (r["regime"], r["nodes"],
                           order.get(r["graph"], 9), r["graph"]))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    for r in rows:
      f.write(json.dumps(r) + "\n")
  return len(rows)


def main(argv):
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
                        cell_name(regime, n, graph) + ".json")
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
