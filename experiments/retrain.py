r"""Retrains a searched graph on the full training set, 5 seeds, test mean ± std.

  python experiments/retrain.py --graph=/tmp/ktg_search/best_graph.json \
      --config=experiments/configs/fashion_mnist.py --seeds=0,1,2,3,4 \
      --baselines=vanilla,dml --workdir=/tmp/ktg_retrain

docs/papers.md §4: the search scored graphs on a validation split carved out of the
training set and never read the test split; here, at the end, the chosen
graph is trained on *all* of the training set (val_fraction = 0) and
evaluated on the test split — the only place in the search workflow that
reads it. Baselines get the same protocol (same config, epochs, seeds):
``vanilla`` = the target's model alone, ``dml`` = the graph's node models with
every edge Through.
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags
from absl import logging


from ktg_jax.cli import common  # the scripts' command line
import ktg_jax as ktg
from ktg_jax import stats

FLAGS = flags.FLAGS
_CONFIG = common.define_config(
    "fashion_mnist.py", "training protocol (ml_collections config file)")
flags.DEFINE_string("graph", None, "GraphSpec JSON (a search's best_graph.json)")
flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "seeds (docs/papers.md §4: 5)")
flags.DEFINE_list("baselines", [], "also train these with the same budget: "
                  "vanilla, dml, independent")
flags.DEFINE_string("workdir", None, "run folders and retrain.json go here")

def _members(spec):
  """The model names of an ensemble target's members (ch.4), else None."""
  target = spec.nodes[spec.target]
  if target.kind != "ensemble":
    return None
  return [spec.nodes[m].model for m in target.members]


def _dml(spec):
  members = _members(spec)
  if members:  # ch.4: DML members + the ensemble node as the score
    return ktg.classic.ensemble(members, mutual=True)
  return ktg.classic.dml([n.model for n in spec.nodes])


def _independent(spec):
  members = _members(spec) or [n.model for n in spec.nodes if n.model]
  return ktg.classic.ensemble(members, mutual=False)


# Baseline name -> graph built from the searched one (same models).
BASELINES = {
    "vanilla": lambda spec: ktg.classic.vanilla(spec.nodes[spec.target].model),
    "dml": _dml,               # an ensemble target: DML members, ensembled
    "independent": _independent,   # ch.4: members trained alone, ensembled
}


def final_data(config):
  """All of the official training set for training, the test set to score."""
  from ktg_jax import data as data_lib  # pylint: disable=import-outside-toplevel
  return data_lib.from_config(config, val_fraction=0.0)


def retrain(spec, data, config, seeds, workdir=None) -> dict:
  from ktg_jax.run import seeds as seeds_lib  # pylint: disable=import-outside-toplevel
  config = config.copy_and_resolve_references()
  config.eval_split = "test"
  r = seeds_lib.fit_seeds(spec, data, config, seeds, workdir)
  out = {"mean": float(r.mean), "std": float(r.std),
         "per_seed": [float(x) for x in r.final], "seeds": list(seeds),
         "strategy": r.strategy, "graph": spec.to_json()}
  reports = [h[-1].get("ensemble") for h in r.histories]
  if all(reports):  # ch.4: members' mean accuracy, gain (4.4), diversity (4.2)
    out["ensemble"] = reports
    for key in ("mean_member_accuracy", "gain", "mean_diversity"):
      s = stats.summarize([rep[key] for rep in reports])
      out[key] = {"mean": s.mean, "std": s.std}
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  if not FLAGS.graph or not os.path.isfile(FLAGS.graph):
    raise app.UsageError(f"--graph={FLAGS.graph!r} is not a JSON file")
  unknown = sorted(set(FLAGS.baselines) - set(BASELINES))
  if unknown:
    raise app.UsageError(f"--baselines={unknown} is invalid; allowed: "
                         f"{sorted(BASELINES)}")
  try:
    seeds = tuple(int(s) for s in FLAGS.seeds)
  except ValueError:
    raise app.UsageError(f"--seeds={FLAGS.seeds} is invalid; allowed: "
                         "comma-separated ints") from None
  config = _CONFIG.value
  config.verbose = False
  searched = ktg.GraphSpec.load(FLAGS.graph)
  graphs = {"searched": searched}
  graphs.update({b: BASELINES[b](searched) for b in FLAGS.baselines})
  data = final_data(config)
  results = {}
  for name, spec in graphs.items():
    workdir = FLAGS.workdir and os.path.join(FLAGS.workdir, name)
    results[name] = retrain(spec, data, config, seeds, workdir)
    r = results[name]
    print(f"{name:9s} target test accuracy {100 * r['mean']:.2f} ± "
          f"{100 * r['std']:.2f} % over seeds {list(seeds)} "
          f"(per seed: {[round(100 * a, 2) for a in r['per_seed']]})",
          flush=True)
    if "ensemble" in r:
      print(f"{'':9s} members' mean accuracy "
            f"{100 * r['mean_member_accuracy']['mean']:.2f} ± "
            f"{100 * r['mean_member_accuracy']['std']:.2f} %, gain (eq 4.4) "
            f"{100 * r['gain']['mean']:+.2f} ± {100 * r['gain']['std']:.2f}, "
            f"diversity (eq 4.2) {r['mean_diversity']['mean']:.4f} ± "
            f"{r['mean_diversity']['std']:.4f}", flush=True)
  if FLAGS.workdir:
    os.makedirs(FLAGS.workdir, exist_ok=True)
    path = os.path.join(FLAGS.workdir, "retrain.json")
    with open(path, "w") as f:
      json.dump({"config": json.loads(config.to_json_best_effort()),
                 "results": results}, f, indent=2)
    print(f"results: {path}")


if __name__ == "__main__":
  flags.mark_flag_as_required("graph")
  common.run(main)
