"""Thesis Table 3.2 as a protocol: rows of graphs, 5 seeds each, Welch tests.

A row is a registered way to get a graph (``ROWS``): a fixed classic method
(Vanilla, KD, DML), or a search on the validation split (docs/papers.md §4: random
graphs + ASHA for the 4-gate and Sine spaces, Nevergrad BO without early
stopping for gamma gates) whose best graph is then retrained. Every row is
trained on the *full* training split with the same seeds and scored once on
the test split (``seeds.fit_seeds``); each row's result is a JSON file, so a
killed run resumes where it stopped (and ``fit``'s checkpoints resume the
row in progress).

Each row is compared with Vanilla and with DML by Welch's t-test, and
summarised as mean ± sample std over seeds (``ktg_jax.stats``).
"""

from __future__ import annotations

import json
import math
import os
from typing import Callable, NamedTuple, Sequence

import numpy as np

from ktg_jax import classic, stats
from ktg_jax.core import GraphSpec
from ktg_jax import data as data_lib
from ktg_jax.run import training
from ktg_jax.search import exhaustive, presets


class Context(NamedTuple):
  """What a row's builder may use: the protocol config, the data set, its
  workdir (teacher, search) and the two runners it may call."""
  config: object
  workdir: str | None
  teacher: Callable[[], str]                # -> checkpoint of the frozen teacher
  search: Callable[[str, int, str], GraphSpec]  # (space, nodes, protocol)


class Row(NamedTuple):
  label: str       # the row as printed
  method: str      # benchmarks/published.py key: method
  nodes: str       # benchmarks/published.py key: nodes (CIFAR-100 names)
  build: Callable[[Context], GraphSpec]


def _t(ctx):
  return ctx.config.target


def _a(ctx):
  return ctx.config.aux


TABLE_EDGES = ("gate_label_0", "gate_label_1", "gate_1_0", "gate_0_1")


def table_point(rows, k: int) -> dict:
  """The ``k``-th best graph (1 = best) of a tabulated 2-node benchmark's
  rows (``exhaustive`` records): by the mean validation score over its
  seeds, among the graphs with the most seeds (the extra seeds of a table's
  best, ``experiments/ch3_table.py --top``); graphs that trained the same run
  as a better one (``exhaustive.same_runs``) are skipped; ties: lower index.

  >>> rows = [{"index": i, "seed": s, "score": v, "point": {"g": i},
  ...          "curve": [[v + s, i]]}
  ...         for i, s, v in [(0, 0, .9), (1, 0, .5), (1, 1, .6),
  ...                         (2, 0, .7), (2, 1, .7)]]
  >>> table_point(rows, 1), table_point(rows, 2)
  ({'g': 2}, {'g': 1})
  """
  graphs = exhaustive.by_graph(rows)
  most = max(len(g["scores"]) for g in graphs)
  seed = min(r["seed"] for r in rows)
  first = {g[0]: g for g in exhaustive.same_runs(rows, seed)}
  kept = [g for g in graphs if len(g["scores"]) == most
          and g["index"] in first]
  ranked = sorted(kept, key=lambda g: (-g["mean"], g["index"]))
  if not 1 <= k <= len(ranked):
    raise ValueError(f"k={k!r} is invalid; allowed: 1..{len(ranked)} (the "
                     f"graphs with {most} seeds)")
  return dict(ranked[k - 1]["point"])


def table_graph(ctx, point: dict) -> GraphSpec:
  """A graph of the 2-node ch.3 space (target + aux, four gates on label->0,
  label->1, 1->0, 0->1) as its gates ``point``; an aux with only Cutoff
  edges in is KD's frozen teacher (``ctx.teacher()``), as in the table."""
  gates = tuple(ctx.config.get("table", {}).get(
      "gates", presets.FOUR_GATES))
  space = presets.get("ch3_4gates", 2, target_model=_t(ctx),
                      aux_models=(_a(ctx),), fixed={"model_1": _a(ctx)},
                      gates=gates,
                      pretrained_checkpoints={_a(ctx): ctx.teacher()})
  return space.to_spec(point)


def _table_best(k: int):
  def build(ctx):
    with open(ctx.config.table_file) as f:
      rows = [json.loads(line) for line in f if line.strip()]
    return table_graph(ctx, table_point(rows, k))
  return build


ROWS: dict[str, Row] = {
    "vanilla": Row("Vanilla", "Vanilla", "R32",
                   lambda c: classic.vanilla(_t(c))),
    "kd": Row("KD (T = 2, frozen aux teacher)", "KD (T=2)",
              "R32<-WRN28-2(frozen)",
              lambda c: classic.kd(_t(c), _a(c), c.teacher(), 2.0)),
    "dml": Row("DML (target x 2)", "DML", "R32,R32",
               lambda c: classic.dml([_t(c), _t(c)])),
    "dml_aux": Row("DML (target + aux)", "DML", "R32,WRN28-2",
                   lambda c: classic.dml([_t(c), _a(c)])),
    "thesis_2node": Row(
        "KTG 2 nodes, the thesis's graph (DML, Correct on target -> aux)",
        "KTG, 4 gates", "R32,WRN28-2",
        lambda c: table_graph(c, dict(zip(TABLE_EDGES, (
            "through", "through", "through", "correct"))))),
    "table_best1": Row("KTG 2 nodes, the table's best", "KTG, 4 gates",
                       "R32,WRN28-2", _table_best(1)),
    "table_best2": Row("KTG 2 nodes, the table's 2nd", "KTG, 4 gates",
                       "R32,WRN28-2", _table_best(2)),
    "table_best3": Row("KTG 2 nodes, the table's 3rd", "KTG, 4 gates",
                       "R32,WRN28-2", _table_best(3)),
    "ktg2_4gates": Row("KTG 2 nodes, 4 gates", "KTG, 4 gates", "R32,WRN28-2",
                       lambda c: c.search("ch3_4gates", 2, "asha")),
    "ktg3_4gates": Row("KTG 3 nodes, 4 gates", "KTG, 4 gates",
                       "R32,WRN28-2,R32",
                       lambda c: c.search("ch3_4gates", 3, "asha")),
    "ktg3_sine": Row("KTG 3 nodes, Sine", "KTG, Sine", "R32,WRN28-2,WRN28-2",
                     lambda c: c.search("ch3_sine", 3, "asha")),
    "ktg_gamma": Row("KTG 2 nodes, gamma gates (BO)",
                     "KTG, gamma gates, BO 500 trials", "R32,WRN28",
                     lambda c: c.search("gamma", 2, "bo")),
}
"""Row name -> Row, in Table 3.2's order; a config's ``rows`` picks some."""

BASELINES = ("vanilla", "dml")  # every row is tested against these


def load_data(config, val_fraction: float):
  """The protocol's data set (``config.dataset`` / ``limit`` / ``data_dir``)
  with ``val_fraction`` of the training split held out (0 = final runs)."""
  return data_lib.from_config(config, val_fraction=val_fraction)


def train_config(config):
  """``config``'s fields that ``training.fit`` knows, over its defaults."""
  cfg = training.default_config()
  cfg.update({k: v for k, v in config.items() if k in cfg})
  return cfg


def teacher_runner(config, workdir: str) -> Callable[[], str]:
  """KD's teacher (``Context.teacher``): the aux model alone on the whole
  training split (one seed, ``config.teacher_seed``), trained once into
  ``workdir/teacher`` (resumable) and reused; returns its variables' path."""
  def teacher() -> str:
    run = os.path.join(workdir, "teacher")
    path = os.path.join(run, "variables", "node0")
    if not os.path.exists(os.path.join(run, "done")):
      cfg = train_config(config)
      cfg.update(seed=config.teacher_seed, eval_split="test", resume=True,
                 save_variables=True)
      r = training.fit(classic.vanilla(config.aux), load_data(config, 0.0),
                       cfg, run)
      print(f"[reproduce] teacher {config.aux}: test accuracy "
            f"{100 * r.final_target_accuracy:.2f} %", flush=True)
      os.makedirs(run, exist_ok=True)
      open(os.path.join(run, "done"), "w").close()
    return os.path.abspath(path)
  return teacher


def check_rows(rows: Sequence[str]) -> None:
  unknown = [r for r in rows if r not in ROWS]
  if unknown:
    raise ValueError(f"rows={list(rows)}: {unknown} unknown; allowed: "
                     f"{list(ROWS)}")


def row_path(workdir: str, name: str) -> str:
  return os.path.join(workdir, "rows", f"{name}.json")


def load_row(workdir: str | None, name: str) -> dict | None:
  """A finished row's result, or None (not run yet / no workdir)."""
  if not workdir or not os.path.isfile(row_path(workdir, name)):
    return None
  with open(row_path(workdir, name)) as f:
    return json.load(f)


def save_row(workdir: str | None, name: str, result: dict) -> None:
  if not workdir:
    return
  path = row_path(workdir, name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(result, f, indent=2)
  os.replace(path + ".tmp", path)  # atomic: a kill leaves no half row


def table(results: dict) -> list[dict]:
  """One dict per finished row: name, label, mean, std (%), n, and the Welch
  p-values against each baseline that ran (NaN for the baseline itself)."""
  out = []
  for name, r in results.items():
    acc = 100 * np.asarray(r["per_seed"], np.float64)
    s = stats.summarize(acc)
    row = dict(name=name, label=ROWS[name].label, method=ROWS[name].method,
               nodes=ROWS[name].nodes, graph_nodes=r.get("graph_nodes", ""),
               mean=s.mean, n=s.n, std=s.std,
               per_seed=[float(x) for x in acc], seconds=r.get("seconds"))
    for base in BASELINES:
      other = results.get(base)
      row[f"p_vs_{base}"] = (float("nan") if other is None or base == name
                             else stats.welch_p(r["per_seed"],
                                                other["per_seed"]))
    out.append(row)
  return out


def markdown(rows: list[dict], published: dict | None = None) -> str:
  """The table as Markdown; ``published``: {(method, nodes): (mean, std)}."""
  head = ["row", "nodes (ours)", "test acc. % (5 seeds)", "p vs Vanilla",
          "p vs DML", "published (CIFAR-100)"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in rows:
    pub = (published or {}).get((r["method"], r["nodes"]))
    pub = "—" if pub is None else (f"{pub[0]:.2f}" + (
        f" ± {pub[1]:.2f}" if pub[1] is not None else ""))
    lines.append(
        f"| {r['label']} | {r['graph_nodes']} | {r['mean']:.2f} ± "
        f"{stats.format_number(r['std'], '.2f')} (n={r['n']}) | "
        f"{stats.format_p(r['p_vs_vanilla'])} | "
        f"{stats.format_p(r['p_vs_dml'])} | {pub} |")
  return "\n".join(lines)


def summary(path: str, names: Sequence[str]) -> str:
  """A reproduction's numbers for rows ``names``, read from the table.json
  it wrote; says so when there is none (the demo prints this beside its own
  few-seed numbers)."""
  if not os.path.isfile(path):
    return f"(no reproduction table at {path})"
  with open(path) as f:
    rows = {r["name"]: r for r in json.load(f)}
  n = max((r["n"] for r in rows.values()), default=0)
  lines = [f"The reproduction ({n} seeds a row; benchmarks/FIDELITY.md) "
           "measured in this regime:"]
  for name in names:
    if name not in rows:
      lines.append(f"  {ROWS[name].label}: not run")
      continue
    r, p = rows[name], rows[name].get("p_vs_vanilla")
    test = ("" if p is None or math.isnan(p)
            else f" (Welch p vs Vanilla {p:.2g})")
    lines.append(f"  {r['label']}: {r['mean']:.2f} ± {r['std']:.2f} %{test}")
  return "\n".join(lines)
