"""Empirical distribution functions of the error, split by one hyper-parameter (003).

003 refines a design space by eye: for the graphs a search sampled, plot the
EDF of their error, one curve per value of one hyper-parameter (an edge's gate,
a node's model); a value whose curve lies higher/left (more graphs with low
error) is kept, the others dropped (docs/papers.md §4):

  F(e) = (1/n) sum_i 1[e_i < e]

over the n graphs with that value, error e_i = 1 - target validation accuracy.
Graphs whose accuracy is at or below ``floor`` (003: 2% on CIFAR-100, i.e.
chance-level runs that diverged or never learned) are left out.

Input: rows of a search's trial table (``report.read_table`` dicts, or
``report.TrialRecord``s): ``point`` (dict or its JSON), ``score``, ``epochs``.

Example:
  >>> rows = [{"point": {"gate_1_0": g}, "score": s, "epochs": 2}
  ...         for g, s in [("through", .9), ("through", .7), ("cutoff", .5),
  ...                      ("cutoff", .01)]]
  >>> c = curves(rows, "gate_1_0", floor=0.02)
  >>> sorted(c), c["through"].n, c["cutoff"].n
  (['cutoff', 'through'], 2, 1)
  >>> [round(float(v), 2) for v in evaluate(c["through"].errors, [0.2, 0.5])]
  [0.5, 1.0]
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

PREFIXES = ("model_", "gate_", "init_", "pretrained_")  # plotted parameters


class Curve(NamedTuple):
  """The sorted errors of the graphs with one value of a hyper-parameter."""
  value: str
  errors: np.ndarray  # sorted ascending
  n: int


def evaluate(errors: np.ndarray, e) -> np.ndarray:
  """``F(e) = (1/n) sum_i 1[e_i < e]`` at every point of ``e`` (sorted
  ``errors``; strict inequality as in docs/papers.md §4)."""
  errors = np.sort(np.asarray(errors, np.float64))
  if len(errors) == 0:
    raise ValueError("errors=[] is invalid; allowed: at least one error")
  return np.searchsorted(errors, np.asarray(e, np.float64),
                         side="left") / len(errors)


def _field(row, name):
  return row[name] if isinstance(row, dict) else getattr(row, name)


def _point(row) -> dict:
  p = _field(row, "point")
  return json.loads(p) if isinstance(p, str) else dict(p)


def _score(row) -> float:
  s = _field(row, "score")
  return float("nan") if s in ("", None) else float(s)


def kept(rows: Iterable, floor: float = 0.02, min_epochs: int = 0) -> list:
  """Rows with a score above ``floor`` that ran at least ``min_epochs``."""
  if not 0.0 <= floor < 1.0:
    raise ValueError(f"floor={floor!r} is invalid; allowed: 0 <= floor < 1")
  out = []
  for r in rows:
    s = _score(r)
    if not math.isnan(s) and s > floor and int(_field(r, "epochs")) >= (
        min_epochs):
      out.append(r)
  return out


def curves(rows: Iterable, param: str, floor: float = 0.02,
           min_epochs: int = 0) -> dict[str, Curve]:
  """``{value: Curve}`` of hyper-parameter ``param`` (values as strings)."""
  groups: dict[str, list] = {}
  for r in kept(rows, floor, min_epochs):
    point = _point(r)
    if param not in point:
      raise ValueError(f"param={param!r} is not in the trial points; "
                       f"allowed: {sorted(point)}")
    groups.setdefault(str(point[param]), []).append(1.0 - _score(r))
  return {v: Curve(v, np.sort(np.asarray(e)), len(e))
          for v, e in sorted(groups.items())}


def hyper_parameters(rows: Sequence) -> list[str]:
  """The discrete parameters (models, gates, init) that vary in ``rows``."""
  values: dict[str, set] = {}
  for r in rows:
    for k, v in _point(r).items():
      if k.startswith(PREFIXES):
        values.setdefault(k, set()).add(str(v))
  return sorted(k for k, v in values.items() if len(v) > 1)


def summary(c: dict[str, Curve]) -> dict[str, dict[str, Any]]:
  """Per value: n, mean and median error (a reading aid; 003 reads the
  curves by eye — mean error is the area right of the EDF, their rejected
  AUC)."""
  return {v: {"n": cu.n, "mean_error": float(cu.errors.mean()),
              "median_error": float(np.median(cu.errors))}
          for v, cu in c.items()}


def best_values(rows: Iterable, params: Sequence[str], k: int = 1,
                floor: float = 0.02, min_epochs: int = 0) -> tuple:
  """The ``k`` values with the lowest mean error, the graphs of all
  ``params`` pooled (e.g. model_1 and model_2: "the auxiliaries' model") —
  a scripted stand-in for 003's reading by eye, at reduced scale."""
  rows = list(rows)
  pooled: dict[str, list] = {}
  for p in params:
    for v, cu in curves(rows, p, floor, min_epochs).items():
      pooled.setdefault(v, []).extend(cu.errors.tolist())
  if len(pooled) < k:
    raise ValueError(f"k={k!r} is invalid; allowed: <= {len(pooled)} values "
                     f"seen for {list(params)}")
  return tuple(sorted(pooled, key=lambda v: np.mean(pooled[v]))[:k])


def plot(rows: Sequence, param: str, path: str, floor: float = 0.02,
         min_epochs: int = 0, title: str = "") -> str:
  """One picture: the EDF of the error, one step curve per value of ``param``."""
  from ktg_jax.viz import figures  # pylint: disable=import-outside-toplevel
  fig, ax = figures.subplots(figsize=(4.5, 3.4))
  for v, cu in curves(rows, param, floor, min_epochs).items():
    x = np.concatenate([[cu.errors[0]], cu.errors])
    ax.step(x, np.arange(cu.n + 1) / cu.n, where="post",
            label=f"{v} (n={cu.n})")
  ax.set_xlabel("error (1 - target validation accuracy)")
  ax.set_ylabel("F(e)")
  ax.set_ylim(0, 1.02)
  ax.set_title(title or param, fontsize=9)
  ax.legend(fontsize=8, loc="lower right")
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  return path


def plot_all(rows: Sequence, out_dir: str, floor: float = 0.02,
             min_epochs: int = 0, prefix: str = "edf") -> dict[str, str]:
  """One picture per varying hyper-parameter: ``{param: path}``."""
  os.makedirs(out_dir, exist_ok=True)
  return {p: plot(rows, p, os.path.join(out_dir, f"{prefix}_{p}.png"), floor,
                  min_epochs) for p in hyper_parameters(rows)}
