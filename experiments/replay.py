r"""Searchers replayed on the tabulated 2-node ch.3 benchmark (issue 23 part 4).

  python experiments/replay.py --table=benchmarks/results/<table>.jsonl \
      --workdir=runs/replay
  python experiments/replay.py --synthetic --workdir=runs/replay_synthetic

Every searcher of ``--searchers`` (``ktg_jax.search.replay.SEARCHERS``;
Optuna's are skipped when Optuna is not installed) is replayed
``--replays`` times on the table: a search stops after ``--max_trials``
trials or ``--max_full_trials`` x (epochs of the table) epochs, whichever
comes first. Writes under ``--workdir``:

* ``regret.png``: median and 25-75 % band of the simple regret against
  trials and against epochs spent (the closed form of random search judged
  by the table means, dotted, as a reference);
* ``budget.md`` / ``budget.json``: per searcher, the median trials and
  epochs until the incumbent is a top-``--top`` graph, the share of replays
  that got there within the budget, the median final regret;
* ``traces.jsonl``: every replay (``replay.write_traces``).

``--synthetic`` writes and uses ``synthetic_table.jsonl``: 240 graphs x 2
seeds x 30 epochs drawn from a made-up model (``synthetic_records``), only to
show what the outputs look like before the real table exists. Its numbers
say nothing about KTG.
"""

from __future__ import annotations

import itertools
import json
import os
import time

from absl import app
from absl import flags
import numpy as np

from ktg_jax.cli import common  # the scripts' command line
from ktg_jax.search import replay as rp

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "where the outputs go")
flags.DEFINE_alias("output_dir", "workdir")  # the old name
flags.DEFINE_string("table", None, "the table's JSONL (one line per (graph, "
                    "seed)); or --synthetic")
flags.DEFINE_bool("synthetic", False, "replay on a synthetic 240-graph table "
                  "(a demo of the outputs, not a measurement)")
flags.DEFINE_list("searchers", ["random", "random+asha", "random+asha_g4",
                                "random_iid", "random_iid+asha", "ngopt", "discrete_1+1", "two_points_de",
                                "tpe", "tpe+hyperband", "edf_refined"],
                  "searchers (replay.spec_of names)")
flags.DEFINE_integer("replays", 200, "replays per searcher")
flags.DEFINE_integer("max_trials", 240, "trials per replay at most")
flags.DEFINE_integer("max_full_trials", 40, "epochs per replay at most, in "
                     "full trainings (x the table's epochs)")
flags.DEFINE_float("top", 0.05, "the budget table's target: a graph in the "
                   "top fraction of the table")
flags.DEFINE_integer("replay_seed", 0, "seed of the replayed searchers' draws")
flags.DEFINE_bool("replot", False, "redraw the outputs from --workdir's "
                  "traces.jsonl instead of replaying")

GATES = ("through", "cutoff", "linear", "correct")
EDGES = ("gate_label_0", "gate_label_1", "gate_1_0", "gate_0_1")


# --- the synthetic table (demo only) ------------------------------------------

def synthetic_records(seed: int = 0, epochs: int = 30, seeds=(0, 1)
                      ) -> list[dict]:
  """240 made-up graphs in the table's record format: every assignment of
  the 4 gates to the 4 edges whose target has an incoming edge.

  Final target accuracy = 0.55 + an invented effect per (edge, gate) + a
  per-graph random effect (sd 0.006) + per-seed noise (sd 0.004); curves
  rise as ``1 - exp(-e / tau)``, slower (tau 10) when the label -> target
  edge is Linear (its weight grows during training) or Cutoff (the target
  learns only from the other node), plus per-epoch noise (sd 0.003), so an
  early ASHA rung can mislead. Invented numbers: a demo, not KTG.
  """
  rng = np.random.default_rng(seed)
  effect = {"gate_label_0": {"through": .02, "cutoff": -.08, "linear": .025,
                             "correct": .015},
            "gate_label_1": {"through": .01, "cutoff": .012, "linear": .005,
                             "correct": .008},
            "gate_1_0": {"through": .01, "cutoff": 0., "linear": .015,
                         "correct": .02},
            "gate_0_1": {"through": .005, "cutoff": 0., "linear": .004,
                         "correct": .006}}
  out, index = [], 0
  for gates in itertools.product(GATES, repeat=4):
    point = dict(zip(EDGES, gates))
    if point["gate_label_0"] == point["gate_1_0"] == "cutoff":
      continue  # the target never learns: not a graph of the table
    final = 0.55 + sum(effect[k][v] for k, v in point.items())
    final += rng.normal(0, 0.006)
    slow = point["gate_label_0"] in ("linear", "cutoff")
    tau = 10.0 if slow else 3.0 + rng.uniform(0, 2)
    e = np.arange(1, epochs + 1)
    shape = (1 - np.exp(-e / tau)) / (1 - np.exp(-epochs / tau))
    for s in seeds:
      f = final + rng.normal(0, 0.004)
      target = f * shape + np.r_[rng.normal(0, 0.003, epochs - 1), 0.0]
      aux = 0.5 * shape + rng.normal(0, 0.003, epochs)
      out.append({"index": index, "seed": int(s), "point": point,
                  "score": float(target[-1]),
                  "curve": np.stack([target, aux], 1).round(6).tolist(),
                  "train_acc": 0.99, "wall_s": 60.0, "epochs": epochs})
    index += 1
  for r in out:  # the score is the curve's last (rounded) value
    r["score"] = r["curve"][-1][0]
  return out


# --- outputs ---------------------------------------------------------------------

def plot(table: rp.Table, traces: dict, path: str, title: str,
         synthetic: bool = False) -> str:
  """Median and 25-75 % band of the regret (percentage points) vs trials and
  vs epochs spent; top row random-graph searchers, bottom row optimisers
  (with ``random`` again, black, as the reference)."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  rows = [[n for n in traces if rp.spec_of(n).proposer in ("random", "edf")],
          [n for n in traces if rp.spec_of(n).proposer not in ("random",
                                                                 "edf")]]
  if "random" in traces:
    rows[1] = ["random"] + rows[1]
  rows = [r for r in rows if r]
  fig = Figure(figsize=(11, 3.9 * len(rows) + 0.5))
  axes = np.asarray(fig.subplots(len(rows), 2, sharey=True, sharex="col",
                                 squeeze=False))
  grid = np.arange(1, FLAGS.max_full_trials * table.epochs + 1)
  n_ref = min(table.size, FLAGS.max_full_trials)
  closed = [100 * rp.random_regret(table.mean, k) for k in range(1, n_ref + 1)]
  for (ax_t, ax_e), names in zip(axes, rows):
    for i, name in enumerate(names):
      ts = traces[name]
      color = "k" if name == "random" and names is rows[-1] and len(
          rows) > 1 else f"C{i}"
      n = min(len(t.regret) for t in ts)
      for ax, xs, a in ((ax_t, np.arange(1, n + 1), rp.by_trial(ts, n)),
                        (ax_e, grid, rp.by_epoch(ts, grid))):
        med, lo, hi = rp.band(100 * a)
        ax.plot(xs, med, label=name, color=color)
        ax.fill_between(xs, lo, hi, color=color, alpha=0.1, lw=0)
    ax_t.plot(np.arange(1, n_ref + 1), closed, "k:", lw=2,
              label="random judged by table means (closed form)")
    ax_t.set_ylim(0, 1.3 * closed[min(2, n_ref - 1)])
    ax_t.set_ylabel("simple regret (validation acc., pp)")
    ax_t.legend(handles=ax_t.get_legend_handles_labels()[0][-1:], fontsize=7,
                loc="upper right")
    ax_e.legend(fontsize=7, loc="upper right")
    for ax in (ax_t, ax_e):
      ax.set_xscale("log")
      ax.grid(alpha=0.3)
      if synthetic:
        ax.text(0.5, 0.5, "SYNTHETIC", transform=ax.transAxes, fontsize=34,
                color="0.88", ha="center", va="center", zorder=0)
  axes[-1, 0].set_xlabel("trials")
  axes[-1, 1].set_xlabel("epochs spent")
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  return path


def budget_rows(table: rp.Table, traces: dict) -> dict:
  rows = {}
  for name, ts in traces.items():
    b = rp.budget_summary(table, ts, FLAGS.top)
    b["final_regret"] = float(np.median([t.regret[-1] for t in ts]))
    b["trials_run"] = float(np.median([len(t.rows) for t in ts]))
    b["epochs_run"] = float(np.median([t.epochs.sum() for t in ts]))
    rows[name] = b
  return rows


def budget_markdown(rows: dict, top: float) -> str:
  fmt = lambda v: "> budget" if v == float("inf") else f"{v:g}"
  lines = [f"| searcher | trials to a top-{100 * top:g} % graph | epochs to "
           "it | replays that got there | final regret (median) | trials / "
           "epochs run (median) |", "|---|---|---|---|---|---|"]
  for name, b in sorted(rows.items(), key=lambda kv: (kv[1]["epochs"],
                                                        kv[0])):
    lines.append(f"| {name} | {fmt(b['trials'])} | {fmt(b['epochs'])} | "
                 f"{100 * b['reached']:.0f} % | {100 * b['final_regret']:.2f} "
                 f"pp | {b['trials_run']:g} / {b['epochs_run']:g} |")
  return "\n".join(lines) + "\n"


def main(argv):
  common.check_command_line(argv, workdir=FLAGS.workdir)
  if bool(FLAGS.table) == FLAGS.synthetic:
    raise app.UsageError("give one of --table=PATH or --synthetic")
  out = FLAGS.workdir
  os.makedirs(out, exist_ok=True)
  path = FLAGS.table
  if FLAGS.synthetic:
    path = os.path.join(out, "synthetic_table.jsonl")
    with open(path, "w") as f:
      f.write("".join(json.dumps(r) + "\n" for r in synthetic_records()))
  table = rp.load(path)
  print(f"[replay] table {path}: {table.size} graphs, {table.epochs} epochs, "
        f"seeds per graph {sorted({len(c) for c in table.curves})}, best mean "
        f"{table.best:.4f}, top-{100 * FLAGS.top:g} %: "
        f"{len(rp.top(table, FLAGS.top))} graphs", flush=True)
  max_epochs = FLAGS.max_full_trials * table.epochs
  traces = {}
  if FLAGS.replot:
    traces = rp.read_traces(os.path.join(out, "traces.jsonl"), table)
  for name in [] if FLAGS.replot else FLAGS.searchers:
    if not rp.available(name):
      print(f"[replay] {name}: skipped (its package is not installed)")
      continue
    start = time.time()
    traces[name] = rp.replays(table, name, FLAGS.replays, FLAGS.replay_seed,
                              FLAGS.max_trials, max_epochs)
    print(f"[replay] {name}: {FLAGS.replays} replays in "
          f"{time.time() - start:.1f} s", flush=True)
  if not FLAGS.replot:
    rp.write_traces(os.path.join(out, "traces.jsonl"), traces)
  rows = budget_rows(table, traces)
  with open(os.path.join(out, "budget.json"), "w") as f:
    json.dump(rows, f, indent=1)
  text = budget_markdown(rows, FLAGS.top)
  with open(os.path.join(out, "budget.md"), "w") as f:
    f.write(text)
  print(text)
  kind = "SYNTHETIC table (invented numbers, a demo)" if FLAGS.synthetic \
      else f"table {os.path.basename(path)}"
  print(plot(table, traces, os.path.join(out, "regret.png"),
             f"{kind}: {table.size} graphs; {FLAGS.replays} replays each, "
             "median and 25-75 %", FLAGS.synthetic))


if __name__ == "__main__":
  common.run(main)
