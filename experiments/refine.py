r"""003 at reduced scale: random search on A, EDF curves, A -> B -> C -> X,
exhaustive search of X with repeats, and a table like 003 Table 2.

  python experiments/refine.py --workdir=runs/refine003

Stages (each resumes when the same command runs again):
 1. random search on space A: ``--num_random`` feasible graphs drawn uniformly,
    each trained ``--epochs`` (no pruning; train / validation split);
 2. EDF of the error per hyper-parameter (edf_*.png), graphs with validation
    accuracy <= ``--floor`` left out; the script reads the curves as 003's
    person would (lowest mean error, pooled over the two auxiliaries / the
    two label->aux / the two aux->target edges) and narrows A -> B -> C -> X
    (``ktg_jax.search.refine``), printing sizes and whether the reading
    agrees with 003's;
 3. exhaustive search of X: every graph x ``--repeats`` seeds
    (``ktg_jax.search.exhaustive``), best = highest mean validation accuracy;
 4. ASHA on A (``ktg_jax.search.tune``, Ray): ``--asha_trials`` graphs;
 5. final: each search's best graph retrained on the whole training split
    and tested once, ``--final_seeds``: table.md (test mean +- std).
003 reads three successive random searches (A, B, C); here one search on A is
read for all three steps (budget).
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from absl import flags


import common  # experiments/common.py: the scripts' command line
from ktg_jax.search import edf
from ktg_jax.search import exhaustive
from ktg_jax.search import refine
from ktg_jax.search import spaces

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "where every stage writes")
flags.DEFINE_alias("output_dir", "workdir")  # the old name
flags.DEFINE_string("dataset", "digits", "data set (ktg_jax.data.SOURCES)")
flags.DEFINE_integer("limit", None, "first N examples of each split")
flags.DEFINE_string("target_model", "small_cnn", "m1, the target")
flags.DEFINE_list("aux_models", ["small_cnn", "resnet8"], "m2, m3 choices")
flags.DEFINE_list("gates", ["through", "cutoff", "linear"], "gate choices "
                  "(003's three; fewer for a CI-sized run)")
flags.DEFINE_integer("epochs", 3, "epochs of every search run")
flags.DEFINE_integer("final_epochs", 6, "epochs of the final runs")
flags.DEFINE_integer("batch_size", 32, "batch size")
flags.DEFINE_float("learning_rate", 0.05, "SGD lr, half-cosine to 0 (003)")
flags.DEFINE_integer("num_random", 60, "graphs of the random search on A")
flags.DEFINE_integer("asha_trials", 30, "graphs of the ASHA search on A")
flags.DEFINE_list("repeats", ["0", "1"], "seeds of every graph of X")
flags.DEFINE_list("final_seeds", ["0", "1", "2"], "seeds of the final runs")
flags.DEFINE_float("floor", 0.2, "EDF: leave out graphs with accuracy <= "
                   "this (003: 2% = 2x chance on CIFAR-100; 10 classes: 0.2)")
flags.DEFINE_integer("pack_size", 8, "graphs of one structure per fit")
flags.DEFINE_list("stages", ["random", "edf", "x", "asha", "final"],
                  "stages to run")
flags.DEFINE_integer("seed", 0, "sampler, searcher and split seed")

def train_config(epochs: int):
  from ktg_jax.run import training  # pylint: disable=import-outside-toplevel
  cfg = training.default_config()
  cfg.update(dataset=FLAGS.dataset, epochs=epochs,
             batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
             lr_schedule="cosine", lr_boundaries=(), weight_decay=5e-4,
             augment=True, keep_checkpoints=1, verbose=False, seed=FLAGS.seed)
  return cfg


def search_data():
  from ktg_jax import data  # pylint: disable=import-outside-toplevel
  return data.sealed(data.load(FLAGS.dataset, limit=FLAGS.limit,
                               seed=FLAGS.seed))


def space_a() -> spaces.SearchSpace:
  return spaces.SearchSpace(
      "refine_A", 3, FLAGS.target_model, tuple(FLAGS.aux_models),
      tuple(FLAGS.gates),
      description="003 space A at CPU scale").validate()


def random_points(space, n: int, seed: int) -> list[dict]:
  import numpy as np  # pylint: disable=import-outside-toplevel
  rng, out = np.random.default_rng(seed), []
  while len(out) < n:
    p = space.sample(rng)
    if space.feasible(p):
      out.append(p)
  return out


def read_edf(rows, out_dir: str) -> dict:
  """EDF pictures + the reading of 003's three steps from them."""
  paths = edf.plot_all(rows, os.path.join(out_dir, "edf"), FLAGS.floor)
  for p in sorted(paths):
    s = edf.summary(edf.curves(rows, p, FLAGS.floor))
    print(f"[edf] {p}: " + "; ".join(
        f"{v} n={d['n']} mean err {d['mean_error']:.3f}" for v, d in
        s.items()), flush=True)
  best = lambda ps, k=1: edf.best_values(rows, ps, k, FLAGS.floor)
  return {"strong": best(["model_1", "model_2"])[0],
          "label_gate": best(["gate_label_1", "gate_label_2"])[0],
          "target_gates": best(["gate_1_0", "gate_2_0"], 2),
          "kept_graphs": len(edf.kept(rows, FLAGS.floor)),
          "pictures": paths}


def run_asha(space, out_dir: str):
  from ktg_jax.search import report  # pylint: disable=import-outside-toplevel
  from ktg_jax.search import tune as st  # pylint: disable=import-outside-toplevel
  cfg = train_config(FLAGS.epochs)
  train = {k: cfg[k] for k in ("epochs", "batch_size", "learning_rate",
                               "lr_schedule", "lr_boundaries", "weight_decay",
                               "augment", "seed")}
  sc = st.SearchConfig(space=space, output_dir=out_dir, protocol="asha",
                       num_trials=FLAGS.asha_trials, workers=1,
                       epochs=FLAGS.epochs, seed=FLAGS.seed,
                       settings=st.Settings(dataset=FLAGS.dataset,
                                            limit=FLAGS.limit,
                                            data_seed=FLAGS.seed, train=train))
  import ray  # pylint: disable=import-outside-toplevel
  st.init_ray(num_cpus=1)
  try:
    trials = report.records(st.run(sc), space, FLAGS.epochs,
                            os.path.join(out_dir, st.EVENTS))
  finally:
    ray.shutdown()
  report.write_outputs(trials, out_dir, title="ASHA on A")
  return trials


def final(space, point, seeds) -> dict:
  """The graph retrained on the whole training split, tested once per seed."""
  from ktg_jax import data  # pylint: disable=import-outside-toplevel
  from ktg_jax.run import training
  cfg = train_config(FLAGS.final_epochs)
  cfg.update(eval_split="test", checkpoint_every=0, save_variables=False,
             pictures=False)
  full = data.load(FLAGS.dataset, limit=FLAGS.limit, val_fraction=0.0)
  res = training.fit([space.to_spec(point)], full, cfg,
                     seeds=seeds)
  return common.seed_summary([m.final_target_accuracy for m in res.members])


def _json(path, obj=None):
  if obj is None:
    with open(path) as f:
      return json.load(f)
  with open(path, "w") as f:
    json.dump(obj, f, indent=1, default=list)
  return obj


def main(argv):
  common.check_command_line(argv, workdir=FLAGS.workdir)
  out, start = FLAGS.workdir, time.time()
  os.makedirs(out, exist_ok=True)
  import jax  # pylint: disable=import-outside-toplevel
  # Packs of one structure compile the same step: share it on disk.
  jax.config.update("jax_compilation_cache_dir", os.path.join(
      os.path.abspath(out), "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  a = space_a()
  print(a.describe(), flush=True)
  repeats = [int(s) for s in FLAGS.repeats]
  seeds = [int(s) for s in FLAGS.final_seeds]
  if "random" in FLAGS.stages:
    exhaustive.run(a, search_data(), train_config(FLAGS.epochs),
                   os.path.join(out, "random_A"),
                   chosen=random_points(a, FLAGS.num_random, FLAGS.seed))
  rows = list(exhaustive.read_results(os.path.join(out, "random_A")).values())
  if "edf" in FLAGS.stages:
    reading = read_edf(rows, out)
    _json(os.path.join(out, "reading.json"), reading)
  reading = _json(os.path.join(out, "reading.json"))
  chain = refine.chain_003(a, reading["strong"],
                           label_gate=reading["label_gate"],
                           target_gates=tuple(reading["target_gates"]))
  agree = {"strong": reading["strong"] == a.aux_models[-1],
           "label_gate": reading["label_gate"] == "through",
           "target_gates": set(reading["target_gates"]) == {"through",
                                                             "linear"}}
  print(f"[refine] reading {reading['strong']}, {reading['label_gate']}, "
        f"{reading['target_gates']} (003's: the larger model, through, "
        f"through+linear; agrees: {agree})")
  for step, s in chain.items():
    print(f"[refine] space {step}: {s.size()}", flush=True)
  x = chain["X"]
  if "x" in FLAGS.stages:
    exhaustive.run(x, search_data(), train_config(FLAGS.epochs),
                   os.path.join(out, "exhaustive_X"), repeats=repeats,
                   pack_size=FLAGS.pack_size)
  best_x = exhaustive.best(list(exhaustive.read_results(
      os.path.join(out, "exhaustive_X")).values()))
  print(f"[refine] best of X: graph {best_x['index']}, validation "
        f"{best_x['mean']:.4f} +- {best_x['std']:.4f} over {best_x['n']}")
  if "asha" in FLAGS.stages:
    from ktg_jax.search import report  # pylint: disable=import-outside-toplevel
    best_a = report.best(run_asha(a, os.path.join(out, "asha_A")))
    _json(os.path.join(out, "asha_best.json"), best_a._asdict())
  asha_path = os.path.join(out, "asha_best.json")
  if "final" in FLAGS.stages:
    rows = {}
    if os.path.exists(asha_path):  # the ASHA stage ran
      best_a = _json(asha_path)
      rows[f"ASHA on A | {FLAGS.asha_trials}"] = final(a, best_a["point"],
                                                       seeds)
    rows[f"exhaustive on X | {len(exhaustive.points(x))} x {len(repeats)} "
         "seeds"] = final(x, best_x["point"], seeds)
    print(common.write_table(
        out, rows, ("search | graphs trained", "target test accuracy, mean "
                    f"± std (ddof 1) over {len(seeds)} seeds")))
  print(f"[refine] wall time of this run: {time.time() - start:.0f} s")


if __name__ == "__main__":
  common.run(main)
