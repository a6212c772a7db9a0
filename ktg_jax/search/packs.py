"""Packs in the Ray search: one trial trains K graphs as one population.

For protocols without early stopping (``random`` sweeps, 000's ``bo``, a
final retraining of several points) a Ray Tune trial may train a *pack* of K
sampled points: ``training.fit([spec_1, ..., spec_K], ..., seeds=...)``, the
one training loop, trains them as one population (one compiled step per
structure; ``ktg_jax.run.population``), and each member goes back to the
searcher as its own result. Nothing is scheduled here: Ray Tune still
schedules trials (``max_concurrent_trials`` = its ``ConcurrencyLimiter``
around this searcher), Nevergrad still proposes and learns the points.

* ``PackSearch`` is a ``ray.tune.search.Searcher`` around the real one (a
  ``NevergradSearch``): ``suggest`` asks the inner searcher for K points
  (inner trial ids ``<trial>:<k>``) and returns ``{"pack": [p_1, ..., p_K]}``;
  ``on_trial_complete`` tells every member's own score back to the inner
  searcher (Nevergrad's ``tell`` per point). Nevergrad's ``num_workers`` is
  ``workers * K`` (that many points are pending at once).
* ``run_pack_trial`` (the trainable): points -> specs, grouped by
  ``GraphSpec.structure()`` (same nodes, models, kinds and active edges:
  then the gates, their parameters and the loss designs are edge-table data
  and the group is ONE compiled program). In a space whose structure is
  fixed (no Cutoff among the gates, one auxiliary model) a pack is always one
  program; otherwise each structure group of the pack is its own population,
  trained one after another in the same trial. Each member keeps the trial
  seed, so member k equals a one-graph trial of point k (``fit``'s
  population contract).

How ASHA and packs combine: they do not — ``validate`` refuses
``pack_size > 1`` with an early-stopping protocol. A pack is stopped as a
whole; a rung decision on the pack's best member would keep training K-1
graphs that ASHA would have stopped (the budget no longer follows the
thesis's successive halving, ch.3 §3.2.5), and one on the mean would stop
good graphs with bad pack-mates (the result then depends on the random
grouping). Packs are for protocols where every graph runs all epochs, so
packing changes the cost of a search and nothing else.

Example:
  >>> inner = _Recorder()
  >>> s = PackSearch(inner, pack_size=2, num_points=3)
  >>> s.suggest("t0"), s.suggest("t1"), s.suggest("t2")
  ({'pack': [{'x': 0}, {'x': 1}]}, {'pack': [{'x': 2}]}, 'FINISHED')
  >>> s.on_trial_complete("t0", {"member_scores": [0.5, 0.25]})
  >>> inner.told
  [('t0:0', 0.5), ('t0:1', 0.25)]
"""

from __future__ import annotations

import math
import pickle
from typing import Callable

from ray import tune
from ray.tune.search import Searcher

from ktg_jax.search import space_ops
from ktg_jax.search import trial
from ktg_jax.search.progress import METRIC, TIME_ATTR

PACK = "pack"                    # the trial config's key: the K points
MEMBER_SCORES = "member_scores"  # per member: its target val accuracy


def member_id(trial_id: str, k: int) -> str:
  return f"{trial_id}:{k}"


class PackSearch(Searcher):
  """A Searcher whose every suggestion is K points of ``inner``.

  Args:
    inner: the searcher that proposes and learns single points.
    pack_size: K, points per trial.
    num_points: graphs in the whole search; the last pack may be smaller,
      and then ``suggest`` returns ``Searcher.FINISHED``.
  """

  def __init__(self, inner: Searcher, pack_size: int, num_points: int,
               metric: str = METRIC, mode: str = "max"):
    if not (isinstance(pack_size, int) and pack_size >= 1):
      raise ValueError(f"pack_size={pack_size!r}; allowed: an int >= 1")
    super().__init__(metric=metric, mode=mode)
    self.inner, self.pack_size, self.left = inner, pack_size, num_points
    self.live: dict[str, int] = {}

  def set_search_properties(self, metric, mode, config, **spec) -> bool:
    return self.inner.set_search_properties(metric, mode, config, **spec)

  def suggest(self, trial_id: str):
    points = []
    for k in range(min(self.pack_size, self.left)):
      p = self.inner.suggest(member_id(trial_id, k))
      if p is None or p == Searcher.FINISHED:
        break
      points.append(p)
    if not points:
      return Searcher.FINISHED if self.left <= 0 else None
    self.left -= len(points)
    self.live[trial_id] = len(points)
    return {PACK: points}

  def on_trial_complete(self, trial_id: str, result=None,
                        error: bool = False) -> None:
    scores = (result or {}).get(MEMBER_SCORES) or []
    for k in range(self.live.pop(trial_id, 0)):
      ok = not error and k < len(scores) and scores[k] is not None and \
          math.isfinite(scores[k])
      self.inner.on_trial_complete(member_id(trial_id, k),
                                   {self.metric: scores[k]} if ok else None,
                                   error=not ok)

  def save(self, checkpoint_path: str) -> None:
    with open(checkpoint_path, "wb") as f:
      pickle.dump(self.__dict__, f)

  def restore(self, checkpoint_path: str) -> None:
    with open(checkpoint_path, "rb") as f:
      self.__dict__.update(pickle.load(f))


def structure_groups(specs) -> list[list[int]]:
  """Indices of ``specs`` grouped by structure (one program per group), in
  order of first appearance."""
  groups: dict = {}
  for i, s in enumerate(specs):
    groups.setdefault(s.structure(), []).append(i)
  return list(groups.values())


def pack_result(epoch: int, members: list) -> dict:
  """What a pack reports to Ray after an epoch (``trial.epoch_result``'s
  K-member sibling): every member's score, and the best finite one as the
  trial's metric — an ssl member's KNN score is NaN between evaluations, and
  ``max`` over a NaN depends on where the NaN stands. Per-node classifier
  accuracies go along only when every member has them all
  (``trial.node_accuracies``).

  >>> nan = float("nan")
  >>> pack_result(4, [{"target_accuracy": nan, "accuracy": [nan]},
  ...                 {"target_accuracy": 0.8, "accuracy": [nan]}])
  {'target_accuracy': 0.8, 'epoch': 4, 'member_scores': [nan, 0.8]}
  >>> pack_result(5, [{"target_accuracy": 0.6, "accuracy": [0.6]},
  ...                 {"target_accuracy": 0.8, "accuracy": [0.8]}]
  ...             )  # doctest: +NORMALIZE_WHITESPACE
  {'target_accuracy': 0.8, 'epoch': 5, 'member_scores': [0.6, 0.8],
   'member_node_accuracy': [[0.6], [0.8]]}
  """
  scores = [None if m is None else m["target_accuracy"] for m in members]
  finite = [a for a in scores if a is not None and math.isfinite(a)]
  result = {METRIC: max(finite, default=float("nan")), TIME_ATTR: epoch,
            MEMBER_SCORES: scores}
  node_accs = [None if m is None else trial.node_accuracies(m)
               for m in members]
  if all(a is not None for a in node_accs):
    result["member_node_accuracy"] = node_accs
  return result


def run_pack_trial(config: dict, *, space: space_ops.Space, settings,
                   fit_fn: Callable | None = None) -> None:
  """The Ray trainable of a pack (``trial.run_trial``'s K-point sibling): one
  population ``fit`` per structure group;
  after every epoch of the last group, one report with every member's
  score (``member_scores``) and the best of them as the trial's metric."""
  trial.prepare(settings)
  points = config[PACK]
  specs = [space.to_spec(p) for p in points]
  data = trial.load_data(settings)
  cfg = trial.train_config(settings)
  if space.loss_kinds():
    cfg.loss_kinds = space.loss_kinds()
  groups = structure_groups(specs)
  scores: list[dict] = [{} for _ in points]   # member -> epoch -> metrics

  def collect(group, last):
    def callback(epoch: int, metrics: list) -> bool:
      for i, m in zip(group, metrics):
        scores[i][epoch] = m
      if last:
        at = [scores[i].get(epoch) for i in range(len(points))]
        tune.report({**pack_result(epoch, at), "pack_programs": len(groups)})
      return False
    return callback

  fit = fit_fn or trial.default_fit()
  for g, group in enumerate(groups):
    fit([specs[i] for i in group], data, cfg, workdir=None,
        callback=collect(group, g == len(groups) - 1),
        seeds=[cfg.seed] * len(group))


class _Recorder(Searcher):
  """An inner searcher for the doctest: points x=0, 1, ...; records tells."""

  def __init__(self):
    super().__init__(metric=METRIC, mode="max")
    self.n, self.told = 0, []

  def suggest(self, trial_id):
    self.n += 1
    return {"x": self.n - 1}

  def on_trial_complete(self, trial_id, result=None, error=False):
    self.told.append((trial_id, None if result is None else result[METRIC]))
