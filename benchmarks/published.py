r"""docs/papers.md §6's published numbers as data, and our measured results beside them.

Each row: method, nodes, dataset, accuracy mean (%), std (None where the
paper prints none), source section. Accuracies are of the target node (the
ResNet32 on CIFAR-100 unless the dataset/nodes say otherwise).

  python benchmarks/published.py                    # the table
  python benchmarks/published.py --results ours.json  # ours beside it

``ours.json``: a list of ``{"method", "nodes", "dataset", "mean", "std",
"note"}``; a row matches a published one on (method, nodes, dataset). Rows we
have not run print "not run".
"""

from __future__ import annotations

import argparse
import json
from typing import NamedTuple


class Row(NamedTuple):
  method: str
  nodes: str
  dataset: str
  mean: float
  std: float | None
  source: str


C100, C10, TIN = "CIFAR-100", "CIFAR-10", "Tiny-ImageNet"
_R = Row
PUBLISHED: tuple[Row, ...] = (
    # docs/papers.md §6 main table (thesis ch.3; 000; 003)
    _R("Vanilla", "R32", C100, 70.71, 0.39, "001 ch.3 Table 3.1"),
    _R("DML", "R32,R32", C100, 72.00, 0.44, "001 ch.3"),
    _R("KD (T=2)", "R32<-WRN28-2(frozen)", C100, 71.88, 0.78, "001 ch.3"),
    _R("DML", "R32,WRN28-2", C100, 72.71, 0.18, "001 ch.3"),
    _R("KTG, 4 gates", "R32,WRN28-2", C100, 72.88, 0.41, "001 ch.3"),
    _R("KTG, Sine", "R32,WRN28-2", C100, 74.10, 0.48, "001 ch.3"),
    _R("KTG, 4 gates", "R32,WRN28-2,R32", C100, 73.46, 0.28, "001 ch.3"),
    _R("KTG, Sine", "R32,WRN28-2,WRN28-2", C100, 74.36, 0.38, "001 ch.3"),
    _R("KTG, 4 gates", "R32,WRN28-2,R32,R110", C100, 74.06, 0.34, "001 ch.3"),
    _R("KTG, gamma gates, BO 500 trials", "R32,WRN28", C100, 73.34, None,
       "000"),
    _R("ASHA, space A", "3 nodes", C100, 73.96, 0.16, "003"),
    _R("exhaustive, refined space X", "3 nodes", C100, 74.52, 0.19, "003"),
    # Table 3.2: DML with more nodes
    _R("DML", "R32,R32,R32", C100, 72.09, None, "001 Table 3.2"),
    _R("DML", "R32,WRN28-2,R32", C100, 72.89, None, "001 Table 3.2"),
    _R("DML", "R32,WRN28-2,WRN28-2", C100, 73.03, None, "001 Table 3.2"),
    _R("DML", "R32,R32,R32,R32", C100, 72.76, None, "001 Table 3.2"),
    _R("DML", "R32,WRN28-2,WRN28-2,WRN28-2", C100, 73.38, None,
       "001 Table 3.2"),
    # Table 3.5: gate candidates, 3 nodes
    _R("KTG gates: Through", "3 nodes", C100, 73.22, None, "001 Table 3.5"),
    _R("KTG gates: +Cutoff", "3 nodes", C100, 73.29, None, "001 Table 3.5"),
    _R("KTG gates: +Correct", "3 nodes", C100, 73.42, None, "001 Table 3.5"),
    _R("KTG gates: +Linear", "3 nodes", C100, 73.46, None, "001 Table 3.5"),
    _R("KTG gates: Sine", "3 nodes", C100, 74.36, None, "001 Table 3.5"),
    # Table 3.1: vanilla baselines
    _R("Vanilla", "R110", C100, 72.59, None, "001 Table 3.1"),
    _R("Vanilla", "WRN28-2", C100, 74.60, None, "001 Table 3.1"),
    _R("Vanilla", "R32", C10, 92.99, None, "001 Table 3.1"),
    _R("Vanilla", "R110", C10, 94.01, None, "001 Table 3.1"),
    _R("Vanilla", "WRN28-2", C10, 94.40, None, "001 Table 3.1"),
    _R("Vanilla", "R32", TIN, 52.89, None, "001 Table 3.1"),
    _R("Vanilla", "R110", TIN, 55.49, None, "001 Table 3.1"),
    _R("Vanilla", "WRN28-2", TIN, 58.60, None, "001 Table 3.1"),
    # ch.4 ensembles (ensemble accuracy)
    _R("Independent", "ABN x3", "Stanford Dogs", 71.41, None, "001 ch.4"),
    _R("DML", "ABN x3", "Stanford Dogs", 72.08, None, "001 ch.4"),
    _R("KTG", "ABN x3", "Stanford Dogs", 73.41, None, "001 ch.4"),
    _R("Independent", "2 nodes", C100, 73.16, None, "001 Table 4.7"),
    _R("DML", "2 nodes", C100, 73.61, None, "001 Table 4.7"),
    _R("KTG", "2 nodes", C100, 74.18, None, "001 Table 4.7"),
    # ch.5 semi-supervised, CIFAR-100 with 400 / 2,500 / 10,000 labels
    _R("FixMatch", "WRN28-2", "CIFAR-100 400 labels", 46.63, None, "001 ch.5"),
    _R("KTG searched", "WRN28-2+EMA", "CIFAR-100 400 labels", 46.99, None,
       "001 ch.5"),
    _R("FixMatch", "WRN28-2", "CIFAR-100 10000 labels", 71.72, None,
       "001 ch.5"),
    _R("KTG searched", "WRN28-2+EMA", "CIFAR-100 10000 labels", 72.12, None,
       "001 ch.5"),
    # 000 self-supervised (KNN accuracy), 002 pre-trained nodes
    _R("SimCLR", "R20", "CIFAR-10 KNN", 64.16, None, "000 Table 2"),
    _R("KTG SimCLR+BarlowTwins", "R20,R32", "CIFAR-10 KNN", 66.80, None,
       "000 Table 2"),
    _R("all-Through, no pre-training", "RN18 x3", "cars (12,554)", 90.45, None,
       "002 Table 1"),
    _R("all-Through, ImageNet-1k pre-trained", "RN18 x3", "cars (12,554)",
       95.37, None, "002 Table 1"),
)


def key(row) -> tuple[str, str, str]:
  get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
  return (get("method"), get("nodes"), get("dataset"))


def _fmt(mean, std):
  if mean is None:
    return "not run"
  return f"{mean:.2f}" + (f" +- {std:.2f}" if std is not None else "")


def side_by_side(ours=()) -> list[tuple[str, ...]]:
  """Table rows: method, nodes, dataset, published, ours (or "not run"), source."""
  by_key = {key(r): r for r in ours}
  rows = []
  for p in PUBLISHED:
    o = by_key.get(key(p), {})
    mine = _fmt(o.get("mean"), o.get("std"))
    if o.get("note"):
      mine += f" ({o['note']})"
    rows.append((p.method, p.nodes, p.dataset, _fmt(p.mean, p.std), mine,
                 p.source))
  return rows


def markdown(rows) -> str:
  head = ("method", "nodes", "dataset", "published", "ours", "source")
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  lines += ["| " + " | ".join(r) + " |" for r in rows]
  return "\n".join(lines)


def main(argv=None):
  p = argparse.ArgumentParser(description="docs/papers.md §6 beside our results")
  p.add_argument("--results", default="", help="JSON list of our rows")
  args = p.parse_args(argv)
  ours = []
  if args.results:
    with open(args.results) as f:
      ours = json.load(f)
  print(markdown(side_by_side(ours)))


if __name__ == "__main__":
  main()
