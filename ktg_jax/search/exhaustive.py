"""Exhaustive search of a small finite space: every graph trained, none pruned (003 X).

Every feasible point of the space (``points``), each with every repeat seed,
is trained once with ``training.fit`` on the training split and scored on the
validation split (the final validation accuracy of the target node). Graphs
of one structure (same node models and kinds; the gates are data) are trained
as *populations* of ``pack_size`` members — one ``fit`` call, one compiled
step — which is how a sweep of one structure is cheapest (on CPU the
population steps its members one after another, ``ktg_jax.run.population``).

Resume, with nothing home-made beyond a results file: each pack is a ``fit``
run with its own workdir and per-epoch orbax checkpoints (``resume=True``);
when a pack finishes, one JSON line per (graph, seed) is appended to
``results.jsonl`` (flushed and fsynced) and the pack's workdir removed. Run
the same call again after a kill: packs with all their lines are skipped, the
pack that was running continues from its last checkpoint. ``plan.json``
holds what must not change between a run and its resume.

A record (one JSON line, the contract ``ktg_jax.search`` replays read):
``index`` (the point's place in ``points(space)``, or in ``chosen``),
``seed``, ``point`` (parameter name -> value, e.g. ``gate_label_0``),
``score`` (final target accuracy on ``config.eval_split``, 0-1), ``best``
(its max over epochs), ``epochs``, ``curve`` (per epoch, every node's
accuracy: ``[[acc_node0, acc_node1, ...], ...]``; ``None`` where an epoch was
not evaluated), ``train_acc`` (the target's training accuracy over the last
epoch), ``wall_s`` / ``cpu_s`` (this process's wall and CPU seconds of the
``fit`` call, divided by the pack's size: a resumed pack counts only what
was left) and ``train_s`` (the summed per-epoch training seconds of the
whole run, resumed or not, divided by the pack's size).

Frozen teachers: an all-Cutoff auxiliary node loads
``space.pretrained_checkpoints[model]``; a path with a ``{seed}`` field is
one teacher per seed (``ktg_jax.search.teachers``), trained before the
graphs when ``run(..., teachers_first=True)``.

Example:
  >>> from ktg_jax.search import presets
  >>> s = presets.get("tiny", num_nodes=1, gates=("through", "linear"))
  >>> [p["gate_label_0"] for p in points(s)]
  ['through', 'linear']
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import time
from typing import Callable, NamedTuple, Sequence

import numpy as np

from ktg_jax import stats
from ktg_jax.run import training
from ktg_jax.search import fingerprint, space_ops, teachers

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


def _cut(space, indexed, repeats, pack_size) -> list[list[Unit]]:
  """(index, point) pairs grouped by graph structure (in order of first
  appearance), cut into packs of <= pack_size units."""
  groups: dict = {}
  for i, point in indexed:
    structure = space.to_spec(point).structure()
    groups.setdefault(structure, []).extend(
        Unit(i, int(s), point) for s in repeats)
  out = []
  for units in groups.values():
    out += [units[k:k + pack_size] for k in range(0, len(units), pack_size)]
  return out


def packs(space: space_ops.Space, repeats: Sequence[int],
          pack_size: int, chosen: Sequence[dict] | None = None,
          first: Sequence[int] | None = None,
          only: Sequence[int] | None = None) -> list[list[Unit]]:
  """The units, grouped by graph structure, cut into packs of <= pack_size.
  ``chosen``: train these points instead of all (a random search's sample).
  ``first``: indices whose packs come before all others, in this order
  (grouped by structure among themselves), e.g. the reference graphs.
  ``only``: train just these indices (more seeds for a table's best graphs);
  records keep the indices of the whole list, so they join the table.

  >>> from ktg_jax.search import presets
  >>> space = presets.get("ch3_4gates", 2)
  >>> [[u.index for u in p] for p in packs(space, (1,), 1, first=[9],
  ...                                      only=[4, 9])]
  [[9], [4]]
  """
  if pack_size < 1:
    raise ValueError(f"pack_size={pack_size!r} is invalid; allowed: >= 1")
  if not repeats:
    raise ValueError("repeats=() is invalid; allowed: at least one seed")
  pts = points(space) if chosen is None else list(chosen)
  first = [int(i) for i in first or ()]
  bad = [i for i in first if not 0 <= i < len(pts)]
  if bad or len(set(first)) != len(first):
    raise ValueError(f"first={first!r} is invalid; allowed: distinct "
                     f"indices in [0, {len(pts)})")
  keep = set(range(len(pts)) if only is None else (int(i) for i in only))
  if not keep <= set(range(len(pts))):
    raise ValueError(f"only={sorted(keep)!r} is invalid; allowed: indices "
                     f"in [0, {len(pts)})")
  head = set(first)
  return (_cut(space, [(i, pts[i]) for i in first if i in keep], repeats,
               pack_size) +
          _cut(space, [(i, p) for i, p in enumerate(pts)
                       if i not in head and i in keep], repeats, pack_size))


def _number(x) -> float | None:
  return None if x is None or not math.isfinite(x) else float(x)


def record(unit: Unit, member, spec, wall_s: float, cpu_s: float) -> dict:
  """The JSON line of one finished (graph, seed) (the contract: top)."""
  history = member.history
  return {"index": unit.index, "seed": unit.seed, "point": unit.point,
          "score": float(member.final_target_accuracy),
          "best": float(member.best_target_accuracy),
          "epochs": len(history),
          "curve": [[_number(a) for a in m.get("accuracy", ())]
                    for m in history],
          "train_acc": (_number(history[-1]["train_accuracy"][spec.target])
                        if history and "train_accuracy" in history[-1]
                        else None),
          "wall_s": wall_s, "cpu_s": cpu_s,
          "train_s": sum(m.get("seconds", 0.0) for m in history)}


def read_file(path: str) -> dict[tuple, dict]:
  """``{(index, seed): record}`` of a results JSONL file; a half-written last
  line (kill) is skipped, a (graph, seed) written twice counts once."""
  out = {}
  with open(path) as f:
    for line in f:
      try:
        r = json.loads(line)
      except json.JSONDecodeError:
        continue
      out[(r["index"], r["seed"])] = r
  return out


def read_results(output_dir: str) -> dict[tuple, dict]:
  """``read_file`` of a sweep folder's results ({} before the first)."""
  path = os.path.join(output_dir, RESULTS)
  return read_file(path) if os.path.exists(path) else {}


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
        chosen: Sequence[dict] | None = None,
        first: Sequence[int] | None = None,
        only: Sequence[int] | None = None, teachers_first: bool = True,
        teachers_dir: str | None = None, shard: tuple[int, int] = (0, 1),
        fit_fn: Callable | None = None, log: Callable = print) -> list[dict]:
  """Trains every (graph, seed) of ``space`` once; returns all records.

  ``config``: ``training.default_config()``-like; evaluated on
  ``config.eval_split`` (keep "val" for a search). ``fit_fn``: defaults to
  ``training.fit``. ``chosen``: a list of points to train instead of the
  whole space (random search without pruning: 003's searches of A, B, C).
  ``first``: indices trained before the others; ``only``: just these
  indices (``packs``).
  ``teachers_first``: train the per-seed teachers the space's ``{seed}``
  checkpoint templates name (``ktg_jax.search.teachers``) before the graphs;
  ``teachers_dir``: the folder those templates are relative to (default
  ``output_dir``; several sweeps may share one). ``shard=(k, n)``: train only
  packs ``k, k + n, k + 2n, ...`` (n processes, each its own ``output_dir``).
  """
  fit_fn = fit_fn or training.fit
  os.makedirs(output_dir, exist_ok=True)
  k_shard, n_shards = shard
  if not 0 <= k_shard < n_shards:
    raise ValueError(f"shard={shard!r} is invalid; allowed: (k, n) with "
                     "0 <= k < n")
  todo = packs(space, repeats, pack_size, chosen, first, only)
  root = output_dir if teachers_dir is None else teachers_dir
  fingerprint.check_or_write(
      os.path.join(output_dir, PLAN),
      {"space": space._asdict(), "repeats": list(repeats),
       "pack_size": pack_size, "config": config.to_dict(), "chosen": chosen,
       "first": list(first) if first else None,
       "shard": list(shard) if n_shards > 1 else None,
       # only when given: sweeps of every graph keep their fingerprint
       **({"only": sorted(int(i) for i in only)} if only is not None
          else {})},
      "sweep")
  if teachers_first:
    teachers.train(space, data, config, root, repeats, fit_fn=fit_fn, log=log)
  done = read_results(output_dir)
  cfg = config.copy_and_resolve_references()
  cfg.update(checkpoint_every=1, resume=True, save_variables=False,
             pictures=False)
  total = sum(len(p) for k, p in enumerate(todo) if k % n_shards == k_shard)
  for k, pack in enumerate(todo):
    if k % n_shards != k_shard or all((u.index, u.seed) in done for u in pack):
      continue
    workdir = os.path.join(output_dir, "packs", f"{k:05d}")
    specs = [teachers.for_seed(space, u.seed, root).to_spec(u.point)
             for u in pack]
    wall, cpu = time.time(), time.process_time()
    result = fit_fn(specs, data, cfg, workdir, seeds=[u.seed for u in pack])
    wall, cpu = time.time() - wall, time.process_time() - cpu
    records = [record(u, m, spec, wall / len(pack), cpu / len(pack))
               for u, m, spec in zip(pack, result.members, specs)]
    for r in records:
      r["train_s"] /= len(pack)
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


def ranks(rows, seed: int) -> dict[int, tuple[int, float]]:
  """``{index: (rank, score)}`` at ``seed``; rank 1 is the best, ties share
  the better rank (1, 2, 2, 4).

  >>> ranks([{"index": i, "seed": 0, "score": s}
  ...        for i, s in enumerate([.3, .5, .4, .5])], 0)
  {0: (4, 0.3), 1: (1, 0.5), 2: (3, 0.4), 3: (1, 0.5)}
  """
  score = {r["index"]: r["score"] for r in rows if r["seed"] == seed}
  values = sorted(score.values(), reverse=True)
  return {i: (values.index(s) + 1, s) for i, s in sorted(score.items())}


def same_runs(rows, seed: int) -> list[list[int]]:
  """Graphs whose runs at ``seed`` are the same run (equal per-epoch curves
  of both nodes), as groups of indices, largest first. A Correct gate on a
  label edge passes every sample (the label is its own top-1 class), so it
  trains exactly what Through trains (docs/papers.md §3, the Correct gate).

  >>> same_runs([{"index": i, "seed": 0, "curve": c}
  ...            for i, c in enumerate([[[.1, .2]], [[.3, .2]], [[.1, .2]]])],
  ...           0)
  [[0, 2], [1]]
  """
  groups: dict[str, list[int]] = {}
  for r in sorted(rows, key=lambda r: r["index"]):
    if r["seed"] == seed:
      groups.setdefault(json.dumps(r["curve"]), []).append(r["index"])
  return sorted(groups.values(), key=lambda g: (-len(g), g))
