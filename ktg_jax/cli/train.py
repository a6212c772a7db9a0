r"""Trains one KTG graph (a classic builder or a JSON spec) with ``ktg_jax.run.training.fit``.

  python experiments/train.py --config=experiments/configs/fashion_mnist.py \
      --graph=vanilla --config.models=resnet8 --workdir=runs/teacher
  python experiments/train.py --config=experiments/configs/ch3_cifar.py \
      --graph=runs/best_graph.json --mode=final --seeds=0,1,2,3,4

--graph: a builder of ktg_jax.classic.BUILDERS (vanilla, dml, ensemble, kd,
compression, pi_model, mean_teacher, pseudo_label, fixmatch, ssl, ssl_dml;
their models come from --config.models, comma-separated; kd = student,teacher
and compression = student,teacher,... need --teacher_checkpoint) or a
GraphSpec JSON file. --config paths not found from the current folder are
looked up in the checkout's experiments/ (configs/digits.py works from
anywhere). Installed, the same command is ``ktg-train`` (docs/cli.md).

A --workdir that holds a run is refused unless --config.resume=True
continues it: nothing is overwritten or mixed.
Multi-host (N processes, e.g. one per host; run the same command on every
host with its own --process_id; process 0's host:port is the coordinator):

  python experiments/train.py ... --coordinator_address=10.0.0.1:1234 \
      --num_processes=2 --process_id=0      # on host 0
  python experiments/train.py ... --coordinator_address=10.0.0.1:1234 \
      --num_processes=2 --process_id=1      # on host 1

(--coordinator_address=auto on TPU pods / SLURM.) This initialises
jax.distributed, and ``training.fit`` then trains data parallel over the
devices of all processes (``config.data_parallel``; each process puts only
its rows of every batch on its devices; --config.batch_size is the global
batch and must divide over all devices). --workdir must be one folder all
processes see (a shared file system): process 0 writes metrics and
pictures, orbax writes checkpoints and variables from all of them
(tests/test_multiprocess.py: two processes equal one). --config.data_parallel
=True splits batches over the local devices of a single process too. A
search on a Ray cluster: experiments/search.py --address=HEAD:6379 (Ray
places trials on every machine that joined the cluster).

--mode=search evaluates on the validation split every epoch (model selection,
docs/papers.md §4); --mode=final trains on the whole training set and evaluates on test.
"""

from __future__ import annotations

import datetime
import os

from absl import app
from absl import flags
from absl import logging
import jax

from ktg_jax.cli import common  # the scripts' command line
import ktg_jax as ktg
from ktg_jax import data as data_lib
from ktg_jax.run import seeds as seeds_lib
from ktg_jax.parallel import sharding
from ktg_jax.run import training

_CONFIG = None  # set by define_flags
_GRAPH = None  # set by define_flags
_MODE = None  # set by define_flags
_WORKDIR = None  # set by define_flags
_SEEDS = None  # set by define_flags
_TEACHER = None  # set by define_flags
_COORDINATOR = None  # set by define_flags
_NUM_PROCESSES = None  # set by define_flags
_PROCESS_ID = None  # set by define_flags


def define_flags() -> None:
  """Defines the command's flags when it runs (``cli``), not on import:
  absl flags are global, and ``ktg_jax.cli``'s commands share names
  (--config, --workdir, --seeds), so their modules import side by side
  (the doctests, the API reference) only this way."""
  global _CONFIG, _GRAPH, _MODE, _WORKDIR, _SEEDS, _TEACHER, _COORDINATOR, _NUM_PROCESSES, _PROCESS_ID  # pylint: disable=global-statement
  _CONFIG = common.define_config("fashion_mnist.py", "ml_collections config")
  _GRAPH = flags.DEFINE_string(
      "graph", "vanilla", "a ktg_jax.classic.BUILDERS name "
      f"({', '.join(sorted(common.GRAPH_BUILDERS))}) or a GraphSpec JSON file")
  _MODE = flags.DEFINE_enum("mode", "search", ["search", "final"],
                            "search: val split; final: full train, test split")
  _WORKDIR = flags.DEFINE_string("workdir", None, "run folder (default runs/...)")
  _SEEDS = flags.DEFINE_string("seeds", "0", "comma-separated seeds")
  _TEACHER = flags.DEFINE_string("teacher_checkpoint", None,
                                 "kd: variables of a vanilla run (its printed path)")
  _COORDINATOR = flags.DEFINE_string(
      "coordinator_address", None,
      "multi-host: host:port of process 0 (or 'auto'): jax.distributed")
  _NUM_PROCESSES = flags.DEFINE_integer("num_processes", None,
                                        "multi-host: number of processes")
  _PROCESS_ID = flags.DEFINE_integer("process_id", None,
                                     "multi-host: this process, in [0, N)")


# --mode -> (eval_split, val_fraction): final retrains on all of train (docs/papers.md §4).
MODES = {"search": ("val", None), "final": ("test", 0.0)}


def build_spec(graph: str, models: str, teacher: str | None) -> ktg.GraphSpec:
  return common.build_graph(graph, models, teacher)


def train(config, graph: str = "vanilla", mode: str = "search",
          workdir: str | None = None, seeds=(0,), teacher: str | None = None,
          verbose: bool = True) -> dict:
  """Trains ``graph`` per seed; returns {spec, workdir, results, mean, std}."""
  config = config.copy_and_resolve_references()
  spec = build_spec(graph, config.models, teacher)
  eval_name, val_fraction = MODES[mode]
  config.eval_split = eval_name
  if val_fraction is not None:
    config.val_fraction = val_fraction
  workdir = workdir or os.path.join("runs", "{}-{}".format(
      os.path.splitext(os.path.basename(graph))[0],
      datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
  data = data_lib.from_config(config)
  if mode == "search":  # the test split cannot be read, even by mistake
    data = data_lib.sealed(data)
  if len(seeds) == 1:
    config.seed = seeds[0]
    result = training.fit(spec, data, config, workdir)
    summary = seeds_lib.summarize(seeds, [result.history], "single")
  else:
    summary = seeds_lib.fit_seeds(spec, data, config, seeds, workdir)
  if verbose:
    spread = ("" if len(seeds) == 1 else f" ± {100 * summary.std:.2f}")
    print(f"{graph}: target node {spec.target} ({spec.nodes[spec.target].model}) "
          f"{eval_name} accuracy {100 * summary.mean:.2f}{spread} % (sample "
          f"std) over seeds {list(seeds)} "
          f"({summary.strategy}); run folder: {os.path.abspath(workdir)}",
          flush=True)
    if graph == "vanilla" and len(seeds) == 1:
      print("use it as a frozen teacher: --graph=kd --teacher_checkpoint="
            + os.path.abspath(os.path.join(workdir, "variables", "node0")),
            flush=True)
  return {"spec": spec, "workdir": workdir, "summary": summary}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every file at INFO
  try:
    sharding.initialize(_COORDINATOR.value, _NUM_PROCESSES.value,
                        _PROCESS_ID.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  if jax.process_count() > 1 and not _WORKDIR.value:
    raise app.UsageError(
        f"{jax.process_count()} processes joined: pass --workdir, one folder "
        "every process sees (its default name has the start time, which "
        "differs between processes)")
  seeds = common.parse_seeds(_SEEDS.value)
  config = common.require_config(_CONFIG.value, "fashion_mnist.py")
  train(config, _GRAPH.value, _MODE.value, _WORKDIR.value, seeds,
        _TEACHER.value)


def cli() -> None:
  """The ``ktg-train`` command (``python experiments/train.py`` calls it)."""
  define_flags()
  common.own_help(__name__, __doc__)
  common.run(main)


if __name__ == "__main__":
  cli()
