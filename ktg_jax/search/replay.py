"""Searchers replayed on a tabulated benchmark: every graph trained once, searches answered by look-up.

A *table* holds, for every graph of a finite categorical space, the
per-epoch validation accuracy of the target node for each recorded seed
(one JSON line per (graph, seed), ``load``). A searcher proposes a graph;
the table answers with the recorded curve of one of that graph's seeds,
drawn with the replay's ``rng``, one epoch at a time, so a scheduler can
stop the trial early (ASHA) exactly as it would stop a live one. Nothing is
trained: a replay costs milliseconds, so each searcher can be run hundreds
of times (NAS-Bench-101/201, HPOBench do the same for NAS and HPO).

Cost is counted in *trials* (graphs proposed and answered) and *epochs*
(a trial stopped at epoch e costs e epochs). A proposal outside the table
(an infeasible graph: the target's incoming edges all Cutoff) costs nothing
— a live search rejects it before training (``spaces.Feasible``) — and is
told to the searcher as the worst score.

*Simple regret* after each trial: the best mean validation accuracy of the
table minus the table-mean accuracy of the searcher's incumbent, the trial
with the highest score the searcher *observed* (its last reported epoch, as
``tune`` picks the best trial); so noise in one seed's curve can make a
searcher pick a worse graph, as in a live search.

Searchers (``SEARCHERS``): a proposer (random without replacement,
Nevergrad's optimisers, Optuna's TPE, 003's EDF-refined random search)
combined with a stopper (none, or ASHA at the rungs of ``tune.scheduler``).

Example (two graphs, one seed each, three epochs):
  >>> recs = [{"index": 0, "seed": 0, "point": {"gate": "a"}, "score": .5,
  ...          "curve": [[.1, 0], [.3, 0], [.5, 0]]},
  ...         {"index": 1, "seed": 0, "point": {"gate": "b"}, "score": .7,
  ...          "curve": [[.2, 0], [.4, 0], [.7, 0]]}]
  >>> t = from_records(recs)
  >>> t.params, t.epochs, [float(m) for m in t.mean]
  ({'gate': ('a', 'b')}, 3, [0.5, 0.7])
  >>> tr = replay(t, make("random", t, seed=0), np.random.default_rng(0),
  ...             max_trials=2)
  >>> [round(float(r), 6) for r in tr.regret], tr.epochs.tolist()
  ([0.2, 0.0], [3, 3])
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from ktg_jax.search import edf
from ktg_jax.search import exhaustive
from ktg_jax.search import spaces


class TableError(ValueError):
  """A table record or argument is invalid; the message names the field."""


# --- the table -----------------------------------------------------------------

class Table(NamedTuple):
  """Every graph of a finite space with its recorded validation curves.

  ``keys[g]``: graph g's values in ``params`` order; ``curves[g]``: array
  (seeds, epochs) of the target's validation accuracy after every epoch;
  ``mean[g]``: its final accuracy (``score``) averaged over the seeds.
  """
  params: Mapping[str, tuple]
  keys: tuple
  curves: tuple
  mean: np.ndarray
  epochs: int
  rows: Mapping[tuple, int]  # key -> g

  @property
  def best(self) -> float:
    return float(self.mean.max())

  @property
  def size(self) -> int:
    """The number of graphs."""
    return len(self.keys)


def from_records(records: Sequence[Mapping], params: Mapping[str, Sequence]
                 | None = None, target: int = 0, tol: float = 1e-4) -> Table:
  """A table from records ``{"index", "seed", "point", "score", "curve"}``.

  ``params``: ``{name: options}`` of the space (``space_params``); default:
  the values seen in the records, sorted. ``target``: the node column of
  ``curve`` that is scored. ``score`` must equal the curve's last entry
  (within ``tol``): both are the final validation accuracy.
  """
  if not records:
    raise TableError("records=[] is invalid; allowed: at least one record")
  if params is None:
    seen: dict[str, set] = {}
    for r in records:
      for k, v in r["point"].items():
        seen.setdefault(k, set()).add(v)
    params = {k: tuple(sorted(v, key=str)) for k, v in sorted(seen.items())}
  params = {k: tuple(v) for k, v in params.items()}
  by_index: dict[int, dict] = {}
  for r in records:
    point = r["point"]
    if set(point) != set(params):
      raise TableError(f"record {r['index']}: point keys {sorted(point)} are "
                       f"invalid; allowed: {sorted(params)}")
    for k, v in point.items():
      if v not in params[k]:
        raise TableError(f"record {r['index']}: point[{k!r}]={v!r} is "
                         f"invalid; allowed: {params[k]}")
    curve = np.asarray(r["curve"], np.float64)
    if curve.ndim != 2 or not 0 <= target < curve.shape[1]:
      raise TableError(f"record {r['index']}: curve of shape {curve.shape} is "
                       f"invalid; allowed: (epochs, nodes > target={target})")
    if abs(curve[-1, target] - float(r["score"])) > tol:
      raise TableError(
          f"record {r['index']} seed {r['seed']}: score={r['score']!r} is "
          f"invalid; allowed: the curve's last target value "
          f"{curve[-1, target]:.6f} (within {tol})")
    g = by_index.setdefault(int(r["index"]), {"point": point, "seeds": {}})
    if g["point"] != point:
      raise TableError(f"record {r['index']}: point={point!r} is invalid; "
                       f"allowed: the point of its other seeds {g['point']!r}")
    g["seeds"][int(r["seed"])] = (curve[:, target], float(r["score"]))
  lengths = {len(c) for g in by_index.values() for c, _ in g["seeds"].values()}
  if len(lengths) != 1:
    raise TableError(f"curve lengths {sorted(lengths)} are invalid; allowed: "
                     "one number of epochs for every record")
  keys, curves, mean, rows = [], [], [], {}
  for i, g in sorted(by_index.items()):
    key = tuple(g["point"][k] for k in params)
    if key in rows:
      raise TableError(f"record {i}: point={g['point']!r} is invalid; "
                       f"allowed: one index per graph (also index "
                       f"{sorted(by_index)[rows[key]]})")
    rows[key] = len(keys)
    keys.append(key)
    seeds = sorted(g["seeds"])
    curves.append(np.stack([g["seeds"][s][0] for s in seeds]))
    mean.append(np.mean([g["seeds"][s][1] for s in seeds]))
  return Table(params, tuple(keys), tuple(curves), np.asarray(mean),
               lengths.pop(), rows)


def read_records(path: str) -> list[dict]:
  """The JSONL records (``exhaustive.read_file``: a half-written last line is
  skipped, a (graph, seed) written twice counts once)."""
  return list(exhaustive.read_file(path).values())


def load(path: str, params: Mapping[str, Sequence] | None = None,
         target: int = 0) -> Table:
  """The table of the JSONL file at ``path`` (``from_records``)."""
  return from_records(read_records(path), params, target)


def space_params(space) -> dict[str, tuple]:
  """``{name: options}`` of a ``spaces.SearchSpace`` of choices only."""
  out = {}
  for k, d in spaces.parameters(space).items():
    if not isinstance(d, spaces.Choice):
      raise TableError(f"space {space.name!r}: parameter {k!r} is "
                       f"{type(d).__name__}; allowed: categorical (Choice) "
                       "parameters only")
    out[k] = tuple(d.options)
  return out


def key(table: Table, point: Mapping[str, Any]) -> tuple:
  return tuple(point[k] for k in table.params)


def point(table: Table, g: int) -> dict:
  return dict(zip(table.params, table.keys[g]))


def top(table: Table, fraction: float = 0.05) -> np.ndarray:
  """Rows of the best ``ceil(fraction * len)`` graphs by table mean (ties at
  the cut included)."""
  if not 0 < fraction <= 1:
    raise TableError(f"fraction={fraction!r} is invalid; allowed: (0, 1]")
  n = math.ceil(fraction * table.size)
  cut = np.sort(table.mean)[::-1][n - 1]
  return np.flatnonzero(table.mean >= cut)


def answer(table: Table, g: int, rng: np.random.Generator) -> np.ndarray:
  """The per-epoch curve of one of graph g's seeds, drawn uniformly."""
  c = table.curves[g]
  return c[rng.integers(len(c))]


# --- stoppers ------------------------------------------------------------------

def asha_rungs(max_t: int, grace_period: int = 1,
               reduction_factor: int = 2) -> tuple[int, ...]:
  """Epochs at which ASHA judges a trial: g, g*r, g*r^2, ... < max_t (Ray's
  rung at max_t itself, if any, judges a trial that ends anyway).

  >>> asha_rungs(16), asha_rungs(15, 4)
  ((1, 2, 4, 8), (4, 8))
  """
  if not 1 <= grace_period <= max_t or reduction_factor < 2:
    raise TableError(f"grace_period={grace_period!r}, reduction_factor="
                     f"{reduction_factor!r} are invalid; allowed: 1 <= "
                     f"grace_period <= max_t={max_t}, reduction_factor >= 2")
  out, r = [], grace_period
  while r < max_t:
    out.append(r)
    r *= reduction_factor
  return tuple(out)


class Asha:
  """Ray Tune's ASHAScheduler for trials run one after another (``tune``).

  At a rung the trial stops if its value is below the ``1 - 1/r`` quantile
  (``np.nanpercentile``, linear) of the values recorded at that rung by
  earlier trials; the first trial at a rung goes on; its value is recorded
  either way.

  >>> a = Asha(max_t=4)
  >>> [a.keep(1, v) for v in (.5, .4, .6, .45)]
  [True, False, True, False]
  """

  def __init__(self, max_t: int, grace_period: int = 1,
               reduction_factor: int = 2):
    self.rungs = asha_rungs(max_t, grace_period, reduction_factor)
    self.quantile = (1 - 1 / reduction_factor) * 100
    self.recorded: dict[int, list] = {r: [] for r in self.rungs}

  def keep(self, epoch: int, value: float) -> bool:
    if epoch not in self.recorded:
      return True
    seen = self.recorded[epoch]
    cutoff = np.nanpercentile(seen, self.quantile) if seen else None
    seen.append(value)
    return cutoff is None or not value < cutoff


class Never:
  """Every trial runs all epochs."""

  def keep(self, epoch: int, value: float) -> bool:  # pylint: disable=unused-argument
    return True


# --- proposers: ask() -> point | None (nothing left), tell(point, score) -------

class RandomProposer:
  """Uniform random graphs of the table, without replacement (or with:
  ``replace``, the distribution of ``tune``'s Nevergrad RandomSearch under
  the feasibility constraint, ``test_replay`` checks it)."""

  def __init__(self, table: Table, rng: np.random.Generator,
               replace: bool = False):
    self.table, self.rng, self.replace = table, rng, replace
    self.order = [] if replace else list(rng.permutation(table.size))

  def ask(self):
    if self.replace:
      return point(self.table, int(self.rng.integers(self.table.size)))
    return point(self.table, int(self.order.pop(0))) if self.order else None

  def tell(self, p, score) -> None:
    pass


class NevergradProposer:
  """A Nevergrad optimiser over the categorical parameters (ask/tell,
  loss = 1 - accuracy); graphs outside the table are a cheap constraint, as
  ``spaces.Feasible`` is in ``tune``. A graph proposed twice is trained
  (answered) twice, as in a live search."""

  def __init__(self, table: Table, optimizer: str, seed: int, budget: int):
    import nevergrad as ng  # pylint: disable=import-outside-toplevel
    if optimizer not in ng.optimizers.registry:
      raise TableError(f"optimizer={optimizer!r} is invalid; allowed: a name "
                       "in nevergrad.optimizers.registry")
    param = ng.p.Dict(**{k: ng.p.Choice(list(v))
                         for k, v in table.params.items()})
    param.register_cheap_constraint(_InTable(table))
    param.random_state.seed(seed)
    self.opt = ng.optimizers.registry[optimizer](
        parametrization=param, budget=budget, num_workers=1)
    self.pending: list = []

  def ask(self):
    import warnings  # pylint: disable=import-outside-toplevel
    with warnings.catch_warnings():  # "could not bypass the constraint"
      warnings.simplefilter("ignore")
      c = self.opt.ask()
    self.pending.append(c)
    return dict(c.value)

  def tell(self, p, score) -> None:
    c = self.pending.pop()
    self.opt.tell(c, 1.0 - (0.0 if score is None else float(score)))


class _InTable(NamedTuple):
  table: Table

  def __call__(self, p) -> bool:
    return key(self.table, p) in self.table.rows


class OptunaProposer:
  """Optuna's TPE over the categorical parameters; with ``pruner`` its
  HyperbandPruner (reduction factor 2, as ASHA here) also stops trials, so
  this object is its own stopper (``keep``)."""

  def __init__(self, table: Table, seed: int, pruner: bool = False,
               grace_period: int = 1):
    import optuna  # pylint: disable=import-outside-toplevel
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    self.optuna, self.table = optuna, table
    self.dists = {k: optuna.distributions.CategoricalDistribution(list(v))
                  for k, v in table.params.items()}
    self.study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=grace_period, max_resource=table.epochs,
            reduction_factor=2) if pruner else optuna.pruners.NopPruner())
    self.trial, self.pruned = None, False

  def ask(self):
    self.trial, self.pruned = self.study.ask(self.dists), False
    return dict(self.trial.params)

  def keep(self, epoch: int, value: float) -> bool:
    self.trial.report(float(value), epoch)
    self.pruned = self.trial.should_prune()
    return not self.pruned

  def tell(self, p, score) -> None:
    if score is not None and self.pruned:
      self.study.tell(self.trial, state=self.optuna.trial.TrialState.PRUNED)
    else:
      self.study.tell(self.trial, 0.0 if score is None else float(score))


class RefinedProposer:
  """003's refinement, scripted: ``first`` random graphs; then, per
  parameter, the ``keep`` values with the lowest mean error among them
  (EDF, ``edf.best_values``; graphs at or below ``floor`` left out); then
  random graphs of that refined space not yet tried, then of the rest."""

  def __init__(self, table: Table, rng: np.random.Generator, first: int = 16,
               keep: int = 2, floor: float = 0.02):
    self.table = table
    self.first, self.keep_k, self.floor = first, keep, floor
    self.order = list(rng.permutation(table.size))
    self.rows: list[dict] = []
    self.kept: dict[str, tuple] | None = None

  def ask(self):
    if len(self.rows) == self.first and self.kept is None:
      self._refine()
    return point(self.table, int(self.order.pop(0))) if self.order else None

  def _refine(self) -> None:
    self.kept = dict(self.table.params)
    if edf.kept(self.rows, self.floor):  # else: nothing learnt, keep all
      for k, options in self.table.params.items():
        n = len(edf.curves(self.rows, k, self.floor))
        best = edf.best_values(self.rows, [k], min(self.keep_k, n),
                               self.floor)
        self.kept[k] = tuple(v for v in options if str(v) in best)
    inside = [g for g in self.order if all(
        v in self.kept[k] for k, v in zip(self.table.params,
                                          self.table.keys[g]))]
    rest = set(self.order) - set(inside)
    self.order = inside + [g for g in self.order if g in rest]

  def tell(self, p, score) -> None:
    if self.kept is None and score is not None:
      self.rows.append({"point": p, "score": score, "epochs": 0})


# --- searchers -------------------------------------------------------------------

class Spec(NamedTuple):
  """A searcher: how it proposes graphs and whether ASHA stops them."""
  proposer: str               # a key of PROPOSERS
  option: str = ""            # the Nevergrad optimiser, or "hyperband"
  grace_period: int | None = None  # ASHA's first rung; None: no ASHA
  why: str = ""


def _random(table, spec, rng, seed, budget):  # pylint: disable=unused-argument
  return RandomProposer(table, rng, replace=spec.option == "replace")


def _nevergrad(table, spec, rng, seed, budget):  # pylint: disable=unused-argument
  return NevergradProposer(table, spec.option, seed, budget)


def _optuna(table, spec, rng, seed, budget):  # pylint: disable=unused-argument
  return OptunaProposer(table, seed, pruner=spec.option == "hyperband",
                        grace_period=spec.grace_period or 1)


def _refined(table, spec, rng, seed, budget):  # pylint: disable=unused-argument
  return RefinedProposer(table, rng)


PROPOSERS: dict[str, Callable] = {"random": _random, "nevergrad": _nevergrad,
                                  "optuna": _optuna, "edf": _refined}

SEARCHERS: dict[str, Spec] = {
    "random": Spec("random", why="the thesis's random graphs, every one "
                   "trained to the end (without replacement)"),
    "random+asha": Spec("random", grace_period=1, why="random + ASHA at the "
                        "thesis's rungs 1, 2, 4, ... (ch.3 §3.2.5)"),
    "random+asha_g4": Spec("random", grace_period=4, why="random + ASHA, "
                           "first rung at epoch 4 (grace period)"),
    # The live search's proposer (``tune.PROTOCOLS``): Nevergrad's
    # RandomSearch draws with replacement, so a graph may be trained twice.
    # random_iid draws the same distribution ~100x faster.
    "random_iid": Spec("random", "replace", why="uniform graphs with "
                       "replacement, as tune's 'random' protocol draws"),
    "random_iid+asha": Spec("random", "replace", 1, why="as tune's 'asha' "
                            "protocol draws: with replacement, + ASHA"),
    "ng_random": Spec("nevergrad", "RandomSearch", why="tune's 'random' "
                      "protocol itself: Nevergrad RandomSearch"),
    "ng_random+asha": Spec("nevergrad", "RandomSearch", 1, why="tune's "
                           "'asha' protocol itself: RandomSearch + ASHA"),
    "ngopt": Spec("nevergrad", "NGOpt", why="Nevergrad's default optimiser"),
    "discrete_1+1": Spec("nevergrad", "DiscreteOnePlusOne",
                         why="Nevergrad's discrete (1+1) evolution"),
    "two_points_de": Spec("nevergrad", "TwoPointsDE",
                          why="Nevergrad's differential evolution"),
    "tpe": Spec("optuna", why="Optuna's TPE, every trial to the end"),
    "tpe+hyperband": Spec("optuna", "hyperband", 1, why="Optuna's TPE + its "
                          "HyperbandPruner (reduction factor 2)"),
    "edf_refined": Spec("edf", why="003: the EDF of the first 16 random "
                        "graphs keeps 2 values per parameter, then random "
                        "graphs of that refined space"),
}


def spec_of(name: str) -> Spec:
  """The Spec of ``name``: a key of ``SEARCHERS``, or one with ASHA (or
  Hyperband) followed by ``_g<N>``, its first rung moved to epoch N.

  >>> spec_of("random+asha_g8").grace_period
  8
  """
  if name in SEARCHERS:
    return SEARCHERS[name]
  base, _, grace = name.rpartition("_g")
  if base in SEARCHERS and SEARCHERS[base].grace_period and grace.isdigit(
  ) and int(grace) >= 1:
    return SEARCHERS[base]._replace(grace_period=int(grace))
  raise TableError(f"searcher={name!r} is invalid; allowed: "
                   f"{sorted(SEARCHERS)}, or one with early stopping + "
                   f"'_g<N>' (first rung at epoch N)")


def available(name: str) -> bool:
  """Whether the searcher's package imports (Optuna is optional)."""
  needs = {"optuna": "optuna", "nevergrad": "nevergrad"}.get(
      spec_of(name).proposer)
  return needs is None or importlib.util.find_spec(needs) is not None


class Searcher(NamedTuple):
  proposer: Any
  stopper: Any


def make(name: str, table: Table, seed: int = 0, budget: int = 100,
         rng: np.random.Generator | None = None) -> Searcher:
  """The searcher ``name`` (``spec_of``) on ``table``. ``seed`` seeds the
  optimiser (Nevergrad, Optuna), ``rng`` the random proposers (default
  ``default_rng(seed)``); ``budget``: the trials Nevergrad plans for."""
  spec = spec_of(name)
  if not available(name):
    raise TableError(f"searcher={name!r} needs a package that is not "
                     f"installed; allowed now: "
                     f"{sorted(n for n in SEARCHERS if available(n))}")
  if spec.grace_period is not None:
    spec = spec._replace(grace_period=min(spec.grace_period, table.epochs))
  rng = np.random.default_rng(seed) if rng is None else rng
  proposer = PROPOSERS[spec.proposer](table, spec, rng, seed, budget)
  if spec.proposer == "optuna":  # its pruner is its stopper
    return Searcher(proposer, proposer)
  if spec.grace_period is None:
    return Searcher(proposer, Never())
  return Searcher(proposer, Asha(table.epochs, spec.grace_period))


# --- the replay ------------------------------------------------------------------

class Trace(NamedTuple):
  """One replay, one entry per trial."""
  rows: np.ndarray       # graph g of the trial
  epochs: np.ndarray     # epochs it ran
  observed: np.ndarray   # the score the searcher saw (its last epoch)
  incumbent: np.ndarray  # g with the best observed score so far
  regret: np.ndarray     # table.best - table.mean[incumbent]
  infeasible: int        # proposals outside the table (no cost)


def replay(table: Table, searcher: Searcher, rng: np.random.Generator,
           max_trials: int = 100, max_epochs: int | None = None,
           max_infeasible: int = 10_000) -> Trace:
  """Runs ``searcher`` against ``table`` until ``max_trials`` trials or
  ``max_epochs`` epochs were spent (the trial under way finishes), or the
  proposer has nothing left."""
  rows, epochs, observed, inc = [], [], [], []
  spent, infeasible, best_seen, best_g = 0, 0, -np.inf, -1
  while len(rows) < max_trials and (max_epochs is None or spent < max_epochs):
    p = searcher.proposer.ask()
    if p is None:
      break
    g = table.rows.get(key(table, p))
    if g is None:
      infeasible += 1
      if infeasible > max_infeasible:
        raise TableError(f"max_infeasible={max_infeasible!r} proposals "
                         "outside the table; allowed: a searcher that "
                         "proposes graphs of the table")
      searcher.proposer.tell(p, None)
      continue
    curve = answer(table, g, rng)
    e = 0
    for e in range(1, table.epochs + 1):
      if not searcher.stopper.keep(e, curve[e - 1]):
        break
    score = float(curve[e - 1])
    searcher.proposer.tell(p, score)
    spent += e
    if score > best_seen:
      best_seen, best_g = score, g
    rows.append(g)
    epochs.append(e)
    observed.append(score)
    inc.append(best_g)
  inc_a = np.asarray(inc, int)
  return Trace(np.asarray(rows, int), np.asarray(epochs, int),
               np.asarray(observed), inc_a,
               table.best - table.mean[inc_a] if len(inc_a) else np.zeros(0),
               infeasible)


def replays(table: Table, name: str, n: int = 200, seed: int = 0,
            max_trials: int = 100, max_epochs: int | None = None
            ) -> list[Trace]:
  """``n`` independent replays of searcher ``name``; replay r draws its
  seeds and its searcher's seed from ``SeedSequence([seed, r])``."""
  budget = max_trials  # what an optimiser plans for (NGOpt picks by it)
  if max_epochs is not None and spec_of(name).grace_period is None:
    budget = min(max_trials, -(-max_epochs // table.epochs))
  out = []
  for r in range(n):
    rng = np.random.default_rng([seed, r])
    s = make(name, table, seed=int(rng.integers(2**31)), budget=budget,
             rng=rng)
    out.append(replay(table, s, rng, max_trials, max_epochs))
  return out


# --- summaries --------------------------------------------------------------------

def by_trial(traces: Sequence[Trace], n: int) -> np.ndarray:
  """(replays, n) regret after trials 1..n; a replay that ended sooner keeps
  its last regret."""
  out = np.full((len(traces), n), np.nan)
  for i, t in enumerate(traces):
    m = min(n, len(t.regret))
    out[i, :m] = t.regret[:m]
    if 0 < m < n:
      out[i, m:] = t.regret[m - 1]
  return out


def by_epoch(traces: Sequence[Trace], grid: Sequence[int]) -> np.ndarray:
  """(replays, len(grid)) regret with ``grid[j]`` epochs spent: the
  incumbent after the last trial finished within them (NaN before the
  first)."""
  grid = np.asarray(grid)
  out = np.full((len(traces), len(grid)), np.nan)
  for i, t in enumerate(traces):
    done = np.searchsorted(np.cumsum(t.epochs), grid, side="right")
    has = done > 0
    out[i, has] = t.regret[done[has] - 1]  # past its end: its last regret
  return out


def band(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Median and 25 / 75 % quantiles over replays (axis 0), per column; NaN
  where any replay has none yet."""
  q = np.percentile(a, [50, 25, 75], axis=0)  # NaN propagates
  return q[0], q[1], q[2]


class Budget(NamedTuple):
  """What one replay spent until its incumbent was a top graph (inf: not
  within the replay's budget)."""
  trials: float
  epochs: float


def to_reach(table: Table, trace: Trace, fraction: float = 0.05) -> Budget:
  good = np.isin(trace.incumbent, top(table, fraction))
  if not good.any():
    return Budget(math.inf, math.inf)
  i = int(np.argmax(good))
  return Budget(float(i + 1), float(np.sum(trace.epochs[:i + 1])))


def budget_summary(table: Table, traces: Sequence[Trace],
                   fraction: float = 0.05) -> dict[str, float]:
  """Median trials and epochs to a top-``fraction`` incumbent (inf when more
  than half the replays never got there) and the share that got there."""
  b = np.array([to_reach(table, t, fraction) for t in traces])
  return {"trials": float(np.median(b[:, 0])),
          "epochs": float(np.median(b[:, 1])),
          "reached": float(np.mean(np.isfinite(b[:, 0])))}


def random_regret(mean: Sequence[float], n: int) -> float:
  """Expected simple regret of n graphs drawn without replacement, each
  judged by its true mean: ``max - E[max of n]``, where the k-th smallest
  of N is the maximum with probability C(k-1, n-1) / C(N, n).

  >>> random_regret([0., 1., 2.], 1), random_regret([0., 1., 2.], 2)
  (1.0, 0.3333333333333335)
  """
  a = np.sort(np.asarray(mean, np.float64))
  big_n = len(a)
  if not 1 <= n <= big_n:
    raise TableError(f"n={n!r} is invalid; allowed: 1 <= n <= {big_n}")
  total = math.comb(big_n, n)
  w = np.array([math.comb(k - 1, n - 1) / total for k in range(1, big_n + 1)])
  return float(a[-1] - w @ a)


def write_traces(path: str, traces: Mapping[str, Sequence[Trace]]) -> str:
  """Every replay as JSON lines ``{"searcher", "replay", "rows", "epochs",
  "observed", "incumbent", "regret", "infeasible"}`` (``read_traces``)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    for name, ts in traces.items():
      for r, t in enumerate(ts):
        f.write(json.dumps({"searcher": name, "replay": r,
                            "rows": t.rows.tolist(),
                            "epochs": t.epochs.tolist(),
                            "observed": [round(x, 6) for x in
                                         t.observed.tolist()],
                            "incumbent": t.incumbent.tolist(),
                            "regret": [round(x, 6) for x in
                                       t.regret.tolist()],
                            "infeasible": t.infeasible}) + "\n")
  return path


def read_traces(path: str, table: Table) -> dict[str, list[Trace]]:
  """``write_traces``'s file back, the regret recomputed from ``table``."""
  out: dict[str, list[Trace]] = {}
  with open(path) as f:
    for line in f:
      r = json.loads(line)
      inc = np.asarray(r["incumbent"] if "incumbent" in r else
                       _incumbents(r["rows"], r["observed"]), int)
      out.setdefault(r["searcher"], []).append(Trace(
          np.asarray(r["rows"], int), np.asarray(r["epochs"], int),
          np.asarray(r["observed"], np.float64), inc,
          table.best - table.mean[inc] if len(inc) else np.zeros(0),
          int(r["infeasible"])))
  return out


def _incumbents(rows: Sequence[int], observed: Sequence[float]) -> list[int]:
  """The incumbent after every trial: the first trial of the highest
  observed score so far (files written before ``incumbent`` was stored)."""
  out, best, g = [], -np.inf, -1
  for row, score in zip(rows, observed):
    if score > best:
      best, g = score, row
    out.append(g)
  return out
