r"""A live structure search judged by the tabulated ch.3 benchmark (issue 23 part 5).

  python benchmarks/ch3_live_search.py benchmarks/results/ch3_table.jsonl \
      benchmarks/results/ch3_live_search/trials.csv

Reads the search's ``trials.csv`` (``ktg_jax.search.report.write_table``), walks
its trials in creation order, and after each one prints the epochs spent so
far and the table's mean validation accuracy (over the recorded seeds) of the
incumbent — the graph ``report.best`` would return at that point. Ends with
when the incumbent first was one of the table's top-5 % graphs (the replay's
criterion, ``docs/ch3_table.md``) and the final simple regret. Graphs are
matched on their gate assignment (every other field of the point is fixed in
the table's space).
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from ktg_jax.search import report


def _gates(point: dict) -> tuple:
  return tuple(sorted((k, v) for k, v in point.items()
                      if k.startswith("gate")))


def table_means(path: str) -> dict:
  """{gate assignment: mean score over its seeds} of a table JSONL."""
  scores = {}
  for line in open(path):
    r = json.loads(line)
    scores.setdefault(_gates(r["point"]), []).append(r["score"])
  return {k: float(np.mean(v)) for k, v in scores.items()}


def top_threshold(means: dict, top: float = 0.05) -> float:
  """The mean accuracy of the last graph in the top ``top`` share (ties in)."""
  ranked = sorted(means.values(), reverse=True)
  return ranked[int(math.ceil(top * len(ranked))) - 1]


def main(table_path: str, trials_csv: str) -> None:
  means = table_means(table_path)
  threshold, best_mean = top_threshold(means), max(means.values())
  rows = sorted(report.read_table(trials_csv), key=lambda r: int(r["index"]))
  spent, seen, first, incumbent = 0, [], None, None
  for n, r in enumerate(rows, 1):
    spent += int(r["epochs"])
    score = float(r["score"]) if r["score"] else float("nan")
    seen.append((int(r["epochs"]), score, _gates(json.loads(r["point"]))))
    scored = [s for s in seen if not math.isnan(s[1])]
    furthest = max(s[0] for s in scored)
    incumbent = max((s for s in scored if s[0] == furthest),
                    key=lambda s: s[1])
    inc_mean = means[incumbent[2]]
    print(f"trial {n:3d}: {r['epochs']:>3} epochs, val {score:.4f} "
          f"(table mean {means[seen[-1][2]]:.4f}); spent {spent:4d}; "
          f"incumbent's table mean {inc_mean:.4f}")
    if first is None and inc_mean >= threshold:
      first = (n, spent)
  print(f"top-5 % threshold {threshold:.4f}, best mean {best_mean:.4f}; "
        f"incumbent first top-5 % at (trials, epochs) = {first}; "
        f"final regret {best_mean - means[incumbent[2]]:.4f}; "
        f"{len(rows)} trials, {spent} epochs")


if __name__ == "__main__":
  main(*sys.argv[1:3])
