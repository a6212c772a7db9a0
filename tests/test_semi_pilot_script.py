"""experiments/semi_pilot.py's summaries: the table and the curves' picture."""

import json

import numpy as np
import pytest

from experiment_scripts import import_script

semi_pilot = import_script("semi_pilot")


def _write(d, method, seed, accs, curve):
  rec = {"method": method, "per_class": 10, "seed": seed, "iterations": 20,
         "mu": 7, "val_accuracy": accs, "train_seconds_this_invocation": 5.0,
         "loadavg_start": [1.0], "loadavg_end": [2.0],
         "val_curve": [{"iteration": 10 * (i + 1), **c}
                       for i, c in enumerate(curve)]}
  (d / f"{method}_n10_seed{seed}.json").write_text(json.dumps(rec))


def test_table_and_curves_of_the_results(tmp_path):
  _write(tmp_path, "supervised", 0, {"student": 0.6},
         [{"student": 0.5}, {"student": 0.6}])
  _write(tmp_path, "supervised", 1, {"student": 0.7},
         [{"student": 0.55}, {"student": 0.7}])
  _write(tmp_path, "fixmatch", 0, {"student": 0.73, "ema": 0.72},
         [{"student": 0.6, "ema": 0.65}, {"student": 0.73, "ema": 0.72}])
  lines = semi_pilot.table(str(tmp_path)).splitlines()
  sup = [l for l in lines if "| supervised | student |" in l]
  assert len(sup) == 1
  want = np.std([60.0, 70.0], ddof=1)
  assert f"65.00 ± {want:.2f} (60.00 / 70.00) | 0,1 |" in sup[0]
  assert any("| fixmatch | ema | 72.00" in l for l in lines)
  png = semi_pilot.plot(str(tmp_path), str(tmp_path / "curves.png"))
  with open(png, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_of_no_results_says_where_it_looked(tmp_path):
  with pytest.raises(ValueError, match="holds no run JSON"):
    semi_pilot.plot(str(tmp_path), str(tmp_path / "x.png"))


def test_semi_table_gives_welch_p_against_supervised():
  """experiments/semi.py's results.md: mean ± sample std per method and
  setting, and each method's Welch p against supervised training's seeds."""
  from scipy import stats as scipy_stats  # the reference
  semi = import_script("semi")
  accs = {"supervised": [0.66, 0.67, 0.69], "fixmatch": [0.73, 0.72, 0.74]}
  results = [{"per_class": 10, "method": m, "seed": s, "test_accuracy": a}
             for m, v in accs.items() for s, a in enumerate(v)]
  rows = {l.split("|")[1].strip(): l for l in semi.table(results).splitlines()}
  p = scipy_stats.ttest_ind([73, 72, 74], [66, 67, 69], equal_var=False).pvalue
  std = np.std([73, 72, 74], ddof=1)
  assert rows["fixmatch"] == (f"| fixmatch | 73.00 ± {std:.2f} (3), p vs "
                              f"supervised {p:.4f} |"), rows
  assert "p vs" not in rows["supervised"]


def test_curve_panels_group_seeds_by_method_and_node(tmp_path):
  _write(tmp_path, "supervised", 1, {"student": 0.7},
         [{"student": 0.55}, {"student": 0.7}])
  _write(tmp_path, "fixmatch", 1, {"student": 0.74, "ema": 0.75},
         [{"student": 0.6, "ema": None}, {"student": 0.74, "ema": 0.75}])
  _write(tmp_path, "fixmatch", 0, {"student": 0.73, "ema": 0.72},
         [{"student": 0.6, "ema": 0.65}, {"student": 0.73, "ema": 0.72}])
  recs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]
  panels = semi_pilot.curve_panels(recs)
  assert list(panels) == [(10, "fixmatch"), (10, "supervised")]
  fm = panels[(10, "fixmatch")]
  assert sorted(fm) == ["ema", "student"]
  assert [its for its, _ in fm["student"]] == [[10, 20], [10, 20]]
  assert [acc for _, acc in fm["student"]] == [pytest.approx([60.0, 73.0]),
                                               pytest.approx([60.0, 74.0])]
  assert fm["ema"][0][1] == pytest.approx([65.0, 72.0])   # seed 0 first
  assert np.isnan(fm["ema"][1][1][0]) and fm["ema"][1][1][1] == 75.0
  ((its, acc),) = panels[(10, "supervised")]["student"]
  assert its == [10, 20] and acc == pytest.approx([55.0, 70.0])
