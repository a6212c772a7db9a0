r"""Ensemble compression (thesis §4.3.3, Table 4.9): one student from trained teachers.

  python experiments/compress.py --config=experiments/configs/ch4_fashion_mnist.py \
      --teachers=/tmp/retrain/independent/member0 --teacher_model=resnet8 \
      --student=resnet8 --seeds=0,1,2 --workdir=/tmp/compress

The teachers are the members of a trained ensemble (a run folder with
``variables/node{i}``, e.g. retrain.py's ``independent/member0``), frozen.
The temperature T is chosen in {1, 2, 5, 10} on the *validation* split
(student from each teacher, probabilities only, seed 0, training split minus
validation); the rows of the table then train on the full training split and
read the test split once:

  ensemble       KD from the ensembled distribution (an ensemble node of the teachers)
  each           KD from every teacher separately
  each+pcgrad    ... with gradient aggregation (compile(..., aggregate="pcgrad"))
  each+att       KD + attention-crop MSE from every teacher
  each+att+pcgrad

Conflicts per teacher pair (Tables 4.10/4.11) are summed over all steps.
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
import ktg_jax as ktg
from ktg_jax import data as data_lib
from ktg_jax.run import seeds as seeds_lib

FLAGS = flags.FLAGS
_CONFIG = common.define_config("ch4_fashion_mnist.py", "training protocol")
flags.DEFINE_string("teachers", None, "run folder holding variables/node{i} "
                    "of the trained ensemble's members")
flags.DEFINE_integer("num_teachers", 3, "teachers = nodes 0..K-1 of that run")
flags.DEFINE_string("teacher_model", "resnet8", "the teachers' model")
flags.DEFINE_string("student", "resnet8", "the student's model")
flags.DEFINE_list("temperatures", ["1", "2", "5", "10"], "T candidates "
                  "(thesis §4.3.3), chosen on validation")
flags.DEFINE_list("seeds", ["0", "1", "2"], "seeds of each row")
flags.DEFINE_list("rows", ["ensemble", "each", "each+pcgrad", "each+att",
                           "each+att+pcgrad"], "table rows")
flags.DEFINE_string("workdir", None, "compress.json goes here")

ROWS = {  # name -> (source, attention, aggregate)
    "ensemble": ("ensemble", False, None),
    "each": ("each", False, None),
    "each+pcgrad": ("each", False, "pcgrad"),
    "each+att": ("each", True, None),
    "each+att+pcgrad": ("each", True, "pcgrad"),
}


def graph(source, attention, temperature):
  k = FLAGS.num_teachers
  paths = [os.path.join(os.path.abspath(FLAGS.teachers), "variables",
                        f"node{i}") for i in range(k)]
  return ktg.classic.compression(FLAGS.student, [FLAGS.teacher_model] * k,
                                 paths, source=source, attention=attention,
                                 temperature=temperature)


def load(config, val_fraction):
  return data_lib.from_config(config, val_fraction=val_fraction)


def choose_temperature(config) -> tuple[float, dict]:
  """T with the best validation accuracy of the 'each' student, seed 0."""
  data = load(config, config.val_fraction)
  cfg = config.copy_and_resolve_references()
  cfg.eval_split = "val"
  scores = {}
  for t in (float(x) for x in FLAGS.temperatures):
    r = ktg.training.fit(graph("each", False, t), data, cfg)
    scores[t] = r.final_target_accuracy
    print(f"T={t:g}: validation accuracy {100 * scores[t]:.2f} %", flush=True)
  return max(scores, key=scores.get), scores


def run_row(name, config, data, temperature, seeds) -> dict:
  source, attention, aggregate = ROWS[name]
  cfg = config.copy_and_resolve_references()
  cfg.eval_split, cfg.aggregate = "test", aggregate
  r = seeds_lib.fit_seeds(graph(source, attention, temperature), data, cfg,
                          seeds)
  out = {"mean": r.mean, "std": r.std, "per_seed": r.final.tolist()}
  if aggregate:
    out["conflicts"] = np.sum([[m["conflicts"] for m in h]
                               for h in r.histories], axis=(0, 1)).tolist()
    out["steps"] = int(sum(len(h) for h in r.histories)
                       * (len(data.train.labels) // cfg.batch_size))
  if source == "ensemble":  # the teachers' ensemble (node K + 1)
    out["teacher_ensemble"] = r.histories[0][-1]["accuracy"][-1]
    out["teachers"] = r.histories[0][-1]["accuracy"][1:-1]
  return out


def main(argv):
  common.check_command_line(argv, teachers=FLAGS.teachers)
  unknown = sorted(set(FLAGS.rows) - set(ROWS))
  if unknown:
    raise app.UsageError(f"--rows={unknown} is invalid; allowed: {list(ROWS)}")
  logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  config.verbose, config.pictures, config.save_variables = False, False, False
  config.checkpoint_every = 0
  seeds = tuple(int(s) for s in FLAGS.seeds)
  start = time.time()
  temperature, val_scores = choose_temperature(config)
  print(f"chosen T = {temperature:g} (validation)", flush=True)
  data = load(config, 0.0)
  rows = {}
  for name in FLAGS.rows:
    rows[name] = run_row(name, config, data, temperature, seeds)
    r = rows[name]
    extra = (f"  conflicts per teacher pair {r['conflicts']} over "
             f"{r['steps']} steps" if "conflicts" in r else "")
    print(f"{name:16s} student test accuracy {100 * r['mean']:.2f} ± "
          f"{100 * r['std']:.2f} %{extra}", flush=True)
    if "teacher_ensemble" in r:
      print(f"{'':16s} teachers {[round(100 * a, 2) for a in r['teachers']]}"
            f", their ensemble {100 * r['teacher_ensemble']:.2f} %",
            flush=True)
  print(f"wall time {time.time() - start:.0f} s", flush=True)
  if FLAGS.workdir:
    os.makedirs(FLAGS.workdir, exist_ok=True)
    with open(os.path.join(FLAGS.workdir, "compress.json"), "w") as f:
      json.dump({"temperature": temperature, "val_scores": val_scores,
                 "rows": rows, "seeds": list(seeds)}, f, indent=1)


if __name__ == "__main__":
  common.run(main)
