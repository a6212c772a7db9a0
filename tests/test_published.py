"""benchmarks/published.py holds docs/papers.md §6's numbers and prints ours beside them."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import published  # noqa: E402


def _find(method, nodes, dataset="CIFAR-100"):
  rows = [r for r in published.PUBLISHED
          if published.key(r) == (method, nodes, dataset)]
  assert len(rows) == 1, (method, nodes, dataset)
  return rows[0]


def test_spec_values():
  assert (_find("Vanilla", "R32").mean, _find("Vanilla", "R32").std) == (
      70.71, 0.39)
  assert _find("KTG, Sine", "R32,WRN28-2,WRN28-2").mean == 74.36
  assert _find("KTG, 4 gates", "R32,WRN28-2,R32,R110").std == 0.34
  assert _find("exhaustive, refined space X", "3 nodes").mean == 74.52


def test_rows_are_unique_and_well_formed():
  keys = [published.key(r) for r in published.PUBLISHED]
  assert len(keys) == len(set(keys))
  for r in published.PUBLISHED:
    assert 0 < r.mean < 100 and (r.std is None or 0 < r.std < 5)
    assert r.source


def test_side_by_side_marks_missing_rows_not_run():
  ours = [{"method": "DML", "nodes": "R32,R32", "dataset": "CIFAR-100",
           "mean": 40.5, "std": 1.25, "note": "5 epochs"}]
  rows = published.side_by_side(ours)
  assert len(rows) == len(published.PUBLISHED)
  dml = [r for r in rows if r[:3] == ("DML", "R32,R32", "CIFAR-100")][0]
  assert dml[3] == "72.00 +- 0.44" and dml[4] == "40.50 +- 1.25 (5 epochs)"
  assert sum(r[4] == "not run" for r in rows) == len(rows) - 1
  assert published.markdown(rows).count("\n") == len(rows) + 1
