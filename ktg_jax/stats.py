"""Statistics of seeds: the summary every table prints, and Welch's t-test.

The papers report "mean ± std over 5 seeds" (docs/papers.md §4). Every table
of this repository uses one convention for it:

* **mean** of the per-seed values;
* **std** = the *sample* standard deviation, ``ddof=1``:
  ``s = sqrt(sum((x_i - mean)^2) / (n - 1))`` (what ``scipy.stats.ttest_ind``
  uses too);
* a **single value has no spread**: its std is ``NaN`` (not 0, which would
  claim a measured spread of zero); the formatters print it as "—".

Two rows are compared by Welch's t-test (unequal variances):

  t = (m_a - m_b) / sqrt(s_a^2 / n_a + s_b^2 / n_b),
  nu = (s_a^2/n_a + s_b^2/n_b)^2 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)),

two-sided p = 2 * (1 - T_nu(|t|)) (``scipy.stats.ttest_ind(equal_var=False)``).

Example:
  >>> s = summarize([0.70, 0.71, 0.72])
  >>> round(s.mean, 4), round(s.std, 4), s.n
  (0.71, 0.01, 3)
  >>> summarize([0.5]).std
  nan
  >>> p = welch_p([0.70, 0.71, 0.72], [0.73, 0.74, 0.75])
  >>> 0.0 < p < 0.05
  True
  >>> s = summarize([0.70, 0.72])
  >>> mean_std(s.mean, s.std, scale=100)
  '71.00 ± 1.41'
  >>> format_p(0.0123), format_p(2.5e-5), format_p(float("nan"))
  ('0.0123', '2.5e-05', '—')
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
from scipy import stats as scipy_stats

MISSING = "—"  # how a table prints a number that does not exist (NaN, None)


class Summary(NamedTuple):
  """Mean, sample std (ddof=1; NaN for one value) and count of a sample."""
  mean: float
  std: float
  n: int


def sample_std(values: Sequence[float]) -> float:
  """Sample standard deviation (ddof=1); NaN for fewer than two values.

  >>> round(sample_std([1.0, 2.0, 3.0]), 6), sample_std([4.0])
  (1.0, nan)
  """
  v = np.asarray(values, np.float64).ravel()
  return float(v.std(ddof=1)) if v.size > 1 else float("nan")


def summarize(values: Sequence[float]) -> Summary:
  """The seed summary of ``values`` (mean, sample std, n); see the module.

  >>> summarize([1.0, 3.0])
  Summary(mean=2.0, std=1.4142135623730951, n=2)
  """
  v = np.asarray(values, np.float64).ravel()
  if v.size == 0:
    raise ValueError("values=[] is invalid; allowed: one value or more")
  return Summary(float(v.mean()), sample_std(v), int(v.size))


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
  """Two-sided Welch t-test p-value of mean(a) != mean(b); NaN if either
  sample has fewer than 2 values or both have zero variance.

  >>> welch_p([0.5], [0.4, 0.6]), welch_p([0.5, 0.5], [0.5, 0.5])
  (nan, nan)
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if len(a) < 2 or len(b) < 2 or (a.var() == 0 and b.var() == 0):
    return float("nan")
  return float(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)


def format_number(x, fmt: str) -> str:
  """``format(x, fmt)``, or "—" for None and NaN.

  >>> format_number(1.234, ".1f"), format_number(None, ".1f")
  ('1.2', '—')
  """
  if x is None or (isinstance(x, float) and math.isnan(x)):
    return MISSING
  return format(x, fmt)


def format_p(x) -> str:
  """A p-value: 4 decimals, or 2 significant digits below 0.001; "—" for
  None and NaN."""
  return format_number(x, ".2g" if x is not None and 0 <= x < 1e-3 else ".4f")


def mean_std(mean: float, std: float, fmt: str = ".2f", scale: float = 1.0,
             sep: str = " ± ") -> str:
  """"mean ± std", each times ``scale`` (100: fractions as %), the std "—"
  when there is none (NaN: one value).

  >>> mean_std(0.5, float("nan"), scale=100), mean_std(1.0, 0.25, ".1f")
  ('50.00 ± —', '1.0 ± 0.2')
  """
  return f"{format(mean * scale, fmt)}{sep}{format_number(std * scale, fmt)}"
