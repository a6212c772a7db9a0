"""The same graph trained with several seeds: mean ± std (docs/papers.md §4: 5 seeds).

The seeds are a population of ``training.fit`` (one loop: per-seed metrics,
pictures, variables, one checkpoint, resume); ``strategy`` (sequential or
vmap) only changes speed, not numbers (``ktg_jax.run.population.STRATEGY``).

The spread is the *sample* standard deviation over seeds (``ddof=1``), as the
papers' "mean ± std over 5 seeds"; it is NaN for a single seed
(``ktg_jax.stats``, the convention of every table).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ktg_jax import stats
from ktg_jax.run import training
from ktg_jax.run.fit_config import FitConfig


class SeedsResult(NamedTuple):
  seeds: tuple
  final: np.ndarray      # final target accuracy per seed
  mean: float
  std: float             # sample std over seeds (ddof=1); NaN for one seed
  histories: list        # per seed, a list of per-epoch metric dicts
  strategy: str


def summarize(seeds: Sequence[int], histories: list,
              strategy: str) -> SeedsResult:
  """Mean and sample std (ddof=1) of the final target accuracy per seed."""
  final = np.asarray([h[-1]["target_accuracy"] for h in histories])
  s = stats.summarize(final)
  return SeedsResult(tuple(seeds), final, s.mean, s.std, histories, strategy)


def fit_seeds(spec, data, config, seeds: Sequence[int], workdir=None,
              strategy: str | None = None) -> SeedsResult:
  """Trains ``spec`` once per seed as one population (member k: seed k,
  under ``workdir/member{k}``); ``strategy`` None = by backend."""
  if strategy is not None and isinstance(config, FitConfig):
    config = config._replace(population_strategy=strategy)
  elif strategy is not None:  # a script's ConfigDict: recorded whole
    config = config.copy_and_resolve_references()
    config.population_strategy = strategy
  result = training.fit(spec, data, config, workdir, seeds=tuple(seeds))
  return summarize(seeds, [m.history for m in result.members],
                   result.strategy)
