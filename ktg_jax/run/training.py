"""``fit``: THE training loop of a KTG graph (experiments/train.py and search trials).

One epoch = a seeded permutation of the training split (derived from
``seed`` and the epoch, so a resumed run sees the same batches as an
uninterrupted one), cut into full batches of ``batch_size`` — or, for
semi-supervised data (a ``SemiDataset``), ``eval_every`` iterations of
labelled + unlabelled batches (``ktg_jax.run.feeds``: the data-source strategy);
each batch goes through the one jitted KTG step (augmentation and the named
views inside it). After every epoch:
evaluation on ``eval_split`` ("val" for search / model selection, "test" for
final numbers; the test split is never touched in "val" mode, docs/papers.md §4), a
progress line, TensorBoard + JSONL metrics, ``callback`` (True stops), and a
checkpoint (orbax, atomic, keep N) from which ``resume=True`` continues.

The same loop trains a *population* — K seeds of one graph, or K graphs of
one structure (``fit(specs, ..., seeds=...)``) — with per-member metrics,
pictures and variables and one checkpoint; ``ktg_jax.run.population`` steps the
members sequentially or as one vmapped program (chosen per backend).

Example:
  >>> import ktg_jax as ktg
  >>> from ktg_jax import data
  >>> from ktg_jax.run import training
  >>> cfg = training.default_config()
  >>> cfg.epochs, cfg.batch_size, cfg.verbose = 1, 64, False
  >>> result = training.fit(ktg.classic.vanilla("small_cnn"),
  ...                       data.load("digits", limit=256), cfg)
  >>> len(result.history), 0.0 <= result.final_target_accuracy <= 1.0
  (1, True)
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import ml_collections
import numpy as np
import optax

from ktg_jax import checkpoint
from ktg_jax import named
from ktg_jax import data as data_lib
from ktg_jax import typed_config
from ktg_jax.run import feeds
from ktg_jax.run import fit_config
from ktg_jax.run.fit_config import FitConfig
from ktg_jax import optim
from ktg_jax.run import population
from ktg_jax.run import run_files
from ktg_jax.run import scoring
from ktg_jax.parallel import sharding
from ktg_jax.data import augment as augment_lib
from ktg_jax.core import GraphSpec

Callback = Callable[[int, dict], "bool | None"]


class DivergedError(FloatingPointError):
  """A node's training loss became NaN / inf; the message names epoch and nodes."""


class FitResult(NamedTuple):
  state: Any                    # the final KTGState
  history: list                 # one metrics dict per epoch
  best_target_accuracy: float   # max over epochs, on eval_split
  final_target_accuracy: float  # last epoch, on eval_split
  workdir: str | None


class PopulationResult(NamedTuple):
  state: Any         # every member's KTGState stacked (leading axis K)
  members: tuple     # one FitResult per member (its own state and history)
  strategy: str      # "sequential" or "vmap" (ktg_jax.run.population)


def default_config() -> ml_collections.ConfigDict:
  """A script's configuration: the knobs of ``fit`` (``FitConfig``: the ch.3
  CIFAR protocol, docs/papers.md §5, at 200 epochs) and the data and models a
  script trains (``fit`` reads only the former: ``FitConfig.of``).

  An ``ml_collections.ConfigDict``: change fields as attributes (the scripts:
  ``--config.epochs=20``, where a misspelt field is refused).

  >>> cfg = default_config()
  >>> cfg.epochs, cfg.batch_size, cfg.lr_schedule, cfg.eval_split
  (200, 64, 'step', 'val')
  """
  return ml_collections.ConfigDict(dict(
      # The data (data.DataConfig: data.from_config builds it) and the models.
      **typed_config.config_fields(data_lib.DataConfig(dataset="cifar100")),
      models="resnet32",
      **fit_config.config_fields()))


# --- learning-rate schedules (registry: name -> factory(config, spe, total)) --

SCHEDULES: dict[str, Callable[..., optax.Schedule]] = {
    "step": lambda c, spe, total: optim.step_decay(
        c.learning_rate, total, c.lr_boundaries, c.lr_decay),
    "cosine": lambda c, spe, total: optim.cosine(c.learning_rate, total),
    "constant": lambda c, spe, total: optax.constant_schedule(c.learning_rate),
    # Linear warm-up from 0 over a fraction of the run, then half-cosine to 0
    # (SimCLR / solo-learn: 10 of 1,000 epochs); "warmup_cosine:warmup=0.1".
    "warmup_cosine": lambda c, spe, total, warmup=0.1: optim.warmup_cosine(
        c.learning_rate, total, warmup),
}


def make_optimizer(config, steps_per_epoch: int) -> tuple:
  """(optax optimizer, lr schedule) of ``config``."""
  kind = named.parse(config.lr_schedule)  # "name" or "name:key=value"
  if kind.name not in SCHEDULES:
    raise ValueError(f"lr_schedule={config.lr_schedule!r}; allowed: "
                     f"{sorted(SCHEDULES)}")
  total = config.epochs * steps_per_epoch
  schedule = SCHEDULES[kind.name](config, steps_per_epoch, total,
                                  **kind.params)
  return optim.sgd(schedule, momentum=config.momentum,
                   nesterov=config.nesterov,
                   weight_decay=config.weight_decay), schedule


def population_mesh(config, strategy: str, size: int):
  """The device mesh a vmapped population is spread over, or None."""
  want = config.shard_population
  n = jax.device_count()
  if strategy != "vmap" or want is False or (want is None and n == 1):
    return None
  if size % n:
    if want:
      raise ValueError(f"shard_population=True but {size} members do not "
                       f"split over {n} devices; allowed: a multiple of {n}")
    return None
  return sharding.mesh(sharding.POPULATION)


def node_mesh(config, strategy: str, size: int):
  """The ``node`` mesh over this process's devices when
  ``config.node_parallel``, else None.

  Raises:
    ValueError: combined with data parallel, several processes, or a
      vmapped population of 2+ members (not covered).
  """
  if not config.node_parallel:
    return None
  if config.data_parallel or jax.process_count() > 1:
    raise ValueError("node_parallel=True with data_parallel / several "
                     "processes; allowed: node_parallel on one process, "
                     "data_parallel=False")
  if strategy == "vmap" and size > 1:
    raise ValueError("node_parallel=True with population_strategy='vmap'; "
                     "allowed: 'sequential' (or one graph)")
  return sharding.mesh(sharding.NODE, devices=jax.local_devices())


def fit_mesh(config, strategy: str, size: int):
  """The mesh of a run, or None: ``population_mesh`` without
  ``data_parallel``; with it a ``data`` mesh over every device (of every
  process), or — a vmapped population with ``shard_population=True`` — a 2-D
  (population, data) mesh with gcd(K, devices) devices on ``population``."""
  nodes = node_mesh(config, strategy, size)
  if nodes is not None:  # the state and batches replicated over it
    return nodes
  data = config.data_parallel
  if data is None:
    data = jax.process_count() > 1
  if not data:
    return population_mesh(config, strategy, size)
  n = jax.device_count()
  if strategy == "vmap" and config.shard_population:
    p = math.gcd(size, n)
    return sharding.mesh((sharding.POPULATION, sharding.DATA),
                         shape=(p, n // p))
  return sharding.mesh(sharding.DATA)


def _run_epoch(runner, state, feed, epoch, bar=None):
  """Trains one epoch of every member (batches from ``feed``); returns (state,
  mean node loss [K, N], mean node acc [K, N], seconds, input seconds, summed
  extra metrics: ``conflicts`` [K, N, N] under PCGrad aggregation)."""
  steps = feed.steps_per_epoch
  loss_sum = acc_sum = conflicts = 0.0
  input_sec = 0.0
  start = time.perf_counter()
  for s in range(steps):
    t0 = time.perf_counter()
    batch = feed.batch(epoch, s)
    input_sec += time.perf_counter() - t0
    state, m = runner.step(state, batch)
    if bar is not None:
      bar.update()
    # Summed on device: no host sync per step, so slicing overlaps the step.
    loss_sum = loss_sum + m["node_loss"]
    acc_sum = acc_sum + m["node_accuracy"]
    if "conflicts" in m:  # aggregate="pcgrad": conflicting edge pairs
      conflicts = conflicts + m["conflicts"]
  loss, acc, conflicts = jax.device_get((loss_sum / steps, acc_sum / steps,
                                         conflicts))
  sec = time.perf_counter() - start
  extra = {} if np.ndim(conflicts) == 0 else {"conflicts": conflicts}
  return state, np.asarray(loss), np.asarray(acc), sec, input_sec, extra


def _check_finite(epoch: int, loss: np.ndarray, member: str = "") -> None:
  bad = [i for i, v in enumerate(loss) if not np.isfinite(v)]
  if bad:
    raise DivergedError(f"epoch {epoch}: {member}training loss of node(s) "
                        f"{bad} is {[float(loss[i]) for i in bad]} (diverged)"
                        "; lower learning_rate or check the graph's gates")


def _epoch_metrics(spec, config, epoch, acc, loss, train_acc, steps, sec,
                   input_sec, schedule) -> dict:
  return {"epoch": epoch, "eval_split": config.eval_split,
          "target_accuracy": scoring.score_fn(config)(acc, spec),
          "accuracy": acc.tolist(), "train_loss": loss.tolist(),
          "train_accuracy": train_acc.tolist(),
          "steps_per_sec": steps / sec, "input_fraction": input_sec / sec,
          "lr": float(schedule(epoch * steps - 1)), "seconds": sec}


def _result(state, history, workdir) -> FitResult:
  accs = [m["target_accuracy"] for m in history]
  seen = [a for a in accs if not np.isnan(a)]  # skipped evaluations are NaN
  return FitResult(state=state, history=history,
                   best_target_accuracy=max(seen, default=float("nan")),
                   final_target_accuracy=accs[-1] if accs else float("nan"),
                   workdir=workdir)


def fit(spec: GraphSpec | Sequence[GraphSpec], data,
        config: FitConfig | ml_collections.ConfigDict,
        workdir: str | None = None,
        callback: Callback | None = None, *,
        seeds: Sequence[int] | None = None):
  """Trains graph ``spec`` — or a population — on ``data`` (a ``Dataset``).

  A population (``spec`` a sequence of graphs of one structure, and/or
  ``seeds`` given) is K members trained together in the same loop, each with
  its own seed (init and data order), metrics, pictures and final variables
  under ``workdir/member{k}``; one checkpoint holds them all (stacked), so a
  population resumes like one graph. Member k equals a run of ``spec[k]``
  with ``seeds[k]`` alone. ``config.population_strategy`` picks sequential
  or vmap (None: by backend, ``ktg_jax.run.population.STRATEGY``).

  Args:
    spec: the graph (``spec.target`` is the node whose accuracy is
      reported), or a sequence of graphs of one structure.
    data: train / val / test splits; only ``config.eval_split`` is evaluated.
    config: a ``FitConfig``, or a script's config (``default_config()``)
      of which ``fit`` reads the ``FitConfig`` fields.
    workdir: where checkpoints, metrics, split indices, final variables and
      pictures go; None = nothing written (and no resume).
    callback: ``callback(epoch, metrics) -> bool | None`` after each epoch's
      evaluation (a population passes the list of its members' metrics);
      True stops training (ASHA).
    seeds: a population's seeds (one per graph, or one broadcast); None =
      ``config.seed``.

  Returns:
    A ``FitResult`` for one graph (a ``GraphSpec`` and no ``seeds``), else a
    ``PopulationResult``.

  Raises:
    DivergedError: a node's training loss is NaN or inf.
    run_files.RunFolderInUseError: ``workdir`` holds a run and
      ``config.resume`` is False (nothing is overwritten).

  Example (``ktg_jax.fit`` is this function):
    >>> import ktg_jax as ktg
    >>> cfg = ktg.default_config()
    >>> cfg.epochs, cfg.batch_size, cfg.verbose = 2, 64, False
    >>> r = ktg.fit(ktg.dml(["small_cnn", "small_cnn"]),
    ...             ktg.load_data("fractal"), cfg)
    >>> [m["epoch"] for m in r.history], len(r.history[-1]["accuracy"])
    ([1, 2], 2)
    >>> r.final_target_accuracy == r.history[-1]["target_accuracy"]
    True
  """
  single = isinstance(spec, GraphSpec) and seeds is None
  recorded = config  # the run folder records the script's whole config
  config = FitConfig.of(config)
  members_ = population.members(spec, (config.seed,) if seeds is None
                                else seeds)
  split = scoring.eval_split(data, config.eval_split)
  scoring.score_fn(config)  # a bad score fails before training, not later
  scoring.evaluates(config, 1)  # and so does a bad eval_every_epochs
  metric = scoring.eval_metric(config, [m.spec for m in members_])
  feed = feeds.make(data, config, [m.seed for m in members_],
                    [m.spec for m in members_])
  steps_per_epoch = feed.steps_per_epoch
  optimizer, schedule = make_optimizer(config, steps_per_epoch)
  augment = augment_lib.for_dataset(data.name) if config.augment else None
  strategy = ("sequential" if single else config.population_strategy
              or population.default_strategy())
  mesh = fit_mesh(config, strategy, len(members_))
  runner = population.runner(
      members_, strategy, mesh=mesh,
      node_mesh=mesh if config.node_parallel else None,
      num_classes=data.num_classes, total_steps=config.epochs * steps_per_epoch,
      optimizer=optimizer, augment=augment, views=feed.views,
      loss_kinds=tuple(config.loss_kinds) or None,
      aggregate=config.aggregate,
      compute_dtype=config.compute_dtype)
  state = runner.init(feed.init_images)
  # One graph keeps its plain KTGState on disk; a population the stacked one.
  to_saved = (lambda s: s[0]) if single else runner.stacked
  from_saved = (lambda s: (s,)) if single else runner.from_stacked
  dirs = [None] * runner.size
  if workdir:
    dirs = [workdir] if single else [os.path.join(workdir, f"member{k}")
                                     for k in range(runner.size)]
  histories, start_epoch, mngr = [[] for _ in members_], 0, None
  # Several processes (data parallel): process 0 writes the files; orbax
  # (checkpoints, variables) runs in all of them, as it requires.
  writer = jax.process_index() == 0
  if workdir:
    run_files.check_run_folder(workdir, config.resume)
    if config.resume:
      for member, d in zip(members_, dirs):
        run_files.check_resume_is_the_same_run(d, member.seed, member.spec)
    for member, d in zip(members_, dirs):
      if writer:
        run_files.prepare_workdir(d, member, feed, recorded)
    if config.checkpoint_every:
      mngr = checkpoint.run_manager(os.path.join(workdir, "checkpoints"),
                                    config.keep_checkpoints)
      restored = (checkpoint.restore_run(mngr, to_saved(state))
                  if config.resume else None)
      if restored is not None:
        start_epoch, saved, meta = restored
        state = from_saved(saved)
        histories = meta.get("histories") or [meta["history"]]
        if config.verbose:
          print(f"resumed from epoch {start_epoch} in {workdir}", flush=True)
  logs = [run_files.Logs(d if writer else None, h)
          for d, h in zip(dirs, histories)]
  if start_epoch < config.epochs:  # compile, then free the compiler's heap
    t0 = time.perf_counter()
    if config.verbose:
      print("compiling the step ...", end=" ", flush=True)
    runner.warm(state, feed.batch(start_epoch, 0))
    if config.verbose:
      print(f"{time.perf_counter() - t0:.1f} s", flush=True)
  bar = run_files.StepBar(config.epochs * steps_per_epoch,
                          start_epoch * steps_per_epoch,
                          config.verbose and writer)
  run_start = time.perf_counter()
  try:
    for epoch in range(start_epoch, config.epochs):
      state, loss, train_acc, sec, input_sec, extra = _run_epoch(
          runner, state, feed, epoch, bar)
      for k in range(runner.size):
        _check_finite(epoch + 1, loss[k], "" if single else f"member {k}: ")
      acc = (scoring.EVAL_METRICS[metric](config, runner, members_, state,
                                          data, split)
             if scoring.evaluates(config, epoch + 1) else
             [np.full(m.spec.num_nodes, np.nan) for m in members_])
      ms = [_epoch_metrics(m.spec, config, epoch + 1, acc[k], loss[k],
                           train_acc[k], steps_per_epoch, sec, input_sec,
                           schedule) for k, m in enumerate(members_)]
      for k, (history, m) in enumerate(zip(histories, ms)):
        m.update({name: np.asarray(v[k]).tolist() for name, v in extra.items()})
        m["eval_metric"] = scoring.describe_metric(config, metric)
        history.append(m)
      if mngr and (epoch + 1) % config.checkpoint_every == 0:
        checkpoint.save_run(mngr, epoch + 1, to_saved(state),
                            {"histories": histories})
      done = epoch + 1 - start_epoch
      eta = ((time.perf_counter() - run_start) / done
             * (config.epochs - epoch - 1))
      for k, (log, m) in enumerate(zip(logs, ms)):
        log.write(m)
        if config.verbose:
          bar.line(("" if single else f"[member {k}] ") +
                   run_files.progress(m, config.epochs, eta))
      if callback is not None and callback(epoch + 1, ms[0] if single else ms):
        break
  finally:
    bar.close()
    for log in logs:
      log.close()
    if mngr:
      mngr.close()
  reports = scoring.ensemble_reports(members_, runner, state, split,
                                     config.eval_batch_size)
  for history, rep in zip(histories, reports):
    if rep is not None and history:
      history[-1]["ensemble"] = rep
      if config.verbose:
        print(f"ensemble on {config.eval_split}: "
              f"{json.dumps({k: v for k, v in rep.items() if k != 'diversity_matrix'})}",
              flush=True)
  results = [_result(runner.member(state, k), histories[k], dirs[k])
             for k in range(runner.size)]
  if workdir:
    for m, r, rep in zip(members_, results, reports):
      run_files.finish(m.spec, r.state, r.history, r.workdir, config, writer)
      if rep is not None and writer:
        with open(os.path.join(r.workdir, "ensemble.json"), "w") as f:
          json.dump(rep, f, indent=1)
  if single:
    return results[0]
  return PopulationResult(state=runner.stacked(state), members=tuple(results),
                          strategy=runner.strategy)
