r"""003 at reduced scale: random search on A, EDF curves, A -> B -> C -> X,
exhaustive search of X with repeats, and a table like 003 Table 2.

  python experiments/refine.py --workdir=runs/refine003   # CPU scale
  python experiments/refine.py --config=configs/refine003.py:cifar100 \
      --workdir=runs/refine003_cifar   # 003's protocol

The protocol and the space A are --config (configs/refine003.py: its fields
are named below as config.FIELD, changed with --config.FIELD=...); the final
runs' seeds are --seeds.

Stages (config.stages) (each resumes when the same command runs again):
 1. random search on space A: ``config.num_random`` feasible graphs drawn
    uniformly, each trained ``config.epochs`` (no pruning; train / validation split);
 2. EDF of the error per hyper-parameter (edf_*.png), graphs with validation
    accuracy <= ``config.floor`` left out; the script reads the curves as 003's
    person would (lowest mean error, pooled over the two auxiliaries / the
    two label->aux / the two aux->target edges) and narrows A -> B -> C -> X
    (``ktg_jax.search.refine``), printing sizes and whether the reading
    agrees with 003's;
 3. exhaustive search of X: every graph x ``config.search_seeds``
    (``ktg_jax.search.exhaustive``), best = highest mean validation accuracy;
 4. ASHA on A (``ktg_jax.search.tune``, Ray): ``config.asha_trials`` graphs;
 5. final: each search's best graph retrained on the whole training split
    and tested once, ``--seeds``: table.md (test mean +- std).
003 reads three successive random searches (A, B, C); here one search on A is
read for all three steps (budget).
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from absl import flags


from ktg_jax.cli import common  # the scripts' command line
from ktg_jax.search import edf
from ktg_jax.search import exhaustive
from ktg_jax.search import refine
from ktg_jax.search import spaces

FLAGS = flags.FLAGS
_CONFIG = common.define_config(
    "refine003.py", "the protocol and space A (configs/refine003.py; "
    ":cifar100 for 003's own)")
flags.DEFINE_string("workdir", None, "where every stage writes")
flags.DEFINE_alias("output_dir", "workdir")  # the old name
flags.DEFINE_list("seeds", ["0", "1", "2"], "seeds of the final runs")


def _names(value) -> tuple[str, ...]:
  """A comma-separated config field (or a tuple) as a tuple."""
  items = value.split(",") if isinstance(value, str) else value
  return tuple(str(v).strip() for v in items if str(v).strip())


def train_config(config, epochs: int):
  from ktg_jax import reproduce  # pylint: disable=import-outside-toplevel
  cfg = reproduce.train_config(config)
  cfg.epochs = epochs
  return cfg


def search_data(config):
  from ktg_jax import data  # pylint: disable=import-outside-toplevel
  return data.sealed(data.from_config(config, seed=config.seed))


def space_a(config) -> spaces.SearchSpace:
  return spaces.SearchSpace(
      "refine_A", 3, config.target_model, _names(config.aux_models),
      _names(config.gates),
      description="003 space A").validate()


def random_points(space, n: int, seed: int) -> list[dict]:
  import numpy as np  # pylint: disable=import-outside-toplevel
  rng, out = np.random.default_rng(seed), []
  while len(out) < n:
    p = space.sample(rng)
    if space.feasible(p):
      out.append(p)
  return out


def read_edf(rows, out_dir: str, floor: float) -> dict:
  """EDF pictures + the reading of 003's three steps from them."""
  paths = edf.plot_all(rows, os.path.join(out_dir, "edf"), floor)
  for p in sorted(paths):
    s = edf.summary(edf.curves(rows, p, floor))
    print(f"[edf] {p}: " + "; ".join(
        f"{v} n={d['n']} mean err {d['mean_error']:.3f}" for v, d in
        s.items()), flush=True)
  best = lambda ps, k=1: edf.best_values(rows, ps, k, floor)
  return {"strong": best(["model_1", "model_2"])[0],
          "label_gate": best(["gate_label_1", "gate_label_2"])[0],
          "target_gates": best(["gate_1_0", "gate_2_0"], 2),
          "kept_graphs": len(edf.kept(rows, floor)),
          "pictures": paths}


def run_asha(config, space, out_dir: str):
  from ktg_jax.search import progress  # pylint: disable=import-outside-toplevel
  from ktg_jax.search import report  # pylint: disable=import-outside-toplevel
  from ktg_jax.search import tune as st  # pylint: disable=import-outside-toplevel
  cfg = train_config(config, config.epochs)
  train = {k: cfg[k] for k in ("epochs", "batch_size", "learning_rate",
                               "lr_schedule", "lr_boundaries", "weight_decay",
                               "augment", "seed")}
  sc = st.SearchConfig(space=space, output_dir=out_dir, protocol="asha",
                       num_trials=config.asha_trials, workers=1,
                       epochs=config.epochs, seed=config.seed,
                       settings=st.Settings(
                           dataset=config.dataset, limit=config.limit,
                           data_dir=config.data_dir,
                           val_fraction=config.val_fraction,
                           data_seed=config.seed, train=train))
  import ray  # pylint: disable=import-outside-toplevel
  st.init_ray(num_cpus=1)
  try:
    trials = report.records(st.run(sc), space, config.epochs,
                            os.path.join(out_dir, progress.EVENTS))
  finally:
    ray.shutdown()
  report.write_outputs(trials, out_dir, title="ASHA on A")
  return trials


def final(config, space, point, seeds) -> dict:
  """The graph retrained on the whole training split, tested once per seed."""
  from ktg_jax import data  # pylint: disable=import-outside-toplevel
  from ktg_jax.run import training
  cfg = train_config(config, config.final_epochs)
  cfg.update(eval_split="test", checkpoint_every=0, save_variables=False,
             pictures=False)
  full = data.from_config(config, val_fraction=0.0)
  res = training.fit([space.to_spec(point)], full, cfg,
                     seeds=seeds)
  return common.seed_summary([m.final_target_accuracy for m in res.members])


STAGES = ("random", "edf", "x", "asha", "final")


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
  config = _CONFIG.value
  a = space_a(config)
  print(a.describe(), flush=True)
  repeats = list(common.parse_seeds(str(config.search_seeds),
                                    "config.search_seeds"))
  seeds = list(common.parse_seeds(FLAGS.seeds))
  stages = set(_names(config.stages))
  unknown = sorted(stages - set(STAGES))
  if unknown:
    raise app.UsageError(f"--config.stages has {unknown}; allowed: "
                         f"{list(STAGES)}")
  if "random" in stages:
    exhaustive.run(a, search_data(config), train_config(config, config.epochs),
                   os.path.join(out, "random_A"),
                   chosen=random_points(a, config.num_random, config.seed))
  rows = list(exhaustive.read_results(os.path.join(out, "random_A")).values())
  if "edf" in stages:
    reading = read_edf(rows, out, config.floor)
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
  if "x" in stages:
    exhaustive.run(x, search_data(config), train_config(config, config.epochs),
                   os.path.join(out, "exhaustive_X"), repeats=repeats,
                   pack_size=config.pack_size)
  best_x = exhaustive.best(list(exhaustive.read_results(
      os.path.join(out, "exhaustive_X")).values()))
  print(f"[refine] best of X: graph {best_x['index']}, validation "
        f"{best_x['mean']:.4f} +- {best_x['std']:.4f} over {best_x['n']}")
  if "asha" in stages:
    from ktg_jax.search import report  # pylint: disable=import-outside-toplevel
    best_a = report.best(run_asha(config, a, os.path.join(out, "asha_A")))
    _json(os.path.join(out, "asha_best.json"), best_a._asdict())
  asha_path = os.path.join(out, "asha_best.json")
  if "final" in stages:
    rows = {}
    if os.path.exists(asha_path):  # the ASHA stage ran
      best_a = _json(asha_path)
      rows[f"ASHA on A | {config.asha_trials}"] = final(
          config, a, best_a["point"], seeds)
    rows[f"exhaustive on X | {len(exhaustive.points(x))} x {len(repeats)} "
         "seeds"] = final(config, x, best_x["point"], seeds)
    print(common.write_table(
        out, rows, ("search | graphs trained", "target test accuracy, mean "
                    f"± std (ddof 1) over {len(seeds)} seeds")))
  print(f"[refine] wall time of this run: {time.time() - start:.0f} s")


if __name__ == "__main__":
  common.run(main)
