"""ktg_jax.search.proxy: Spearman's rho against the rank formula, the
agreement of a proxy length on hand-made curves, curves from Tune frames."""

import math

import numpy as np
import pandas as pd
import pytest

from ktg_jax.search import proxy


@pytest.mark.parametrize("seed", range(5))
def test_spearman_matches_the_rank_formula_and_averages_ties(seed):
  """Without ties rho = 1 - 6 sum d^2 / (n (n^2 - 1)) (d: rank differences);
  tied scores share their average rank."""
  rng = np.random.default_rng(seed)
  a, b = rng.permutation(12) / 10, rng.normal(size=12)
  ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
  want = 1 - 6 * np.sum((ra - rb) ** 2) / (12 * (12 ** 2 - 1))
  assert proxy.spearman(a, b) == pytest.approx(want, abs=1e-12)
  # ties: [0.3, 0.1, 0.3, 0.2] ranks [3.5, 1, 3.5, 2]; against [4, 1, 3, 2]
  ta, tb = np.array([3.5, 1, 3.5, 2]), np.array([4.0, 1, 3, 2])
  want = np.corrcoef(ta, tb)[0, 1]
  assert proxy.spearman([0.3, 0.1, 0.3, 0.2], [0.9, 0.1, 0.5, 0.2]) == \
      pytest.approx(want, abs=1e-12)


def test_spearman_is_nan_when_undefined():
  assert math.isnan(proxy.spearman([0.5], [0.7]))
  assert math.isnan(proxy.spearman([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]))
  assert proxy.spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)


def test_agreement_counts_graphs_with_both_scores_and_the_pick_s_regret():
  curves = {"a": {4: 0.6, 8: 0.70, 16: 0.80},
            "b": {4: 0.7, 8: 0.72, 16: 0.75},   # the proxy's pick at 4
            "c": {4: 0.5, 8: float("nan"), 16: 0.78},
            "d": {4: 0.9}}                       # stopped early: left out
  a4 = proxy.agreement(curves, 4, 16)
  assert a4.n == 3 and not a4.same_best
  assert a4.regret == pytest.approx(0.80 - 0.75)
  # ranks [2, 3, 1] vs [3, 1, 2]: sum d^2 = 6, rho = 1 - 36 / 24
  assert a4.spearman == pytest.approx(-0.5)
  a8 = proxy.agreement(curves, 8, 16)          # c has no score at 8
  assert a8.n == 2 and a8.same_best is False
  assert a8.spearman == pytest.approx(-1.0)
  full = proxy.agreement(curves, 16, 16)
  assert full.spearman == pytest.approx(1.0)
  assert full.same_best and full.regret == 0.0
  assert proxy.agreement({}, 4, 16).n == 0
  with pytest.raises(ValueError, match="allowed: 0 < proxy_epoch"):
    proxy.agreement(curves, 32, 16)


def test_curves_of_reads_plain_and_pack_trials_skipping_unscored_epochs():
  plain = pd.DataFrame({"epoch": [1, 2, 3], "trial_id": "t1",
                        "target_accuracy": [float("nan"), 0.5, 0.6]})
  pack = pd.DataFrame({"epoch": [1, 2], "trial_id": "t2",
                       "target_accuracy": [0.4, 0.7],
                       "member_scores": [[0.4, 0.3], [0.7, 0.65]]})
  curves = proxy.curves_of({"p1": plain, "p2": pack, "p3": pd.DataFrame()})
  assert curves == {"t1": {2: 0.5, 3: 0.6},
                    "t2:0": {1: 0.4, 2: 0.7}, "t2:1": {1: 0.3, 2: 0.65}}


def test_the_script_draws_every_curve_and_the_references(tmp_path):
  from experiment_scripts import import_script  # pylint: disable=import-outside-toplevel
  search_proxy = import_script("search_proxy")
  curves = {"a": {4: 0.6, 8: 0.7}, "b": {4: 0.5}}
  path = search_proxy.plot(curves, [4], str(tmp_path / "c.png"),
                           [("untrained", 0.55)])
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
