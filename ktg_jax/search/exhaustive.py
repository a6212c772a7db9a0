"""Exhaustive search of a small finite space: every graph trained, none pruned (003 X).

Every feasible point of the space (``points``), each with every repeat seed,
is trained once with ``training.fit`` on the training split and scored on the
validation split (the final validation accuracy of the target node). Graphs
of one structure (same node models and kinds; the gates are data) are trained
as *populations* of ``pack_size`` members — one ``fit`` call, one compiled
step — which is how a sweep of one structure is cheapest (on CPU the
population steps its members one after another, ``ktg_jax.population``).

Resume, with nothing home-made beyond a results file: each pack is a ``fit``
run with its own workdir and per-epoch orbax checkpoints (``resume=True``);
when a pack finishes, one JSON line per (graph, seed) is appended to
``results.jsonl`` (flushed and fsynced) and the pack's workdir removed. Run
the same call again after a kill: packs with all their lines are skipped, the
pack that was running continues from its last checkpoint. ``plan.json``
holds what must not change between a run and its resume.

Example:
  >>> from ktg_jax.search import presets
  >>> s = presets.get("tiny", num_nodes=1, gates=("through", "linear"))
  >>> [p["gate_label_0"] for p in points(s)]
  ['through', 'linear']
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from typing import Callable, NamedTuple, Sequence

import numpy as np

from ktg_jax import stats
from ktg_jax.search import fingerprint
from ktg_jax.search import space_ops

RESULTS = "results.jsonl"
PLAN = "plan.json"


class Unit(NamedTuple):
  """One training run of the sweep: graph ``index`` with ``seed``."""
  index: int
  seed: int
  point: dict


def points(space: space_ops.Space) -> list[dict]:
  """Every feasible point, in a fixed order (product over sorted names)."""
  params = space.parameters()
  continuous = sorted(k for k, d in params.items()
                      if not isinstance(d, space_ops.Choice))
  if continuous:
    raise space_ops.SpaceError(
        f"space {space.name!r}: continuous parameters {continuous} cannot be "
        "enumerated; allowed: a space of discrete choices only")
  keys = sorted(params)
  out = []
  for combo in itertools.product(*(params[k].options for k in keys)):
    point = dict(zip(keys, combo))
    if space.feasible(point):
      out.append(point)
  return out


def packs(space: space_ops.Space, repeats: Sequence[int],
          pack_size: int, chosen: Sequence[dict] | None = None
          ) -> list[list[Unit]]:
  """The units, grouped by graph structure, cut into packs of <= pack_size.
  ``chosen``: train these points instead of all (a random search's sample)."""
  if pack_size < 1:
    raise ValueError(f"pack_size={pack_size!r} is invalid; allowed: >= 1")
  if not repeats:
    raise ValueError("repeats=() is invalid; allowed: at least one seed")
  groups: dict = {}
  for i, point in enumerate(points(space) if chosen is None else chosen):
    structure = space.to_spec(point).structure()
    groups.setdefault(structure, []).extend(
        Unit(i, int(s), point) for s in repeats)
  out = []
  for units in groups.values():
    out += [units[k:k + pack_size] for k in range(0, len(units), pack_size)]
  return out


def read_results(output_dir: str) -> dict[tuple, dict]:
  """``{(index, seed): record}``; a half-written last line (kill) is skipped."""
  out = {}
  path = os.path.join(output_dir, RESULTS)
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          r = json.loads(line)
        except json.JSONDecodeError:
          continue
        out[(r["index"], r["seed"])] = r
  return out


def _append(output_dir: str, records: list[dict]) -> None:
  path = os.path.join(output_dir, RESULTS)
  with open(path, "a+") as f:
    f.seek(0, os.SEEK_END)
    if f.tell():  # a kill may have left a line without its newline
      f.seek(f.tell() - 1)
      if f.read(1) != "\n":
        f.write("\n")
    f.write("".join(json.dumps(r) + "\n" for r in records))
    f.flush()
    os.fsync(f.fileno())


def run(space: space_ops.Space, data, config, output_dir: str, *,
        repeats: Sequence[int] = (0,), pack_size: int = 8,
        chosen: Sequence[dict] | None = None, fit_fn: Callable | None = None, log: Callable = print) -> list[dict]:
  """Trains every (graph, seed) of ``space`` once; returns all records.

  ``config``: ``training.default_config()``-like; evaluated on
  ``config.eval_split`` (keep "val" for a search). ``fit_fn``: defaults to
  ``training.fit``. ``chosen``: a list of points to train instead of the
  whole space (random search without pruning: 003's searches of A, B, C).
  """
  if fit_fn is None:
    from ktg_jax import training  # pylint: disable=import-outside-toplevel
    fit_fn = training.fit
  os.makedirs(output_dir, exist_ok=True)
  todo = packs(space, repeats, pack_size, chosen)
  fingerprint.check_or_write(
      os.path.join(output_dir, PLAN),
      {"space": space._asdict(), "repeats": list(repeats),
       "pack_size": pack_size, "config": config.to_dict(), "chosen": chosen},
      "sweep")
  done = read_results(output_dir)
  cfg = config.copy_and_resolve_references()
  cfg.update(checkpoint_every=1, resume=True, save_variables=False,
             pictures=False)
  total = sum(len(p) for p in todo)
  for k, pack in enumerate(todo):
    if all((u.index, u.seed) in done for u in pack):
      continue
    workdir = os.path.join(output_dir, "packs", f"{k:05d}")
    result = fit_fn([space.to_spec(u.point) for u in pack], data, cfg,
                    workdir, seeds=[u.seed for u in pack])
    records = [{"index": u.index, "seed": u.seed, "point": u.point,
                "score": float(m.final_target_accuracy),
                "best": float(m.best_target_accuracy),
                "epochs": len(m.history)}
               for u, m in zip(pack, result.members)]
    _append(output_dir, records)
    done.update({(r["index"], r["seed"]): r for r in records})
    shutil.rmtree(workdir, ignore_errors=True)
    log(f"[exhaustive] pack {k + 1}/{len(todo)} done: {len(done)}/{total} "
        f"runs, best so far {max(r['score'] for r in done.values()):.4f}")
  return sorted(done.values(), key=lambda r: (r["index"], r["seed"]))


def by_graph(records: Sequence[dict]) -> list[dict]:
  """Per graph: its point, the scores over seeds, their mean and sample std
  (``ktg_jax.stats``: ddof 1, NaN for one seed)."""
  groups: dict[int, list] = {}
  for r in records:
    groups.setdefault(r["index"], []).append(r)
  out = []
  for i, rs in sorted(groups.items()):
    scores = np.array([r["score"] for r in rs])
    s = stats.summarize(scores)
    out.append({"index": i, "point": rs[0]["point"], "n": s.n,
                "mean": s.mean, "std": s.std, "scores": scores.tolist()})
  return out


def best(records: Sequence[dict]) -> dict:
  """The graph with the highest mean validation score over its seeds."""
  graphs = by_graph(records)
  if not graphs:
    raise ValueError("records=[] is invalid; allowed: a finished sweep")
  return max(graphs, key=lambda g: (g["mean"], -g["index"]))
