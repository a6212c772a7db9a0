"""What a finished search leaves behind: trial table, best graph, score plot.

Pure functions over ``TrialRecord``s (built from Ray's ``ResultGrid`` by
``records``), so the table and the choice of the best graph are testable
without Ray.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from typing import NamedTuple

import numpy as np

from ktg_jax.search import space_ops
from ktg_jax.core import GraphSpec

TABLE = "trials.csv"
BEST_JSON = "best_graph.json"
BEST_PNG = "best_graph.png"
SCORES_PNG = "scores.png"


class TrialRecord(NamedTuple):
  index: int          # order of creation (Ray's trial counter)
  trial_id: str
  status: str         # "completed" | "stopped" (ASHA) | "error" |
                      # "interrupted" (running when the search was stopped)
  epochs: int         # epochs reached (= the last ASHA rung passed, or more)
  score: float        # target validation accuracy at the last epoch; nan if none
  reason: str         # why it failed ("" otherwise)
  graph: str          # the GraphSpec as compact JSON ("" if the point was bad)
  point: dict


def rung(epochs: int, grace_period: int = 1) -> int:
  """The highest ASHA rung (g, 2g, 4g, ... for grace period g, reduction
  factor 2) a trial that ran ``epochs`` reached; 0 before the first.

  >>> rung(7), rung(20, 10), rung(39, 10), rung(9, 10)
  (4, 20, 20, 0)
  """
  if epochs < grace_period or epochs < 1:
    return 0
  return grace_period * 2 ** int(math.floor(math.log2(epochs / grace_period)))


def _reason(error) -> str:
  if error is None:
    return ""
  text = str(error).strip().splitlines()
  # Ray wraps the trial's exception; its last line names the real error.
  return (text[-1] if text else type(error).__name__)[:300]


def _graph(space, point, node_accuracy=None) -> str:
  """The trial's graph as JSON; a space scored by its "best" node (ch.5's
  FixMatch space) gets that node as the target (its last validation
  accuracies ``node_accuracy``)."""
  try:
    spec = space.to_spec(point)
    if getattr(space, "score", "target") == "best" and node_accuracy:
      spec = dataclasses.replace(spec, target=int(np.argmax(node_accuracy)))
    return json.dumps(spec.to_json(), separators=(",", ":"))
  except (space_ops.InfeasiblePoint, ValueError):
    return ""


def last_events(path: str | None) -> dict:
  """trial_id -> its last event in ``events.jsonl`` (``progress.Progress`` writes it)."""
  last = {}
  if path and os.path.exists(path):
    with open(path) as f:
      for line in f:
        e = json.loads(line)
        last[e["trial_id"]] = e["event"]
  return last


def records(result_grid, space, epochs: int,
            events_path: str | None = None) -> list[TrialRecord]:
  """One record per trial of a Ray ``ResultGrid``, in creation order (per
  member of a pack trial: ``<trial_id>:<k>``, its own point and score).

  With ``events_path``, a trial whose last event is its start (Ctrl-C or a
  time limit ended the search under it) is "interrupted", not "stopped".
  """
  last = last_events(events_path)
  out = []
  for r in result_grid:
    metrics = r.metrics or {}
    trial_id = metrics.get("trial_id") or os.path.basename(r.path or "")
    reached = int(metrics.get("epoch") or 0)
    score = metrics.get("target_accuracy")
    status = ("error" if r.error is not None else
              "completed" if reached >= epochs else
              "interrupted" if last.get(trial_id, "start") == "start" and last
              else "stopped")
    point = {k: v for k, v in (r.config or {}).items()}
    index = _index(trial_id, r.path)
    if "pack" in point:  # a pack (search.packs): one record per member
      scores = metrics.get("member_scores") or [None] * len(point["pack"])
      for k, (p, s) in enumerate(zip(point["pack"], scores)):
        out.append(TrialRecord(index, f"{trial_id}:{k}", status, reached,
                               float("nan") if s is None else float(s),
                               _reason(r.error), _graph(space, p), p))
      continue
    out.append(TrialRecord(index, trial_id, status, reached,
                           float("nan") if score is None else float(score),
                           _reason(r.error), _graph(
                               space, point, metrics.get("node_accuracy")),
                           point))
  return sorted(out, key=lambda t: (t.index, t.trial_id))


def _index(trial_id: str, path: str | None) -> int:
  """Ray names trial folders ``<trainable>_<id>_<counter>_<params>``: the
  counter after the id is the creation order."""
  parts = os.path.basename(path or "").split("_")
  if trial_id in parts:
    after = parts.index(trial_id) + 1
    if after < len(parts) and parts[after].isdigit():
      return int(parts[after])
  return -1


def best(trials: list[TrialRecord]) -> TrialRecord | None:
  """The best graph: highest score among the trials that got furthest.

  Comparing a 1-epoch score with a 200-epoch one would favour nothing real;
  the thesis's survivors of the last rung are the candidates (ch.3 §3.2.5).
  """
  scored = [t for t in trials if t.status != "error" and not math.isnan(
      t.score) and t.graph]
  if not scored:
    return None
  furthest = max(t.epochs for t in scored)
  return max((t for t in scored if t.epochs == furthest),
             key=lambda t: t.score)


def write_table(trials: list[TrialRecord], path: str,
                grace_period: int = 1) -> str:
  fields = ["index", "trial_id", "status", "epochs", "rung", "score",
            "reason", "graph", "point"]
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    for t in trials:
      w.writerow({**t._asdict(), "rung": rung(t.epochs, grace_period),
                  "score": "" if math.isnan(t.score) else f"{t.score:.6f}",
                  "point": json.dumps(t.point, sort_keys=True)})
  return path


def read_table(path: str) -> list[dict]:
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def summary(trials: list[TrialRecord], epochs: int,
            grace_period: int = 1) -> str:
  """Counts per status and how many trials stopped at each rung."""
  count = lambda s: sum(t.status == s for t in trials)
  by_rung = {}
  for t in trials:
    if t.status == "stopped":
      r = rung(t.epochs, grace_period)
      by_rung[r] = by_rung.get(r, 0) + 1
  b = best(trials)
  best_text = ("none" if b is None else
               f"{b.score:.4f} (trial {b.trial_id}, {b.epochs} epochs)")
  interrupted = (f", {count('interrupted')} interrupted"
                 if count("interrupted") else "")
  return (f"{len(trials)} trials: {count('completed')} ran all {epochs} "
          f"epochs, {count('stopped')} stopped early by ASHA (at rung: "
          f"{dict(sorted(by_rung.items()))}), {count('error')} failed"
          f"{interrupted}; best {best_text}")


def plot_scores(trials: list[TrialRecord], path: str, title: str = "") -> str:
  """Score of every trial in creation order, by status, and the best so far."""
  from ktg_jax.viz import figures  # pylint: disable=import-outside-toplevel
  fig, ax = figures.subplots(figsize=(7, 4))
  styles = {"completed": ("tab:blue", "o"), "stopped": ("tab:gray", "."),
            "interrupted": ("tab:orange", "."), "error": ("tab:red", "x")}
  for status, (color, marker) in styles.items():
    pts = [(i, 0.0 if math.isnan(t.score) else t.score)
           for i, t in enumerate(trials) if t.status == status]
    if pts:
      xs, ys = zip(*pts)
      ax.scatter(xs, ys, c=color, marker=marker, label=f"{status} ({len(pts)})")
  running, line = float("-inf"), []
  for t in trials:
    if t.status != "error" and not math.isnan(t.score):
      running = max(running, t.score)
    line.append(running if running > float("-inf") else float("nan"))
  ax.plot(range(len(trials)), line, c="tab:green", lw=1, label="best so far")
  ax.set_xlabel("trial (creation order)")
  ax.set_ylabel("target validation accuracy")
  ax.set_title(title or "structure search")
  ax.legend(loc="best", fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  return path


def write_outputs(trials: list[TrialRecord], output_dir: str,
                  title: str = "", grace_period: int = 1) -> dict:
  """Table, best graph (JSON + picture) and score plot; returns their paths."""
  paths = {"table": write_table(trials, os.path.join(output_dir, TABLE),
                                grace_period),
           "scores": plot_scores(trials, os.path.join(output_dir, SCORES_PNG),
                                 title)}
  b = best(trials)
  if b is not None:
    spec = GraphSpec.from_json(b.graph)
    paths["best_json"] = os.path.join(output_dir, BEST_JSON)
    spec.save(paths["best_json"])
    from ktg_jax.viz import run_pictures  # pylint: disable=import-outside-toplevel
    paths["best_png"] = run_pictures.draw_graph(
        spec, os.path.join(output_dir, BEST_PNG),
        title=f"best: val acc {b.score:.4f} after {b.epochs} epochs")
  return paths
