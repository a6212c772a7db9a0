"""benchmarks/search_cost.py: the ASHA rule and the replay's bookkeeping."""

import pytest

from benchmarks import search_cost as sc


def test_asha_rule_is_rays_median_of_earlier_values():
  rungs = {}
  assert not sc.asha_stops(rungs, 1, 0.1)   # the first always goes on
  assert not sc.asha_stops(rungs, 1, 0.5)   # 0.5 >= median [0.1]
  assert sc.asha_stops(rungs, 1, 0.2)      # 0.2 < median [0.1, 0.5] = 0.3
  assert not sc.asha_stops(rungs, 1, 0.2)  # median [0.1, 0.5, 0.2] = 0.2: tie
  assert rungs[1] == [0.1, 0.5, 0.2, 0.2]


@pytest.mark.parametrize("pack", [1, 4])
def test_without_early_stopping_every_graph_runs_every_epoch(pack):
  r = sc.simulate(num_graphs=40, workers=5, epochs=8, pack=pack,
                  epoch_seconds=3600.0, asha=False)
  assert r["member_epochs"] == 40 * 8
  assert r["reached_last_epoch"] == 40
  assert r["accelerator_hours"] == pytest.approx(40 / pack * 8)
  # 40 / pack packs on 5 workers, 8 h each, in waves.
  assert r["wall_hours"] == pytest.approx(-(-40 // pack // 5) * 8)


def test_asha_cuts_epochs_and_packs_waste_them():
  single = sc.simulate(200, 10, 16, 1, 1.0, asha=True)
  assert single["member_epochs"] < 200 * 16 / 3
  assert 0 < single["reached_last_epoch"] < 200
  packed = sc.simulate(200, 10, 16, 8, 8.0, asha=True)  # same per-member cost
  assert packed["accelerator_hours"] > single["accelerator_hours"]
