r"""Semi-supervised pilot on the *validation* split: is the regime one where the
baselines work? (issue 25, item 1; docs/semi_regime.md)

  nice -n 10 python experiments/semi_pilot.py \
      --config=experiments/configs/semi_regime.py --methods=fixmatch \
      --per_class=10 --seeds=0,1 --workdir=runs/semi_pilot \
      --results=benchmarks/results/semi_pilot

One method at a time, its seeds trained as one population (init and data
order; one labelled draw, seed 0), evaluated on validation every
``config.eval_every`` iterations — the test split is never read
(``eval_split`` is forced to "val"). Runs are resumable: the library's
checkpoint after every evaluation (``config.resume=True``; rerun the same
command after a kill). Each finished (method, per_class, seed) writes one
small JSON ``<results>/<method>_n<per_class>_seed<seed>.json``: the final
validation accuracy of every node (FixMatch: student, then its EMA), the
validation curve, iterations, wall time and load.
"""

from __future__ import annotations

import json
import os
import time

from absl import flags
import numpy as np

# pylint: disable=wrong-import-position
from ktg_jax.cli import common  # the scripts' command line
import semi  # experiments/semi.py: its flags (--config, --methods, ...) and builders
import glob

from ktg_jax import stats
from ktg_jax.run import training

_RESULTS = flags.DEFINE_string(
    "results", "benchmarks/results/semi_pilot", "one JSON per finished run")
_TABLE = flags.DEFINE_boolean(
    "table", False, "only print the markdown table of the JSONs in --results")
_PLOT = flags.DEFINE_string(
    "plot", None, "only draw the validation curves of the JSONs in --results "
    "into this PNG (one panel per labels/class; a line per method, node and "
    "seed)")


def table(results_dir: str) -> str:
  """Markdown: per (method, per_class, node) the validation accuracy mean ±
  std (ddof 1, ``ktg_jax.stats``) over the seeds' JSONs, the seeds, the
  iterations, the wall time of the run (its seeds trained as one population)
  and the 1-minute load average at its start / end."""
  recs = [json.load(open(p)) for p in sorted(glob.glob(
      os.path.join(results_dir, "*.json")))]
  groups = {}
  for r in recs:
    for node, acc in r["val_accuracy"].items():
      groups.setdefault((r["per_class"], r["method"], node), []).append(
          (r, 100 * acc))
  lines = ["| labels/class | method | model | val accuracy (%) | seeds | "
           "iterations | μ | wall (s) | load start / end |",
           "|---|---|---|---|---|---|---|---|---|"]
  for (n, method, node), rows in sorted(groups.items()):
    s = stats.summarize([a for _, a in rows])
    r0 = rows[0][0]
    per_seed = " / ".join(f"{a:.2f}" for _, a in rows)
    lines.append(
        f"| {n} | {method} | {node} | {stats.mean_std(s.mean, s.std)} "
        f"({per_seed}) | {','.join(str(r['seed']) for r, _ in rows)} | "
        f"{r0['iterations']} | {r0['mu']} | "
        f"{r0['train_seconds_this_invocation']:.0f} | "
        f"{r0['loadavg_start'][0]:.1f} / {r0['loadavg_end'][0]:.1f} |")
  return "\n".join(lines)


METHOD_ORDER = ("fixmatch", "mean_teacher", "pi_model", "pseudo_label",
                "supervised")


def curve_panels(recs) -> dict:
  """``{(per_class, method): {node: [(iterations, accuracies %), ...]}}``:
  each run's validation curve per scored node (student, EMA), one entry a
  seed, panels in ``METHOD_ORDER``."""
  order = lambda k: (k[0], METHOD_ORDER.index(k[1])
                     if k[1] in METHOD_ORDER else len(METHOD_ORDER), k[1])
  panels = {}
  for r in sorted(recs, key=lambda r: r["seed"]):
    its = [h["iteration"] for h in r["val_curve"]]
    nodes = panels.setdefault((r["per_class"], r["method"]), {})
    for node in r["val_accuracy"]:
      nodes.setdefault(node, []).append(
          (its, [100 * h[node] if h.get(node) is not None else float("nan")
                 for h in r["val_curve"]]))
  return dict(sorted(panels.items(), key=lambda kv: order(kv[0])))


def plot(results_dir: str, path: str) -> str:
  """Validation accuracy against iterations (issue 25 asks for student vs
  EMA curves): a panel per method and labels-per-class setting, its
  student's and EMA's seeds in two colours, supervised training's seed mean
  dashed in every other panel for reference."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  recs = [json.load(open(p)) for p in sorted(glob.glob(
      os.path.join(results_dir, "*.json")))]
  if not recs:
    raise ValueError(f"--results={results_dir!r} holds no run JSON")
  panels = curve_panels(recs)
  ncols = min(3, len(panels))
  nrows = -(-len(panels) // ncols)
  fig, axes = plt.subplots(nrows, ncols, squeeze=False, sharey=True,
                           figsize=(4.2 * ncols, 3.3 * nrows))
  colours = {"student": "C0", "ema": "C1"}
  for ax, ((n, method), nodes) in zip(axes.flat, panels.items()):
    for node, curves in nodes.items():
      for k, (its, acc) in enumerate(curves):
        ax.plot(its, acc, color=colours.get(node, "C2"), lw=1, alpha=0.75,
                label=f"{node} ({len(curves)} seeds)" if k == 0 else None)
    sup = panels.get((n, "supervised"), {}).get("student", [])
    if sup and method != "supervised":
      its = sup[0][0]
      mean = np.nanmean([acc for _, acc in sup if len(acc) == len(its)],
                        axis=0)
      ax.plot(its, mean, "k--", lw=1, label=f"supervised, mean of {len(sup)}")
    ax.set_title(f"{method}, {n} labels/class", fontsize=9)
    ax.set_xlabel("iteration")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
  for ax in list(axes.flat)[len(panels):]:
    ax.set_visible(False)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def run_dir(workdir: str, per_class: int, method: str, seeds) -> str:
  """The folder a method's seed population trains in (checkpoints, metrics):
  one per population, so another ``--seeds`` is another run.

  >>> run_dir("runs", 10, "fixmatch", [1, 2])
  'runs/n10/fixmatch/seeds1-2'
  """
  return os.path.join(workdir, f"n{per_class}", method,
                      "seeds" + "-".join(str(s) for s in seeds))


def node_names(method: str, num_nodes: int) -> list[str]:
  if method in ("mean_teacher",) or (num_nodes == 2 and method in semi.EMA_EVAL):
    return ["student", "ema"]
  return ["student"][:num_nodes] + [f"node{i}" for i in range(1, num_nodes)]


def main(argv):
  common.check_command_line(argv)
  if _PLOT.value:
    print("plot ->", plot(_RESULTS.value, _PLOT.value))
    return
  if _TABLE.value:
    print(table(_RESULTS.value))
    return
  cfg = semi._CONFIG.value  # pylint: disable=protected-access
  seeds = [int(s) for s in semi._SEEDS.value]  # pylint: disable=protected-access
  out = semi._OUT.value  # pylint: disable=protected-access
  os.makedirs(_RESULTS.value, exist_ok=True)
  for n in [int(x) for x in (semi._PER_CLASS.value  # pylint: disable=protected-access
                             or [cfg.labels_per_class])]:
    semi_data = semi.load(cfg, n, 0)
    for method in semi._METHODS.value:  # pylint: disable=protected-access
      paths = [os.path.join(_RESULTS.value, f"{method}_n{n}_seed{s}.json")
               for s in seeds]
      if all(os.path.exists(p) for p in paths):
        print(f"n={n} {method}: done ({paths[0]} ...)", flush=True)
        continue
      run_cfg = semi.method_config(cfg, method, eval_split="val", resume=True,
                                   checkpoint_every=1)
      spec = semi.spec_of(method, cfg, None)
      load0 = os.getloadavg()
      t0 = time.time()
      r = training.fit(spec, semi_data, run_cfg,
                       workdir=run_dir(out, n, method, seeds), seeds=seeds)
      sec = time.time() - t0
      names = node_names(method, spec.num_nodes)
      for seed, m, path in zip(seeds, r.members, paths):
        rec = {
            "method": method, "per_class": n, "seed": seed, "draw": 0,
            "split": "val", "model": cfg.models,
            "iterations": cfg.epochs * cfg.eval_every,
            "batch_size": cfg.batch_size, "mu": run_cfg.unlabeled_ratio,
            "val_accuracy": dict(zip(names, m.history[-1]["accuracy"])),
            "val_curve": [{"iteration": h["epoch"] * cfg.eval_every,
                           **dict(zip(names, h["accuracy"]))}
                          for h in m.history],
            "train_seconds_this_invocation": sec,
            "population": len(seeds), "strategy": r.strategy,
            "steps_per_sec_last": m.history[-1]["steps_per_sec"],
            "loadavg_start": load0, "loadavg_end": os.getloadavg(),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "config": {k: cfg[k] for k in (
                "learning_rate", "lr_schedule", "weight_decay", "tau",
                "consistency_weight", "pseudo_label_weight", "ema_decay",
                "ema_bn", "eval_every", "epochs", "pi_weight",
                "pseudo_label_tau") if k in cfg},
        }
        with open(path, "w") as f:
          json.dump(rec, f, indent=1)
        print(f"n={n} {method} seed={seed} val {rec['val_accuracy']} "
              f"({sec:.0f} s)", flush=True)


if __name__ == "__main__":
  common.run(main)
