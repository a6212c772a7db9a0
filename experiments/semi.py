r"""Semi-supervised baselines and a searched KTG graph, same script, same budget.

  python experiments/semi.py --config=experiments/configs/semi_fashion.py \
      --per_class=10,40 --seeds=0,1,2 --workdir=runs/semi

For every labels-per-class setting: (1) with ``ktg`` among --methods, the
graph ``experiments/search.py`` found for it (--search: its best_graph.json;
Ray Tune + Nevergrad + ASHA on the *validation* split, test sealed, the
target set to the better node when the space scores "best"); (2) every method (supervised, pi_model, mean_teacher, pseudo_label,
fixmatch: the ktg_jax.classic builders; ktg: the searched graph) trained with
``training.fit`` for each seed — by default the seeds as one population
on the labelled draw of seed 0 (--nopopulation: a draw per seed) — evaluated
once on test, after the last iteration (``FINAL_RUN``: no test evaluation
before it). Each finished run is a line of results.jsonl (a
rerun skips it); results.md holds the table: test accuracy mean +- sample std
(ddof 1, ``ktg_jax.stats``; README's table before 2026-12-03 used ddof 0).
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from absl import flags


# pylint: disable=wrong-import-position
from ktg_jax.cli import common  # the scripts' command line
from ktg_jax import classic
from ktg_jax.core import gates
from ktg_jax import stats
from ktg_jax.run import training
from ktg_jax import data as data_lib
from ktg_jax.core import GraphSpec

_CONFIG = common.define_config("semi_fashion.py", "semi-supervised protocol")
_METHODS = flags.DEFINE_list(
    "methods", "supervised,pi_model,mean_teacher,pseudo_label,fixmatch,ktg",
    "methods to train")
_PER_CLASS = flags.DEFINE_list("per_class", None, "labels per class "
                               "(default: --config.labels_per_class)")
_SEEDS = flags.DEFINE_list("seeds", "0,1,2", "seeds (labelled draw and init)")
_OUT = flags.DEFINE_string("workdir", "runs/semi", "results folder")
flags.DEFINE_alias("output_dir", "workdir")  # the old name
_SEARCH = flags.DEFINE_string(
    "search", "runs/semi_search/n{n}/best_graph.json", "the searched KTG "
    "graph per labels-per-class setting ({n}): experiments/search.py's "
    "best_graph.json")
_POPULATION = flags.DEFINE_boolean(
    "population", True, "train the seeds of a method as one population "
    "(fit(..., seeds=...): one labelled draw, seed 0; the seeds vary init and "
    "data order); --nopopulation: one run per seed, each its own draw")

def _ramp_gate(c):
  """Pi-model's and Mean Teacher's gate: USB's warm-up Ramp(unsup_warmup)
  when the config sets one, else Positive Linear over the whole run (the old
  protocol)."""
  ramp = c.get("unsup_warmup")
  return gates.Ramp(ramp) if ramp else gates.Linear()


def _pl_gate(c):
  """Pseudo-Label's gate: Threshold(pseudo_label_tau) when the config sets
  one (USB's p_cutoff 0.95: un-thresholded weight-1 pseudo-labels from step 0
  collapse), times USB's warm-up when ``unsup_warmup`` is set
  (ThresholdRamp); else the Positive Linear ramp of the old protocol."""
  tau, ramp = c.get("pseudo_label_tau"), c.get("unsup_warmup")
  if tau and ramp:
    return gates.ThresholdRamp(tau, ramp)
  return gates.Threshold(tau) if tau else _ramp_gate(c)


# method -> (model, config) -> GraphSpec (the classic builders, docs/papers.md §1).
# Pi-model takes config.pi_weight when set (USB: Pi 10, Mean Teacher 50),
# else the shared consistency_weight.
BASELINES = {
    "supervised": lambda m, c: classic.vanilla(m),
    "pi_model": lambda m, c: classic.pi_model(
        m, c.get("pi_weight") or c.consistency_weight, _ramp_gate(c)),
    "mean_teacher": lambda m, c: classic.mean_teacher(
        m, c.consistency_weight, c.ema_decay, _ramp_gate(c),
        bn=c.get("ema_bn", "batch")),
    "pseudo_label": lambda m, c: classic.pseudo_label(
        m, c.pseudo_label_weight, _pl_gate(c)),
    "fixmatch": lambda m, c: classic.fixmatch(m, c.tau,
                                              c.pseudo_label_weight),
}
# A final run's evaluation: the test split, read once after the last
# iteration (nothing is chosen on it; the regime was chosen on validation).
FINAL_RUN = {"eval_split": "test", "eval_every_epochs": 0, "verbose": False}
# Methods that report an EMA model when config.ema_eval (FixMatch does).
EMA_EVAL = ("fixmatch",)


def method_config(cfg, method, **fields):
  """The run config of ``method``: ``fields`` set, and its own unlabelled
  ratio when ``config.unlabeled_ratio_by_method`` names it (USB trains Pi /
  Mean Teacher / Pseudo-Label at uratio 1, FixMatch at 7)."""
  run_cfg = cfg.copy_and_resolve_references()
  run_cfg.update(**fields)
  mu = dict(cfg.get("unlabeled_ratio_by_method") or {}).get(method)
  if mu is not None:
    run_cfg.unlabeled_ratio = mu
  return run_cfg


def load(cfg, per_class: int, seed: int):
  """The labelled draw ``seed`` of ``per_class`` labels a class (split 0)."""
  return data_lib.from_config(dict(cfg.items(), labels_per_class=per_class),
                              labels_seed=seed)


def searched_graph(per_class: int) -> GraphSpec:
  """The KTG graph found by ``experiments/search.py`` (Ray Tune + Nevergrad
  + ASHA on the validation split) for this labels-per-class setting."""
  path = _SEARCH.value.format(n=per_class)
  if not os.path.exists(path):
    raise app.UsageError(
        f"--search={_SEARCH.value!r}: no {path}; run experiments/search.py "
        f"--space=... --config.labels_per_class={per_class} first (see README)")
  return GraphSpec.load(path)


def spec_of(method, cfg, searched):
  if method == "ktg":
    return searched
  if method not in BASELINES:
    raise app.UsageError(f"--methods has {method!r}; allowed: "
                         f"{sorted(BASELINES) + ['ktg']}")
  spec = BASELINES[method](cfg.models, cfg)
  if cfg.ema_eval and method in EMA_EVAL:
    spec = classic.with_ema_target(spec, cfg.ema_decay,
                                   cfg.get("ema_bn", "batch"))
  return spec


def table(results, reference: str = "supervised") -> str:
  """Markdown: test accuracy (%) mean ± sample std (seeds) per method and
  labels-per-class setting, and the Welch p of each method's seeds against
  ``reference``'s of the same setting (ch.5's comparison)."""
  accs: dict[tuple[str, int], list[float]] = {}  # (method, per_class) -> %
  for r in results:
    accs.setdefault((r["method"], r["per_class"]), []).append(
        100 * r["test_accuracy"])
  settings = sorted({n for _, n in accs})
  methods = list(dict.fromkeys(m for m, _ in accs))
  lines = ["| method | " + " | ".join(f"{n}/class" for n in settings) + " |",
           "|---|" + "---|" * len(settings)]
  for m in methods:
    cells = []
    for n in settings:
      a, ref = accs.get((m, n)), accs.get((reference, n))
      if not a:
        cells.append("-")
        continue
      s = stats.summarize(a)
      cell = f"{stats.mean_std(s.mean, s.std)} ({s.n})"
      if m != reference and ref:
        cell += (f", p vs {reference} "
                 f"{stats.format_p(stats.welch_p(a, ref))}")
      cells.append(cell)
    lines.append(f"| {m} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def run_population(cfg, n, seeds, searched, results, done, path, out):
  """Each method's seeds as one population on the labelled draw of seed 0."""
  semi = load(cfg, n, 0)
  for method in _METHODS.value:
    if all((n, method, s) in done for s in seeds):
      continue
    run_cfg = method_config(cfg, method, **FINAL_RUN)
    t0 = time.time()
    r = training.fit(spec_of(method, cfg, searched), semi, run_cfg,
                     workdir=os.path.join(out, f"n{n}", method), seeds=seeds)
    sec = time.time() - t0
    for seed, m in zip(seeds, r.members):
      rec = {"per_class": n, "method": method, "seed": seed, "draw": 0,
             "test_accuracy": m.final_target_accuracy,
             "node_test_accuracy": m.history[-1]["accuracy"],
             "seconds": sec / len(seeds), "strategy": r.strategy}
      results.append(rec)
      with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
    s = stats.summarize([100 * m.final_target_accuracy for m in r.members])
    print(f"n={n} {method:13s} test {stats.mean_std(s.mean, s.std, sep=' +- ')}"
          f" {[m.history[-1]['accuracy'] for m in r.members]} ({sec:.0f} s, "
          f"{len(seeds)} seeds, {r.strategy})", flush=True)


def main(argv):
  del argv
  cfg = _CONFIG.value
  out = _OUT.value
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, "results.jsonl")
  results = ([json.loads(l) for l in open(path)] if os.path.exists(path)
             else [])
  done = {(r["per_class"], r["method"], r["seed"]) for r in results}
  start = time.time()
  for n in [int(x) for x in (_PER_CLASS.value or [cfg.labels_per_class])]:
    searched = searched_graph(n) if "ktg" in _METHODS.value else None
    seeds = [int(s) for s in _SEEDS.value]
    if _POPULATION.value:
      run_population(cfg, n, seeds, searched, results, done, path, out)
      continue
    for seed in seeds:
      semi = load(cfg, n, seed)
      for method in _METHODS.value:
        if (n, method, seed) in done:
          continue
        run_cfg = method_config(cfg, method, seed=seed, **FINAL_RUN)
        t0 = time.time()
        r = training.fit(spec_of(method, cfg, searched), semi, run_cfg,
                         workdir=os.path.join(out, f"n{n}", method,
                                              f"seed{seed}"))
        rec = {"per_class": n, "method": method, "seed": seed,
               "test_accuracy": r.final_target_accuracy,
               "node_test_accuracy": r.history[-1]["accuracy"],
               "seconds": time.time() - t0}
        results.append(rec)
        with open(path, "a") as f:
          f.write(json.dumps(rec) + "\n")
        print(f"n={n} seed={seed} {method:13s} test {rec['test_accuracy']:.4f}"
              f"  ({rec['seconds']:.0f} s)", flush=True)
  md = table(results)
  with open(os.path.join(out, "results.md"), "w") as f:
    f.write(md + "\n")
  print(md)
  print(f"wall time of this invocation: {time.time() - start:.0f} s")


if __name__ == "__main__":
  common.run(main)
