"""Does a shorter trial rank graphs as the full length does? (a proxy's check)

A search may shorten its trials (fewer epochs, an early ASHA rung) only if the
short score ranks the graphs as the full-length score does (issue 26 asks for
this before 000's BO search may use a proxy). Every full-length trial of a
search already holds the answer: its validation curve, reported at each
evaluation. ``agreement`` compares, over the graphs that reached
``full_epoch``, their scores at ``proxy_epoch`` with their scores at
``full_epoch``:

* ``spearman``: Pearson correlation of the two rankings (tied scores share
  their average rank), in [-1, 1];
* ``same_best``: the graph the proxy ranks first is the full length's best;
* ``regret``: the full-length score of the full length's best graph minus that
  of the proxy's pick (0 when the proxy picks the best).

Example:
  >>> curves = {"a": {8: 0.70, 32: 0.75}, "b": {8: 0.60, 32: 0.72},
  ...           "c": {8: 0.65, 32: 0.78}, "d": {8: 0.50}}   # d stopped early
  >>> a = agreement(curves, proxy_epoch=8, full_epoch=32)
  >>> a.n, round(a.spearman, 3), a.same_best, round(a.regret, 3)
  (3, 0.5, False, 0.03)
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import numpy as np
from scipy import stats as scipy_stats

Curves = Mapping[str, Mapping[int, float]]  # graph -> {epoch: score}


class Agreement(NamedTuple):
  proxy_epoch: int
  full_epoch: int
  n: int            # graphs with a finite score at both epochs
  spearman: float   # rank correlation; nan with < 2 graphs or a constant side
  same_best: bool
  regret: float     # full-length score lost by taking the proxy's best


def spearman(a, b) -> float:
  """Spearman's rho (tied scores share their average rank; scipy's), nan
  where it is undefined: fewer than 2 graphs or a constant side."""
  if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
    return math.nan
  return float(scipy_stats.spearmanr(a, b).statistic)


def agreement(curves: Curves, proxy_epoch: int,
              full_epoch: int) -> Agreement:
  """How the scores at ``proxy_epoch`` rank the graphs scored at
  ``full_epoch`` (graphs missing either score are left out)."""
  if not 0 < proxy_epoch <= full_epoch:
    raise ValueError(f"proxy_epoch={proxy_epoch!r}, full_epoch="
                     f"{full_epoch!r}; allowed: 0 < proxy_epoch <= full_epoch")
  both = [(c[proxy_epoch], c[full_epoch]) for c in curves.values()
          if math.isfinite(c.get(proxy_epoch, math.nan))
          and math.isfinite(c.get(full_epoch, math.nan))]
  if not both:
    return Agreement(proxy_epoch, full_epoch, 0, math.nan, False, math.nan)
  short, full = (np.array(x) for x in zip(*both))
  pick = int(np.argmax(short))
  return Agreement(proxy_epoch, full_epoch, len(both), spearman(short, full),
                   bool(full[pick] == full.max()),
                   float(full.max() - full[pick]))


def curves_of(frames: Mapping[str, object], metric: str = "target_accuracy",
              members: str = "member_scores", time_attr: str = "epoch"
              ) -> dict[str, dict[int, float]]:
  """``{graph: {epoch: score}}`` from Ray Tune's per-trial result frames
  (``ExperimentAnalysis.trial_dataframes``: one pandas row per report); a
  pack trial (``ktg_jax/search/packs.py``) gives one curve per member,
  ``<trial>:<k>``. Reports without a score (epochs between evaluations) are
  left out."""
  out = {}
  for name, df in frames.items():
    if df is None or not len(df) or time_attr not in df:
      continue
    trial = str(df["trial_id"].iloc[0]) if "trial_id" in df else str(name)
    for _, row in df.iterrows():
      epoch = int(row[time_attr])
      scores = row.get(members) if members in df else None
      if scores is not None and not isinstance(scores, float):
        for k, s in enumerate(scores):
          if s is not None and math.isfinite(float(s)):
            out.setdefault(f"{trial}:{k}", {})[epoch] = float(s)
      elif math.isfinite(float(row.get(metric, math.nan))):
        out.setdefault(trial, {})[epoch] = float(row[metric])
  return out
