r"""Thesis Table 3.2 (ch.3) reproduced: every row 5 seeds, Welch p-values.

  # our scale (CPU): 100-class Fashion-MNIST pairs (see the config's docstring)
  python experiments/reproduce.py \
      --config=experiments/configs/reproduce_fashion_pairs.py \
      --workdir=runs/reproduce
  # the published protocol (CIFAR-100, 200 epochs; for a GPU)
  python experiments/reproduce.py \
      --config=experiments/configs/reproduce_ch3_cifar100.py --workdir=...

Rows (``ktg_jax.reproduce.ROWS``, chosen by ``config.rows`` in order, e.g.
``--config.rows=vanilla,kd``):
Vanilla, KD (frozen aux teacher trained first, T = 2), DML (two targets),
DML (target + aux), KTG 2 / 3 nodes with the 4 classic gates and 3 nodes
with Sine gates (random graphs + ASHA on the validation split), KTG with
gamma gates (Nevergrad BO, no early stopping). Searches see a sealed data
set (the test split raises); every row is then retrained on the whole
training split with ``--seeds`` (5, docs/papers.md §4) and scored on the
test split once.
Run the same command again after a kill: finished rows are read back from
``<workdir>/rows/*.json`` and the row in progress resumes from ``fit``'s
checkpoints. Writes ``<workdir>/table.md``, ``table.json`` and, for searched
rows, ``<workdir>/search/<row>/best_graph.png``.
Installed, the same command is ``ktg-reproduce`` (docs/cli.md).
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np


from ktg_jax.cli import common  # the scripts' command line
from ktg_jax import reproduce as rp
from ktg_jax import stats
from ktg_jax.search import progress
from ktg_jax.search import report
from ktg_jax.search import tune as st
from ktg_jax import data as data_lib
from ktg_jax.run import training
from ktg_jax.core import spec as graph_lib
from ktg_jax.search import presets
from ktg_jax.run import seeds as seeds_lib

_CONFIG = None  # set by define_flags
_WORKDIR = None  # set by define_flags
_SEEDS = None  # set by define_flags


def define_flags() -> None:
  """Defines the command's flags when it runs (``cli``), not on import:
  absl flags are global, and ``ktg_jax.cli``'s commands share names
  (--config, --workdir, --seeds), so their modules import side by side
  (the doctests, the API reference) only this way."""
  global _CONFIG, _WORKDIR, _SEEDS  # pylint: disable=global-statement
  _CONFIG = common.define_config(
      "reproduce_fashion_pairs.py",
      "protocol (experiments/configs/reproduce_*.py)")
  _WORKDIR = flags.DEFINE_string("workdir", "runs/reproduce",
                                 "rows, runs, searches and the table go here")
  _SEEDS = flags.DEFINE_list("seeds", "0,1,2,3,4", "seeds of every row "
                             "(docs/papers.md §4: 5)")


SEEDS = (0, 1, 2, 3, 4)


def _tune_search(config, space, protocol, out):
  """Ray Tune + Nevergrad (+ ASHA for "asha"), as experiments/search.py."""
  s = config.search
  train = {k: v for k, v in rp.train_config(config).items()
           if k in ("batch_size", "learning_rate", "lr_schedule",
                    "lr_boundaries", "weight_decay", "momentum", "nesterov",
                    "augment", "epochs")}
  train.update(epochs=s.epochs, seed=0)
  settings = st.Settings(dataset=config.dataset,
                         data_dir=config.get("data_dir"),
                         limit=config.get("limit"),
                         val_fraction=config.val_fraction, train=train)
  sc = st.validate(st.SearchConfig(
      space=space, output_dir=out, protocol=protocol,
      num_trials=s.num_trials, workers=s.workers, epochs=s.epochs,
      settings=settings, cpus_per_trial=s.cpus_per_trial,
      gpus_per_trial=s.gpus_per_trial, grace_period=s.get("grace_period", 1)))
  grid = st.run(sc)
  trials = report.records(grid, space, sc.epochs,
                          os.path.join(out, progress.EVENTS))
  report.write_outputs(trials, out, title=f"{space.name}, {protocol}")
  print(f"[reproduce] {report.summary(trials, sc.epochs)}", flush=True)


def _random_search(config, space, protocol, out):
  """In-process random graphs, each trained ``search.epochs`` on the
  validation split (sealed test split), no early stopping: the tiny-data
  and TFDS-mock path (no Ray workers)."""
  from ktg_jax.viz import run_pictures as viz
  del protocol
  data = data_lib.sealed(rp.load_data(config, config.val_fraction))
  cfg = rp.train_config(config)
  cfg.update(epochs=config.search.epochs, eval_split="val", seed=0,
             eval_every_epochs=1,
             checkpoint_every=0, save_variables=False, pictures=False,
             verbose=False)
  rng = np.random.default_rng(0)
  best, trials = None, []
  while len(trials) < config.search.num_trials:
    point = space.sample(rng)
    if not space.feasible(point):
      continue
    spec = space.to_spec(point)
    score = training.fit(spec, data, cfg, None).final_target_accuracy
    trials.append({"graph": spec.to_json(), "val_accuracy": score})
    print(f"[reproduce] trial {len(trials)}: val {100 * score:.2f} %",
          flush=True)
    if best is None or score > best[0]:
      best = (score, spec)
  best[1].save(os.path.join(out, "best_graph.json"))
  viz.draw_graph(best[1], os.path.join(out, "best_graph.png"),
                 f"{space.name}: best of {len(trials)} (val)")
  with open(os.path.join(out, "trials.json"), "w") as f:
    json.dump(trials, f, indent=1)


SEARCHERS = {"tune": _tune_search, "random": _random_search}


def search_runner(config, workdir):
  def search(space_name: str, num_nodes: int, protocol: str):
    aux = tuple(dict.fromkeys((config.target, config.aux))) if (
        space_name != "gamma") else (config.aux,)
    space = presets.get(space_name, num_nodes, target_model=config.target,
                       aux_models=aux)
    out = os.path.join(workdir, "search", f"{space_name}_{num_nodes}")
    best = os.path.join(out, "best_graph.json")
    if not os.path.isfile(best):
      os.makedirs(out, exist_ok=True)
      if config.search.searcher not in SEARCHERS:
        raise ValueError(f"search.searcher={config.search.searcher!r}; "
                         f"allowed: {sorted(SEARCHERS)}")
      SEARCHERS[config.search.searcher](config, space, protocol, out)
    return graph_lib.GraphSpec.load(best)
  return search


def run_row(name, ctx, data, config, workdir, seeds=SEEDS) -> dict:
  start = time.time()
  spec = rp.ROWS[name].build(ctx)
  cfg = rp.train_config(config)
  cfg.update(eval_split="test", resume=True)
  r = seeds_lib.fit_seeds(spec, data, cfg, tuple(seeds),
                          os.path.join(workdir, "runs", name))
  return {"per_seed": [float(x) for x in r.final], "seeds": list(seeds),
          "graph": spec.to_json(), "seconds": time.time() - start,
          "graph_nodes": ", ".join(n.model or n.kind for n in spec.nodes)}


def reproduce(config, workdir: str, rows=None, seeds=SEEDS) -> list[dict]:
  """Runs (or resumes) every row with ``seeds``; returns ``reproduce.table``
  rows. ``rows``: default ``config.rows`` (comma-separated names allowed)."""
  rows = [r.strip() for item in (rows or config.rows)
          for r in str(item).split(",") if r.strip()]
  rp.check_rows(rows)
  ctx = rp.Context(config, workdir, rp.teacher_runner(config, workdir),
                   search_runner(config, workdir))
  data, results = None, {}
  for name in rows:
    done = rp.load_row(workdir, name)
    if done is None:
      print(f"[reproduce] row {name}: training {len(seeds)} seeds",
            flush=True)
      data = data if data is not None else rp.load_data(config, 0.0)
      done = run_row(name, ctx, data, config, workdir, seeds)
      rp.save_row(workdir, name, done)
    results[name] = done
    s = stats.summarize(done["per_seed"])
    print(f"[reproduce] row {name}: {stats.mean_std(s.mean, s.std, scale=100)} "
          f"% ({done['seconds']:.0f} s)", flush=True)
  return rp.table(results)


def published_numbers() -> dict:
  """The thesis's CIFAR-100 rows (benchmarks/published.py) by (method,
  nodes); empty where the repository's benchmarks/ is not there (a wheel)."""
  path = os.path.join(common.ROOT, "benchmarks", "published.py")
  if not os.path.exists(path):
    return {}
  published = common.load_module(path)
  return {(p.method, p.nodes): (p.mean, p.std) for p in published.PUBLISHED
          if p.dataset == published.C100}


def main(argv):
  common.check_command_line(argv)
  logging.set_verbosity(logging.WARNING)
  config = common.require_config(_CONFIG.value, "reproduce_fashion_pairs.py")
  workdir = _WORKDIR.value
  try:
    rows = reproduce(config, workdir, seeds=common.parse_seeds(_SEEDS.value))
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  pub = published_numbers()
  text = rp.markdown(rows, pub)
  print(text)
  with open(os.path.join(workdir, "table.md"), "w") as f:
    f.write(text + "\n")
  with open(os.path.join(workdir, "table.json"), "w") as f:
    json.dump(rows, f, indent=1)


def cli() -> None:
  """The ``ktg-reproduce`` command (``python experiments/reproduce.py``
  calls it)."""
  define_flags()
  common.own_help(__name__, __doc__)
  common.run(main)


if __name__ == "__main__":
  cli()
