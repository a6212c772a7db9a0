"""Structure search on Ray Tune: Nevergrad proposes graphs, ASHA stops them (docs/papers.md §4).

Ray does the engineering — trial scheduling over workers, resources, failure
handling, the trial database and resuming; this module only wires it to KTG:

* a *trial* = one sampled point of a space (``space_ops.Space``) -> ``GraphSpec`` ->
  ``training.fit`` (the one training loop) on the train split, with a callback
  that ``tune.report``s the target node's *validation* accuracy after every
  epoch. The data set is ``data.sealed``: a trial that read the test split
  would fail (docs/papers.md §4: the test set is never used during search).
* the *searcher* = ``NevergradSearch`` over the space's parametrization, with
  ``space_ops.Feasible`` registered as a cheap constraint (no all-Cutoff target,
  no frozen node without a checkpoint).
* the *protocol* picks the Nevergrad optimizer and whether ASHA runs
  (``PROTOCOLS``).

ASHA here vs. the thesis (ch.3 §3.2.5). Same rungs (epochs 1, 2, 4, ...: Ray's
``ASHAScheduler(time_attr="epoch", grace_period=1, reduction_factor=2)``;
``SearchConfig.grace_period`` moves the first rung later) and the same score
(the target accuracy at the last epoch a trial ran). Ray's rule at a rung: the
trial stops if its accuracy is below the 50th percentile (``np.nanpercentile``,
linear interpolation) of the accuracies *recorded at that rung by earlier
trials* — the first trial at a rung always goes on, ties at the median go on,
and a trial's own value is not part of the quantile. Optuna's
SuccessiveHalvingPruner (the original code) instead keeps a trial if it ranks
in the top 1/2 of the rung *including itself*. Either way ASHA is asynchronous:
early trials are judged against few peers.

Packs (``pack_size`` > 1, protocols without early stopping only): a trial
trains K points as one population and each goes back to the searcher as its
own result; ``ktg_jax.search.packs`` says why packs and ASHA do not mix.
Seeds (``seeds_per_graph`` = S > 1, any protocol): a trial trains its one
point with S seeds as one population and reports their mean score, so
Nevergrad and ASHA's rungs compare graphs by the mean of S seeds, not by one
seed's noise (S times the compute per graph).

ch.5 spaces (``semi_spaces.SemiSpace``, the same protocol) go the same way
with ``Settings.labels_per_class`` set: the trial (``trial.run_trial``) trains on
the labelled draw + the unlabelled rest (``data.semi``), an "epoch" is one
evaluation (every ``eval_every`` iterations), so ASHA's rungs are the 1st,
2nd, 4th ... evaluation (ch.5), and the score is the config's (``score="best"``:
the better node, the FixMatch space).

Resume: the Tuner's state (finished trials, searcher state) lives under
``<output_dir>/tune``; ``run`` restores it when it exists
(``Tuner.can_restore``), so the same command continues a killed search.
Trials that were running when it died restart from epoch 0 (trials keep no
checkpoints: they are short, and a restart keeps ASHA's rung data honest).
"""

from __future__ import annotations

import json
import os
from typing import Callable, NamedTuple

import nevergrad as ng
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search.nevergrad import NevergradSearch

from ktg_jax.search import fingerprint
from ktg_jax.search import packs
from ktg_jax.search.progress import METRIC, TIME_ATTR, Progress
from ktg_jax.search import space_ops
from ktg_jax.search import trial
from ktg_jax.search.trial import SearchError, Settings
from ktg_jax.run import training

EXPERIMENT = "tune"  # folder under output_dir holding Ray's state


class Protocol(NamedTuple):
  """How a search proposes and stops graphs."""
  name: str
  optimizer: str       # a name in ng.optimizers.registry
  early_stopping: bool  # ASHA (True) or every trial runs all epochs
  why: str


PROTOCOLS = {
    # ch.3/ch.4/ch.5 (and 002, 003 A-C): independent uniform random graphs,
    # killed early by ASHA. Nevergrad's RandomSearch samples each parameter
    # uniformly in its domain (log-uniform for gamma); the constraint rejects
    # infeasible graphs, so the graphs are uniform among the feasible ones.
    "asha": Protocol("asha", "RandomSearch", True,
                     "random graphs + ASHA (thesis ch.3 §3.2.5)"),
    # 000: multivariate model-based search over (gate kind, gamma) of every
    # edge, every trial trained to the end. Nevergrad's GP-"BO" (bayes_opt)
    # crashes here on 4 of 6 seeds within 40 asks ("Only data between [0] and
    # [1] can be transformed back"), so we use NGOpt: Nevergrad's documented
    # default, which chooses its algorithm from the parametrization (mixed
    # categorical + log-scale continuous), the budget and num_workers, and
    # models all parameters jointly (DE/CMA-type, not per-parameter like TPE).
    "bo": Protocol("bo", "NGOpt", False,
                   "000: multivariate optimisation of gamma gates, no "
                   "early stopping"),
    # 000's model-based proposals with ASHA stopping the weak ones early (as
    # BOHB pairs a model with successive halving). A stopped trial goes back to
    # NGOpt with its score at the rung it reached, an underestimate of its full
    # length. Use it where the score after the first rung was shown to rank
    # graphs as the full length does (``experiments/search_proxy.py``).
    "bo_asha": Protocol("bo_asha", "NGOpt", True,
                        "000's multivariate optimisation of gamma gates, "
                        "weak graphs stopped by ASHA"),
    # A random sweep where every graph runs all epochs (no ASHA): the
    # protocol packs of graphs (``pack_size`` > 1, ``packs``) are for.
    "random": Protocol("random", "RandomSearch", False,
                       "random graphs, every one trained to the end"),
}


# --- the searcher and the scheduler ------------------------------------------

def parametrization(space: space_ops.Space) -> ng.p.Dict:
  """The space's free parameters as Nevergrad parameters, constraint attached."""
  def convert(domain):
    if isinstance(domain, space_ops.Choice):
      return ng.p.Choice(list(domain.options))
    if isinstance(domain, space_ops.LogUniform):
      return ng.p.Log(lower=domain.lower, upper=domain.upper)
    return ng.p.Scalar(lower=domain.lower, upper=domain.upper)
  param = ng.p.Dict(**{k: convert(d)
                       for k, d in space.parameters().items()})
  param.register_cheap_constraint(space_ops.Feasible(space))
  return param


def searcher(space, protocol: Protocol, num_trials: int, workers: int,
             seed: int = 0) -> NevergradSearch:
  param = parametrization(space)
  param.random_state.seed(seed)
  optimizer = ng.optimizers.registry[protocol.optimizer](
      parametrization=param, budget=num_trials, num_workers=workers)
  return NevergradSearch(optimizer=optimizer, space=None, metric=METRIC,
                         mode="max")


def scheduler(protocol: Protocol, epochs: int, grace_period: int = 1):
  if not protocol.early_stopping:
    return FIFOScheduler()
  # Rungs at epochs g, 2g, 4g, ... < epochs (ch.3 §3.2.5: g = 1); max_t ends a
  # trial. On small data one epoch is a few dozen steps and every graph is
  # still at chance at rung 1 (measured: benchmarks/FIDELITY.md), so ASHA
  # would stop graphs at random: a larger g puts the first rung later.
  return ASHAScheduler(time_attr=TIME_ATTR, metric=METRIC, mode="max",
                       max_t=epochs, grace_period=grace_period,
                       reduction_factor=2)


# --- the search ----------------------------------------------------------------

class SearchConfig(NamedTuple):
  space: space_ops.Space
  output_dir: str
  protocol: str = "asha"
  num_trials: int = 8
  workers: int = 1
  cpus_per_trial: float = 1.0
  gpus_per_trial: float = 0.0
  epochs: int = 4
  settings: Settings = Settings()
  max_failures: int = 0  # retries per trial; divergence is deterministic
  seed: int = 0
  pack_size: int = 1  # graphs per trial (one population), ``packs``
  # seeds per graph, trained as one population, scored by their mean
  # (``trial.run_trial``)
  seeds_per_graph: int = 1
  grace_period: int = 1  # epochs before ASHA's first rung (``scheduler``)


def num_samples(sc: SearchConfig) -> int:
  """Ray trials of the search: ``num_trials`` graphs in packs of K."""
  return -(-sc.num_trials // sc.pack_size)


def validate(sc: SearchConfig) -> SearchConfig:
  """Fails fast, naming the bad field."""
  checks = (
      ("protocol", sc.protocol in PROTOCOLS, sorted(PROTOCOLS)),
      ("num_trials", isinstance(sc.num_trials, int) and sc.num_trials >= 1,
       "an int >= 1"),
      ("workers", isinstance(sc.workers, int) and sc.workers >= 1,
       "an int >= 1"),
      ("cpus_per_trial", sc.cpus_per_trial > 0, "a number > 0"),
      ("gpus_per_trial", sc.gpus_per_trial >= 0, "a number >= 0"),
      ("epochs", isinstance(sc.epochs, int) and sc.epochs >= 1, "an int >= 1"),
      ("max_failures", sc.max_failures >= 0, "an int >= 0"),
      ("grace_period", isinstance(sc.grace_period, int)
       and 1 <= sc.grace_period <= sc.epochs,
       f"an int in [1, epochs={sc.epochs}]"),
      ("output_dir", bool(sc.output_dir), "a folder path"),
      ("pack_size", isinstance(sc.pack_size, int) and sc.pack_size >= 1 and
       (sc.pack_size == 1 or not PROTOCOLS.get(
           sc.protocol, PROTOCOLS["asha"]).early_stopping),
       "an int >= 1; > 1 only with a protocol without early stopping "
       f"{sorted(k for k, p in PROTOCOLS.items() if not p.early_stopping)}"
       " (a pack is stopped as a whole, ktg_jax.search.packs)"),
      ("seeds_per_graph", isinstance(sc.seeds_per_graph, int)
       and sc.seeds_per_graph >= 1
       and (sc.seeds_per_graph == 1 or sc.pack_size == 1),
       "an int >= 1; > 1 only with pack_size 1 (a trial trains one graph "
       "with several seeds or a pack of graphs with one seed each)"),
  )
  for field, ok, allowed in checks:
    if not ok:
      raise SearchError(f"{field}={getattr(sc, field)!r} is invalid; "
                        f"allowed: {allowed}")
  if not isinstance(sc.space, space_ops.Space):
    raise SearchError(f"space={sc.space!r} is invalid; allowed: a search "
                      "space (ktg_jax.search.space_ops.Space, e.g. "
                      "presets.get(name))")
  sc.space.validate()
  if (sc.settings.labels_per_class is None) != (
      not sc.space.SEMI_SUPERVISED):
    raise SearchError(
        f"settings.labels_per_class={sc.settings.labels_per_class!r} with a "
        f"{type(sc.space).__name__}; allowed: an int >= 1 with a ch.5 "
        "SemiSpace, None with a SearchSpace")
  trial.train_config(sc.settings)  # unknown training overrides fail here
  return sc


def trainable(sc: SearchConfig, fit_fn: Callable | None = None):
  if sc.pack_size == 1:
    fn = tune.with_parameters(trial.run_trial, space=sc.space,
                              settings=sc.settings, fit_fn=fit_fn,
                              seeds_per_graph=sc.seeds_per_graph)
  else:
    fn = tune.with_parameters(packs.run_pack_trial, space=sc.space,
                              settings=sc.settings, fit_fn=fit_fn)
  return tune.with_resources(fn, {"cpu": sc.cpus_per_trial,
                                  "gpu": sc.gpus_per_trial})


def experiment_path(output_dir: str) -> str:
  return os.path.join(os.path.abspath(output_dir), EXPERIMENT)


def make_tuner(sc: SearchConfig, fit_fn: Callable | None = None
               ) -> tuple[tune.Tuner, bool]:
  """A fresh Tuner, or the one restored from ``output_dir`` (resume)."""
  path = experiment_path(sc.output_dir)
  train_fn = trainable(sc, fit_fn)
  if tune.Tuner.can_restore(path):
    # Finished trials are kept; errored ones stay errored (their reason is
    # the result); unfinished ones start again.
    return tune.Tuner.restore(path, trainable=train_fn,
                              resume_unfinished=True, resume_errored=False,
                              restart_errored=False), True
  protocol = PROTOCOLS[sc.protocol]
  search_alg = searcher(sc.space, protocol, sc.num_trials,
                        sc.workers * sc.pack_size, sc.seed)
  if sc.pack_size > 1:
    search_alg = packs.PackSearch(search_alg, sc.pack_size, sc.num_trials)
  tuner = tune.Tuner(
      train_fn,
      tune_config=tune.TuneConfig(
          search_alg=search_alg,
          scheduler=scheduler(protocol, sc.epochs, sc.grace_period),
          num_samples=num_samples(sc), max_concurrent_trials=sc.workers,
          # One worker process runs trial after trial: no new process, JAX
          # import or data load per graph (trial state is all inside fit).
          reuse_actors=True),
      run_config=tune.RunConfig(
          name=EXPERIMENT, storage_path=os.path.abspath(sc.output_dir),
          failure_config=tune.FailureConfig(max_failures=sc.max_failures,
                                            fail_fast=False),
          callbacks=[Progress(sc.output_dir, sc.epochs, num_samples(sc))],
          verbose=0))
  return tuner, False


SEARCH_JSON = "search.json"


def _fingerprint(sc: SearchConfig) -> dict:
  """What must not change between a search and its resume (JSON-able)."""
  # A field a stored fingerprint lacks counts as None (fingerprint.changed), so
  # searches from before labels_per_class resume; pack_size defaults to 1, not
  # None, so it is recorded only when set.
  settings = sc.settings._replace(cache_dir=None, gpu_memory_fraction=None)
  packed = {} if sc.pack_size == 1 else {"pack_size": sc.pack_size}
  if sc.grace_period != 1:  # likewise: recorded only when set
    packed["grace_period"] = sc.grace_period
  if sc.seeds_per_graph != 1:  # likewise
    packed["seeds_per_graph"] = sc.seeds_per_graph
  return json.loads(json.dumps({
      "space": sc.space._asdict(), "protocol": sc.protocol,
      "num_trials": sc.num_trials, "epochs": sc.epochs, "seed": sc.seed,
      "settings": settings._asdict(), **packed}, default=list))


def effective(fp: dict) -> dict:
  """A search fingerprint with ``settings.train`` replaced by the training
  config it gives (``training.default_config()`` + the overrides + search
  mode): a search started with only some fields (``experiments/search.py``
  before 2026-12-03, without ``--config``) resumes under a config file that
  spells every field with the same values, and vice versa. The data fields
  (dataset, limit, ...) are the settings' own, which the trials read.

  >>> a = effective({"settings": {"train": {"epochs": 4}}})
  >>> b = effective({"settings": {"train": {"epochs": 4, "batch_size": 64,
  ...                                       "verbose": True}}})
  >>> a == b, a["settings"]["train"]["epochs"]
  (True, 4)
  """
  settings = fp.get("settings")
  if not isinstance(settings, dict) or not isinstance(settings.get("train"),
                                                      dict):
    return fp
  defaults = json.loads(json.dumps(dict(training.default_config().items()),
                                   default=list))
  train = {**defaults, **settings["train"], **trial.SEARCH_MODE}
  # The data fields a trial takes from the settings, not from train.
  train.update({k: settings.get(k) for k in Settings._fields if k in train})
  return {**fp, "settings": {**settings, "train": train}}


def check_same_search(sc: SearchConfig) -> None:
  """A resumed Tuner keeps its first settings: refuse a changed command
  instead of silently running the old one; the first run writes them.
  Compared as ``effective``: what the trials would train with."""
  fingerprint.check_or_write(os.path.join(sc.output_dir, SEARCH_JSON),
                             _fingerprint(sc), "search", SearchError,
                             normalize=effective)


def init_ray(address: str | None = None, num_cpus: int | None = None,
             env_vars: dict | None = None) -> None:
  """Joins ``address`` (an existing cluster) or starts a local Ray.

  ``env_vars`` go into every worker process *at its start* (Ray's job
  ``runtime_env``), i.e. before the trial imports JAX.
  """
  if ray.is_initialized():
    return
  runtime_env = {"env_vars": dict(env_vars)} if env_vars else None
  if address:
    ray.init(address=address, runtime_env=runtime_env)
  else:
    ray.init(num_cpus=num_cpus, include_dashboard=False,
             runtime_env=runtime_env)


def run(sc: SearchConfig, fit_fn: Callable | None = None):
  """Runs (or resumes) the search; returns Ray's ``ResultGrid``.

  Experiment state is saved every ``TUNE_GLOBAL_CHECKPOINT_S`` seconds (we
  default it to 2; Ray's "auto" waits >= 10 s), so a ``kill -9`` loses at most
  the trials finished in the last 2 s before it.
  """
  validate(sc)
  os.makedirs(sc.output_dir, exist_ok=True)
  check_same_search(sc)
  os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
  if sc.settings.cache_dir is None:
    sc = sc._replace(settings=sc.settings._replace(
        cache_dir=os.path.join(os.path.abspath(sc.output_dir), "jax_cache")))
  if 0 < sc.gpus_per_trial < 1 and sc.settings.gpu_memory_fraction is None:
    sc = sc._replace(settings=sc.settings._replace(
        gpu_memory_fraction=0.9 * sc.gpus_per_trial))
  # Workers started from here on carry the allocator settings from birth.
  init_ray(env_vars={**trial.thread_env(sc.workers, sc.cpus_per_trial,
                                       sc.gpus_per_trial),
                     **trial.allocator_env(sc.settings.gpu_memory_fraction)})
  tuner, resumed = make_tuner(sc, fit_fn)
  if resumed:
    print(f"[search] resuming the search in {experiment_path(sc.output_dir)}",
          flush=True)
  return tuner.fit()
