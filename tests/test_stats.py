"""ktg_jax.stats against independent references: the seed summary against
the formula in numpy, Welch's test against t and nu written out and the
Student-t tail of scipy.stats.t (not ttest_ind's code path)."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ktg_jax import stats


@pytest.mark.parametrize("values", [[0.57, 0.58, 0.575], [1.0, 2.0],
                                    [71.2, 71.9, 71.5, 71.8, 71.4]])
def test_summary_is_the_mean_and_the_sample_std(values):
  x = np.asarray(values, np.float64)
  s = stats.summarize(values)
  assert s.n == len(values)
  assert s.mean == pytest.approx(np.sum(x) / len(x), rel=1e-12)
  want = math.sqrt(np.sum((x - np.sum(x) / len(x)) ** 2) / (len(x) - 1))
  assert s.std == pytest.approx(want, rel=1e-12)
  assert stats.sample_std(values) == s.std


def test_one_value_has_no_std_and_none_is_refused():
  s = stats.summarize([0.5])
  assert s.mean == 0.5 and s.n == 1 and math.isnan(s.std)
  assert stats.mean_std(s.mean, s.std) == "0.50 ± —"
  with pytest.raises(ValueError, match="values"):
    stats.summarize([])


def _welch_reference(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  va = np.sum((a - a.mean()) ** 2) / (len(a) - 1) / len(a)
  vb = np.sum((b - b.mean()) ** 2) / (len(b) - 1) / len(b)
  t = (a.mean() - b.mean()) / math.sqrt(va + vb)
  nu = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
  return 2 * scipy_stats.t.sf(abs(t), nu)


@pytest.mark.parametrize("a,b", [
    ([71.2, 71.9, 71.5, 71.8, 71.4], [72.3, 72.6, 72.9, 72.4, 72.5]),
    ([50.0, 52.0, 49.0], [51.0, 50.5, 51.5, 50.0]),
    ([0.1, 0.4, 0.2, 0.3, 0.9], [0.2, 0.5, 0.1, 0.6, 0.3])])
def test_welch_p_matches_the_written_out_test(a, b):
  assert stats.welch_p(a, b) == pytest.approx(_welch_reference(a, b),
                                              rel=1e-9)
  assert stats.welch_p(a, b) == pytest.approx(stats.welch_p(b, a), rel=1e-12)


def test_welch_p_is_nan_without_two_values_or_any_variance():
  assert math.isnan(stats.welch_p([0.5], [0.4, 0.6]))
  assert math.isnan(stats.welch_p([0.5, 0.5], [0.5, 0.5]))


def test_formatters():
  assert stats.format_p(0.04567) == "0.0457"
  assert stats.format_p(0.000123) == "0.00012"
  assert stats.format_p(None) == stats.format_p(float("nan")) == "—"
  assert stats.format_number(np.float64("nan"), ".2f") == "—"
  assert stats.mean_std(0.6123, 0.0141, scale=100) == "61.23 ± 1.41"
  assert stats.mean_std(0.6, 0.01, ".3f", sep=" +- ") == "0.600 +- 0.010"
