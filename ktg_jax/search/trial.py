"""One trial of a search: what it needs besides its point, and how it runs.

Both trainables of ``tune`` live on this: ``run_trial`` (one point -> one
graph -> ``training.fit``, a report per epoch; with ``seeds_per_graph`` > 1
the graph trained with that many seeds as one population, scored by their
mean) and ``packs.run_pack_trial`` (K points trained as populations). Each
prepares its process the same way (``prepare``: the shared JAX compilation
cache, the GPU allocator share), loads the sealed data of ``Settings``
(``load_data``: the test split cannot be read during a search,
docs/papers.md §4) and the training config in search mode (``train_config``).

Example:
  >>> allocator_env(0.5)["XLA_PYTHON_CLIENT_MEM_FRACTION"]
  '0.500'
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np
from ray import tune

from ktg_jax.search import space_ops
from ktg_jax.search.progress import METRIC, TIME_ATTR
from ktg_jax.run import training
from ktg_jax import data as data_lib


class Settings(NamedTuple):
  """What every trial needs besides its point (shipped to Ray workers)."""
  dataset: str = "digits"
  data_dir: str | None = None
  limit: int | None = None
  val_fraction: float = 0.2
  data_seed: int = 0
  train: Mapping[str, Any] = {}  # overrides of training.default_config()
  cache_dir: str | None = None    # JAX persistent compilation cache
  # ch.5: labels per class (None: fully labelled). The labelled draw and the
  # train / val cut both use data_seed (``data.from_config``).
  labels_per_class: int | None = None
  gpu_memory_fraction: float | None = None  # per trial, when GPUs are shared


class SearchError(ValueError):
  """A search setting is invalid; the message names it."""


# Search mode: score on validation only, no files per trial, quiet.
SEARCH_MODE = dict(eval_split="val", checkpoint_every=0, resume=False,
                   save_variables=False, pictures=False, verbose=False)


def train_config(settings: Settings):
  """``training.default_config()`` + overrides, forced to search mode."""
  cfg = training.default_config()
  unknown = sorted(set(settings.train) - set(cfg.keys()))
  if unknown:
    raise SearchError(f"train overrides {unknown} are unknown; allowed: "
                      f"{sorted(cfg.keys())}")
  cfg.update(dict(settings.train))
  cfg.update(SEARCH_MODE)
  return cfg


def load_data(settings: Settings):
  """The sealed data of a trial (ch.5: labelled + unlabelled)."""
  return data_lib.sealed(data_lib.from_config(settings,
                                              seed=settings.data_seed))


def use_compilation_cache(cache_dir: str | None) -> None:
  """Trials of the same structure compile the same step: share it on disk."""
  if cache_dir:
    import jax  # pylint: disable=import-outside-toplevel
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def allocator_env(gpu_memory_fraction: float | None) -> dict:
  """The JAX GPU allocator settings of a trial sharing its GPU.

  JAX preallocates 75% of a GPU at its first computation: trials sharing one
  (``gpus_per_trial`` < 1) must each take only their part. Empty when the
  trial has its GPU(s) to itself.
  """
  if not gpu_memory_fraction:
    return {}
  if not 0 < gpu_memory_fraction <= 1:
    raise SearchError(f"gpu_memory_fraction={gpu_memory_fraction!r}; "
                      "allowed: a number in (0, 1]")
  return {"XLA_PYTHON_CLIENT_PREALLOCATE": "true",
          "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{gpu_memory_fraction:.3f}"}


def prepare(settings: Settings) -> None:
  """A trial's process: the compilation cache and the GPU allocator share.
  The allocator variables are normally in the process from its start
  (``tune.run`` gives Ray them); if Ray was started elsewhere, they are set
  here, before the first computation, when JAX reads them."""
  use_compilation_cache(settings.cache_dir)
  for k, v in allocator_env(settings.gpu_memory_fraction).items():
    os.environ.setdefault(k, v)


def thread_env(workers: int, cpus_per_trial: float,
               gpus_per_trial: float = 0.0,
               environ: Mapping[str, str] | None = None) -> dict:
  """The XLA:CPU threads of CPU trials that run side by side.

  Measured (benchmarks/RESULTS.md, "CPU search layout"): on 2 cores, 2
  trials of one thread each train ~30% more graphs per hour than 1 trial on
  both cores, and more than 2 trials on XLA's default threads (each then
  spreads over every core). So when ``workers`` > 1 trials share the CPU,
  each gets an Eigen pool of ``cpus_per_trial`` threads (none for 1) from
  its process start. One trial at a time keeps XLA's default (all cores);
  GPU trials and an ``XLA_FLAGS`` that already sets the threads are left
  alone.

  >>> thread_env(2, 1.0, environ={})["XLA_FLAGS"]
  '--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1'
  >>> thread_env(1, 1.0, environ={}), thread_env(2, 1.0, 0.5, environ={})
  ({}, {})
  """
  environ = os.environ if environ is None else environ
  given = environ.get("XLA_FLAGS", "")
  if (workers <= 1 or gpus_per_trial > 0
      or "intra_op_parallelism_threads" in given):
    return {}
  n = max(1, int(cpus_per_trial))
  flags = (f"--xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'} "
           f"intra_op_parallelism_threads={n}")
  return {"XLA_FLAGS": f"{given} {flags}".strip()}


def default_fit():
  return training.fit


def node_accuracies(metrics: dict) -> list | None:
  """``fit``'s per-node classifier accuracies, or None when a node has none:
  ssl nodes have no classifier (their score is the KNN in
  ``target_accuracy``) and report NaN, which would fill the search log with
  TensorBoard warnings each epoch.

  >>> node_accuracies({"accuracy": [0.8, 0.7]})
  [0.8, 0.7]
  >>> node_accuracies({"accuracy": [0.8, float("nan")]}) is None
  True
  """
  accuracy = metrics["accuracy"]
  return accuracy if np.all(np.isfinite(accuracy)) else None


def epoch_result(epoch: int, metrics: dict) -> dict:
  """What a trial reports to Ray after an epoch (``fit``'s metrics -> Tune).

  Per-node classifier accuracies go along only when every node has one
  (``node_accuracies``).

  >>> epoch_result(3, {"target_accuracy": 0.8, "accuracy": [0.8, 0.7]})
  {'target_accuracy': 0.8, 'epoch': 3, 'node_accuracy': [0.8, 0.7]}
  >>> nan = float("nan")
  >>> epoch_result(3, {"target_accuracy": 0.8, "accuracy": [nan, nan]})
  {'target_accuracy': 0.8, 'epoch': 3}
  """
  result = {METRIC: metrics["target_accuracy"], TIME_ATTR: epoch}
  accuracy = node_accuracies(metrics)
  if accuracy is not None:
    result["node_accuracy"] = accuracy
  return result


SEED_SCORES = "seed_scores"  # a several-seed trial's score of each seed


def seed_mean_result(epoch: int, members: list) -> dict:
  """What a trial of one graph trained with several seeds reports after an
  epoch (``epoch_result``'s sibling): the mean of the seeds' target scores
  as the metric, and each seed's. One seed's score picks a graph by its
  noise as much as by its quality: 000's search found a graph 0.75 above
  its target learner alone on one validation seed that equalled it on 5
  test seeds (docs/ssl000_rows.md). Per-node accuracies go along as their
  mean over seeds when every seed has them all (``node_accuracies``): a
  space scored by its best node (ch.5) names that node the target of the
  best graph from them (``report``).

  >>> seed_mean_result(4, [{"target_accuracy": 0.75, "accuracy": [0.75, 0.5]},
  ...                      {"target_accuracy": 0.25, "accuracy": [0.25, 0.5]}])
  {'target_accuracy': 0.5, 'epoch': 4, 'seed_scores': [0.75, 0.25], 'node_accuracy': [0.5, 0.5]}
  >>> nan = float("nan")
  >>> seed_mean_result(4, [{"target_accuracy": 0.75, "accuracy": [nan]},
  ...                      {"target_accuracy": 0.25, "accuracy": [nan]}])
  {'target_accuracy': 0.5, 'epoch': 4, 'seed_scores': [0.75, 0.25]}
  """
  scores = [float(m["target_accuracy"]) for m in members]
  result = {METRIC: float(np.mean(scores)), TIME_ATTR: epoch,
            SEED_SCORES: scores}
  accuracies = [node_accuracies(m) for m in members]
  if all(a is not None for a in accuracies):
    result["node_accuracy"] = np.mean(accuracies, axis=0).tolist()
  return result


def run_trial(point: dict, *, space: space_ops.Space, settings: Settings,
              fit_fn: Callable | None = None,
              seeds_per_graph: int = 1) -> None:
  """The Ray trainable: point -> graph -> ``fit`` with per-epoch reports.

  With ``seeds_per_graph`` = S > 1 the graph trains with seeds ``seed``,
  ``seed + 1``, ... as one population (``fit``'s contract: the first member
  equals the one-seed trial) and reports ``seed_mean_result``; ASHA's rungs
  and the searcher then see the mean over seeds.

  Exceptions (``training.DivergedError`` on NaN, a crash) propagate: Ray
  records the trial as ERROR with its traceback and the search goes on.
  """
  prepare(settings)
  spec = space.to_spec(point)
  data = load_data(settings)
  cfg = train_config(settings)
  if space.loss_kinds():  # ch.4: every graph drawn shares one program
    cfg.loss_kinds = space.loss_kinds()

  fit = fit_fn or default_fit()
  if seeds_per_graph == 1:
    def report(epoch: int, metrics: dict) -> bool:
      tune.report(epoch_result(epoch, metrics))
      return False  # ASHA stops the trial from the driver, not from here
    fit(spec, data, cfg, workdir=None, callback=report)
    return

  def report_mean(epoch: int, metrics: list) -> bool:
    tune.report(seed_mean_result(epoch, metrics))
    return False
  fit([spec] * seeds_per_graph, data, cfg, workdir=None, callback=report_mean,
      seeds=[cfg.seed + k for k in range(seeds_per_graph)])
