r"""Self-supervised pilot on the *validation* split: does a learner learn?
(issue 26, item 1; docs/ssl_regime.md)

  nice -n 10 python experiments/ssl_pilot.py \
      --config=experiments/configs/ssl_regime.py --runs=baselines,simclr \
      --workdir=runs/ssl_pilot \
      --results=benchmarks/results/ssl_pilot/pilot.jsonl

A run is a named set of overrides of the regime config (``PILOTS``; the key
``learner`` is the ssl node's learner string, ``pair`` makes it two such
nodes trained mutually with that edge loss (dogo / disco), ``views`` both
views' kind, every other key a config field). Each trains ``classic.ssl(model, learner)``
with the library's ``training.fit`` (``eval_split`` forced to "val": the
test split is never read) and scores the trained node with
``node_knn.knn_node_accuracy`` under several KNN protocols (``PROTOCOLS``:
k / T / which output; bank = the un-augmented training split, queries = the
validation split). ``baselines`` scores raw pixels (plain and centred on the
training mean) and untrained networks (seeds 0-2) with the same protocols.

Resumable: every finished run appends one JSON line to ``--results`` and is
skipped on a restart; a run killed mid-way resumes from its checkpoint
(``config.resume=True``, folder ``--workdir/<run>``). ``--table`` prints the
markdown table of the results file, ``--plot=<png>`` its runs' KNN curves.

``--split=test`` (000's rows, issue 26 item 2): the same runs, the test split
read once, after the last epoch, as the queries (bank: the training split);
records carry ``"split": "test"`` and resume separately from the pilot's
(give them their own ``--results``). With ``--split=val`` the test split is
sealed.

``--runs=searched --graph=<best_graph.json>``: the graph a search found
(``experiments/search.py --space=ssl000``), under the same regime, seeds and
scoring as the other rows; its record carries the graph.
"""

from __future__ import annotations

import json
import os
import time
from typing import Sequence

from absl import flags
import jax
import numpy as np

from ktg_jax.cli import common  # the scripts' command line
import ktg_jax as ktg
from ktg_jax import checkpoint, classic, data as data_lib, stats
from ktg_jax.core import step
from ktg_jax.metrics import knn, node_knn
from ktg_jax.run import training

_CONFIG = common.define_config("ssl_regime.py", "the regime's base config")
_RUNS = flags.DEFINE_list("runs", ["baselines"], "names of PILOTS, "
                          "'baselines' or 'untrained_<model>', in order")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/ssl_pilot",
                               "run folders (checkpoints), outside the repo")
_RESULTS = flags.DEFINE_string(
    "results", "benchmarks/results/ssl_pilot/pilot.jsonl",
    "one JSON line per finished run")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "seeds of every trained run "
                           "(config.seed: init and data order)")
_GRAPH = flags.DEFINE_string(
    "graph", None, "a GraphSpec JSON (experiments/search.py's "
    "best_graph.json), trained and scored as the run 'searched'")
_EXPORT = flags.DEFINE_boolean(
    "export_variables", False, "only write the final node variables "
    "(<run folder>/variables/node<i>, what ssl_features.py reads) of the "
    "finished --runs x --seeds from their last checkpoint: no training, no "
    "evaluation")
_TABLE = flags.DEFINE_boolean("table", False, "only print the table")
_VERSUS = flags.DEFINE_list(
    "versus", ["simclr"], "--table: the runs every seeded run's mean is "
    "Welch-tested against (000's baseline row; add e.g. the DML row for "
    "000's DML < KTG)")
_SPLIT = flags.DEFINE_enum(
    "split", "val", ["val", "test"], "the queries: validation (the pilot) or "
    "test (000's rows, issue 26 item 2: read once, after the last epoch)")
_PLOT = flags.DEFINE_string("plot", None, "only draw the validation KNN "
                            "curves of --results' (and --plot_with's) runs "
                            "into this PNG")
_PLOT_WITH = flags.DEFINE_list("plot_with", [], "more results files whose "
                               "runs --plot draws beside --results' (e.g. "
                               "SimCLR's pilot beside the DML pilots)")
_PLOT_RUNS = flags.DEFINE_list("plot_runs", None, "the runs --plot draws "
                               "(default: every trained run)")

# name -> (k, T, output): the KNN protocols every run is scored with.
PROTOCOLS = {
    "k20_T0.07": (20, 0.07, "features"),     # DINO's eval_knn (the project's)
    "k200_T0.1": (200, 0.1, "features"),     # InstDisc / solo-learn monitors
    "k20_T0.07_proj": (20, 0.07, "projection"),  # the projector's output
}
MAIN = "k20_T0.07"

_PROJECT = dict(learner="simclr", learning_rate=0.05, lr_schedule="cosine",
                weight_decay=5e-4, batch_size=128, views="ssl")
# name -> overrides of the regime config (experiments/configs/ssl_regime.py).
PILOTS: dict[str, dict] = {
    "simclr": {},
    # the project's former settings (experiments/configs/ssl_fashion.py) at
    # the regime's length in steps
    "simclr_project": dict(_PROJECT, epochs=16),
    # (the first "simclr" run, before the config carried its learner, was
    # this one; its JSON line is renamed "simclr_T0.5")
    "simclr_T0.5": dict(learner="simclr:temperature=0.5"),
    "simclr_T0.1": dict(learner="simclr:temperature=0.1"),
    "simclr_crop0.08": dict(views="ssl:min_scale=0.08"),
    "simclr_crop0.4": dict(views="ssl:min_scale=0.4"),
    "simclr_noflip": dict(views="ssl:min_scale=0.2,flip_prob=0"),
    "simclr_nojitter": dict(views="ssl:min_scale=0.2,jitter_prob=0"),
    "simclr_blur": dict(views="ssl:min_scale=0.2,blur_prob=0.5"),
    "simclr_lr0.05": dict(learning_rate=0.05),
    "simclr_lr1.0": dict(learning_rate=1.0),
    "simclr_nowarmup": dict(lr_schedule="cosine"),
    "simclr_wd5e-4": dict(weight_decay=5e-4),
    "simclr_wd1e-5": dict(weight_decay=1e-5),
    "simclr_b128": dict(batch_size=128, epochs=16),
    "simclr_proj2048": dict(learner="simclr:temperature=0.2,hidden_dim=2048,"
                            "proj_dim=256"),
    "simclr_x2": dict(epochs=64),
    "simclr_resnet8": dict(models="resnet8"),
    "simclr_w32": dict(models="small_cnn_w32"),
    "simclr_w64": dict(models="small_cnn_w64"),
    "simclr_w32_x2": dict(models="small_cnn_w32", epochs=64),
    # 000 Table 2's DML: two SimCLR nodes (the regime's learner), own terms
    # and both node edges Through, DoGo's or DisCo's loss; node 0 scored
    "dml_simclr_dogo": dict(pair="dogo"),
    "dml_simclr_disco": dict(pair="disco"),
    # the DoGo term at the KTG PyTorch code's later scale (x T^2 = x 0.01):
    # does the DML row lose to SimCLR because of the term's size?
    "dml_simclr_dogo_t2": dict(pair="dogo_t2"),
    # ... and DisCo at its code's scale (a mean over the embedding, / 128)
    "dml_simclr_disco_mean": dict(pair="disco_mean"),
    # 000 Table 2's KTG pair (SimCLR target, Barlow Twins aux: 66.80 vs
    # DML's 64.24), gates Through (000 does not give its searched gates),
    # DoGo x T^2 both ways; Barlow at solo-learn's loss scale (the graph
    # shares SimCLR's optimiser, so not its own lr)
    "pair_simclr_barlow_dogo_t2": dict(
        pair="dogo_t2", aux_learner="barlow_twins:scale_loss=0.1"),
    "simsiam": dict(learner="simsiam"),
    "moco": dict(learner="moco"),
    "byol": dict(learner="byol"),
    "barlow_twins": dict(learner="barlow_twins"),
    "swav": dict(learner="swav"),
    "dino": dict(learner="dino"),
    # the four learners that did not clear the untrained network with
    # SimCLR's optimiser (docs/ssl_regime.md), nearer their references:
    # Barlow Twins' loss is a sum over D dims; solo-learn scales it by 0.1
    # (``scale_loss``), which under SGD (not LARS) is a 10x lower lr
    "barlow_twins_lr0.03": dict(learner="barlow_twins", learning_rate=0.03),
    # the same through the loss (solo-learn's scale_loss 0.1) at the regime's
    # lr: what a Barlow node sharing a graph's optimiser can use
    "barlow_twins_scale0.1": dict(learner="barlow_twins:scale_loss=0.1"),
    # SimSiam §4: SGD lr 0.05 x B/256 (B = 256 here)
    "simsiam_lr0.05": dict(learner="simsiam", learning_rate=0.05),
    # solo-learn's CIFAR BYOL / DINO: target momentum from 0.99 (the papers'
    # 0.996 is for ~10^5 steps; here 992)
    "byol_tau0.99": dict(learner="byol:momentum=0.99"),
    "dino_tau0.99": dict(learner="dino:momentum=0.99"),
    # SimSiam lost 3.4 points at lr 0.05: its and BYOL's cosine losses have
    # small gradients under SGD (solo-learn: LARS, BYOL lr 1.0, SimSiam 0.5)
    "byol_lr1.0": dict(learner="byol", learning_rate=1.0),
    "simsiam_lr1.0": dict(learner="simsiam", learning_rate=1.0),
    "byol_x2": dict(learner="byol", epochs=64),
    "simsiam_x2": dict(learner="simsiam", epochs=64),
    "dino_x2": dict(learner="dino", epochs=64),
    "barlow_twins_x2": dict(learner="barlow_twins", epochs=64),
}


GRAPH_KEYS = ("learner", "pair", "aux_learner")  # shape the graph
SEARCHED = "searched"  # the run of --graph's graph


def run_config(base, overrides: dict, split: str = "val"):
  """(config, learner string) of a pilot: ``base`` (a ConfigDict, copied)
  with ``overrides`` applied; ``views`` sets views a and b. ``split="val"``
  evaluates the validation split (the test split is never read); "test"
  evaluates the test split once, after the last epoch."""
  config = base.copy_and_resolve_references()
  learner = overrides.get("learner", base.get("learner") or "simclr")
  for key, value in overrides.items():
    if key in GRAPH_KEYS:
      continue
    if key == "views":
      config.views.a = config.views.b = value
    elif key not in config:
      raise ValueError(f"pilot override {key!r}; allowed: "
                       f"{[*GRAPH_KEYS, 'views']} or a config field")
    else:
      config[key] = value
  config.eval_split = split
  if split == "test":
    config.eval_every_epochs = 0   # once, after the last epoch
  config.resume = True
  return config, learner


def pilot_graph(model: str, learner: str, overrides: dict):
  """The graph of a pilot: one ssl node (``classic.ssl``), or with ``pair``
  (an edge loss, "dogo" or "disco") two such nodes trained mutually
  (``classic.ssl_dml``, 000 Table 2's DML; both edges Through); node 0 is
  the target, node 1 runs ``aux_learner`` when given (else ``learner``)."""
  if "pair" not in overrides:
    return classic.ssl(model, learner)
  aux = overrides.get("aux_learner", learner)
  return classic.ssl_dml((model, model), (learner, aux), overrides["pair"])


def raw_pixel_knn(data, protocols=PROTOCOLS, split: str = "val") -> dict:
  """KNN accuracy (%) of raw pixels, plain and centred on the training
  split's mean image, per protocol (the output is ignored); queries: the
  ``split`` split."""
  flat = lambda s: s.images.reshape(len(s.labels), -1).astype(np.float32)
  queries = getattr(data, split)
  bank, query = flat(data.train), flat(queries)
  mean = bank.mean(0)
  out = {}
  for tag, shift in (("raw_pixels", 0.0), ("raw_pixels_centred", mean)):
    out[tag] = {name: 100 * knn.knn_accuracy(
        bank - shift, data.train.labels, query - shift, queries.labels,
        data.num_classes, k=min(k, len(bank)), temperature=t)
                for name, (k, t, _) in protocols.items()
                if name.count("_") == 1}  # pixels have no projection
  return out


def node_scores(module, variables, data, protocols=PROTOCOLS,
                batch_size: int = 1000, split: str = "val") -> dict:
  """KNN accuracy (%) of one node's outputs on the ``split`` queries (bank:
  the un-augmented training split), per protocol."""
  out, feats = {}, {}
  queries = getattr(data, split)
  for name, (k, t, output) in protocols.items():
    if output not in feats:
      feats[output] = tuple(node_knn.features(module, variables, s.images,
                                              batch_size, output)
                            for s in (data.train, queries))
    fb, fq = feats[output]
    out[name] = 100 * knn.knn_accuracy(fb, data.train.labels, fq,
                                       queries.labels, data.num_classes,
                                       k=min(k, len(fb)), temperature=t)
  return out


def done_runs(path: str, split: str = "val") -> set:
  """The (run, seed) pairs of ``split`` recorded in ``path`` (a record
  without a seed, the baselines', counts as seed 0)."""
  if not os.path.exists(path):
    return set()
  with open(path) as f:
    recs = [json.loads(line) for line in f if line.strip()]
  return {(r["run"], r.get("seed", 0)) for r in recs
          if r.get("split", "val") == split}


def append(path: str, record: dict) -> None:
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "a") as f:
    f.write(json.dumps(record) + "\n")


def _common(config, split: str = "val") -> dict:
  return {"split": split, "dataset": config.dataset, "limit": config.limit,
          "val_fraction": config.val_fraction,
          "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def untrained(model: str, data, seeds=(0, 1, 2), split: str = "val") -> dict:
  """The untrained ``classic.ssl(model)`` node per seed, and the seeds'
  mean, under every protocol (the ``untrained_<model>`` row)."""
  module = step.node_modules(classic.ssl(model), data.num_classes)[0]
  per_seed = [node_scores(module, module.init(
      jax.random.key(seed), data.train.images[:2], train=False), data,
                          split=split)
              for seed in seeds]
  return {"run": f"untrained_{model}", "model": model, "seeds": list(seeds),
          "knn_per_seed": per_seed,
          "knn": {p: float(np.mean([s[p] for s in per_seed]))
                  for p in PROTOCOLS}}


def baselines(config, data, models=None, split: str = "val") -> list[dict]:
  """Raw pixels (``models`` None) and untrained networks (seeds 0, 1, 2) of
  ``models`` (default config.models and resnet8), on ``split``."""
  t0, load0 = time.time(), os.getloadavg()
  recs = []
  if models is None:
    recs = [{"run": tag, "knn": scores} for tag, scores
            in raw_pixel_knn(data, split=split).items()]
    models = config.models.split(",") + ["resnet8"]
  recs += [untrained(model, data, split=split)
           for model in dict.fromkeys(models)]
  for r in recs:
    r.update(_common(config, split), seconds=time.time() - t0,
             loadavg_start=load0,
             loadavg_end=os.getloadavg())
  return recs


def _run(name: str, base, seed: int, split: str, graph):
  """(config, learner, overrides, spec) of a pilot run."""
  if name == SEARCHED and graph is None:
    raise ValueError(f"--runs={SEARCHED} needs --graph=<best_graph.json>")
  if name not in PILOTS and name != SEARCHED:
    raise ValueError(f"--runs: {name!r}; allowed: 'baselines', "
                     f"'untrained_<model>', '{SEARCHED}' (with --graph) or "
                     f"{sorted(PILOTS)}")
  overrides = PILOTS.get(name, {})
  config, learner = run_config(base, overrides, split)
  config.seed = seed
  spec = (graph if name == SEARCHED
          else pilot_graph(config.models, learner, overrides))
  return config, learner, overrides, spec


def run_folder(workdir: str, name: str, seed: int, split: str) -> str:
  return os.path.join(workdir, name if split == "val" else f"test_{name}",
                      f"seed{seed}")


def export_variables(name: str, base, data, workdir: str, seed: int = 0,
                     split: str = "val", graph=None) -> str:
  """Writes a finished run's final node variables into its folder
  (``training.fit`` on it with ``save_variables``: it restores the last
  checkpoint and trains nothing). A run that has not finished is refused."""
  config, _, _, spec = _run(name, base, seed, split, graph)
  folder = run_folder(workdir, name, seed, split)
  done = checkpoint.run_manager(os.path.join(folder, "checkpoints")).latest_step()
  if done != config.epochs:
    raise ValueError(f"{folder}: its last checkpoint is epoch {done}, not "
                     f"{config.epochs}: train it first (without "
                     "--export_variables)")
  config.save_variables, config.verbose = True, False
  training.fit(spec, data, config, workdir=folder)
  return os.path.join(folder, "variables")


def pilot(name: str, base, data, workdir: str, seed: int = 0,
          split: str = "val", graph=None) -> dict:
  """Trains and scores one pilot run (``PILOTS[name]``, or ``graph`` as the
  run ``SEARCHED``) with ``seed``, in its own folder
  ``<workdir>/<name>/seed<seed>`` (``test_<name>`` for the test split),
  scoring the target node (and, with several nodes, every node)."""
  config, learner, overrides, spec = _run(name, base, seed, split, graph)
  load0, t0 = os.getloadavg(), time.time()
  r = training.fit(spec, data, config,
                   workdir=run_folder(workdir, name, seed, split))
  sec = time.time() - t0
  modules = step.node_modules(spec, data.num_classes)
  per_node = [node_scores(m, step.node_variables(r.state, i), data,
                          split=split) for i, m in enumerate(modules)]
  scores = per_node[spec.target]
  steps = config.epochs * (len(data.train.labels) // config.batch_size)
  target = spec.nodes[spec.target]
  return {
      "run": name, "overrides": overrides,
      **({"graph": spec.to_json()} if name == SEARCHED else {}),
      "learner": target.learner or learner,
      "model": target.model, "views": config.views.a,
      "epochs": config.epochs, "batch_size": config.batch_size,
      "steps": steps, "learning_rate": config.learning_rate,
      "lr_schedule": config.lr_schedule,
      "weight_decay": config.weight_decay, "seed": config.seed,
      "knn": scores,
      **({"knn_per_node": per_node} if len(per_node) > 1 else {}),
      "curve": [{"epoch": h["epoch"], "knn": 100 * h["accuracy"][spec.target],
                 "train_loss": h["train_loss"][spec.target]}
                for h in r.history],
      "seconds_this_invocation": sec,
      "steps_per_sec_last": r.history[-1].get("steps_per_sec"),
      "loadavg_start": load0, "loadavg_end": os.getloadavg(),
      **_common(config, split)}


def table(path: str, split: str = "val",
          versus: Sequence[str] = ("simclr",)) -> str:
  """Markdown: per run the KNN (%) of ``split``'s queries under each
  protocol (records without a split are the validation pilot's), then each
  seeded run's mean over seeds and its Welch p against each of ``versus``
  (``seed_summary``)."""
  with open(path) as f:
    recs = [json.loads(line) for line in f if line.strip()]
  recs = [r for r in recs if r.get("split", "val") == split]
  head = ["run", "seed", "learner", "model", "views", "steps",
          "lr / schedule / wd",
          *PROTOCOLS, "wall (s)", "load 1-min start / end"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in recs:
    knn_ = r["knn"]
    cells = [r["run"], str(r.get("seed", "")), r.get("learner", ""),
             r.get("model", ""),
             r.get("views", ""), str(r.get("steps", "")),
             (f"{r['learning_rate']} / {r['lr_schedule']} / "
              f"{r['weight_decay']}" if "learning_rate" in r else ""),
             *[f"{knn_[p]:.2f}" if p in knn_ else "" for p in PROTOCOLS],
             f"{r.get('seconds_this_invocation', r.get('seconds', 0)):.0f}",
             f"{r['loadavg_start'][0]:.1f} / {r['loadavg_end'][0]:.1f}"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join([f"KNN of the {split} queries (%)", ""] + lines +
                   seed_summary(recs, versus))


def seed_summary(recs, versus: Sequence[str] = ("simclr",)) -> list[str]:
  """Lines ``run: mean ± std over n seeds (per seed)`` of the headline KNN,
  for every trained run recorded with more than one seed (std ddof 1), and
  the Welch p of its mean against each run of ``versus`` that has seeds
  (000's baseline row by default)."""
  by_run: dict[str, dict[int, float]] = {}
  for r in recs:
    if "seed" in r:
      by_run.setdefault(r["run"], {})[r["seed"]] = r["knn"][MAIN]
  values = {run: [per_seed[s] for s in sorted(per_seed)]
            for run, per_seed in by_run.items() if len(per_seed) > 1}
  out = []
  for run, v in values.items():
    line = (f"\n{run}: {np.mean(v):.2f} ± {np.std(v, ddof=1):.2f} over "
            f"seeds {sorted(by_run[run])} ({' / '.join(f'{x:.2f}' for x in v)})")
    for reference in versus:
      if run != reference and reference in values:
        line += (f"; Welch p vs {reference} "
                 f"{stats.format_p(stats.welch_p(v, values[reference]))}")
    out.append(line)
  return out


def line_looks(records) -> list[tuple[str, str]]:
  """(colour, line style) of each record's curve: colour = learner, style =
  the run among its learner's; runs of one learner (SimCLR alone vs DML
  pairs) get a colour each.

  >>> line_looks([{"run": "simclr", "learner": "simclr"},
  ...             {"run": "simclr_t0.5", "learner": "simclr:temperature=0.5"},
  ...             {"run": "swav", "learner": "swav"}])
  [('C0', '-'), ('C0', '--'), ('C1', '-')]
  >>> line_looks([{"run": "simclr", "learner": "simclr"},
  ...             {"run": "dml_simclr_dogo", "learner": "simclr"}])
  [('C0', '-'), ('C1', '-')]
  """
  learner = lambda r: r.get("learner", r["run"]).split(":")[0]
  one_learner = len({learner(r) for r in records}) == 1
  colours: dict[str, str] = {}
  styles: dict[str, str] = {}
  looks = []
  for r in records:
    method = r["run"] if one_learner else learner(r)
    c = colours.setdefault(method, f"C{len(colours) % 10}")
    mine = sum(1 for run in styles if run.startswith(method + "/"))
    ls = styles.setdefault(f"{method}/{r['run']}",
                           ("-", "--", "-.", ":")[mine % 4])
    looks.append((c, ls))
  return looks


def plot(paths: list[str], out: str, runs=None) -> str:
  """Validation KNN (%, headline protocol) against epochs, one line per
  (run, seed) of the trained runs in the results files ``paths`` (``runs``:
  only these; colours and line styles: ``line_looks``), the untrained
  networks of their models and centred raw pixels as levels."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  recs = []
  for path in paths:
    with open(path) as f:
      recs += [json.loads(line) for line in f if line.strip()]
  trained = [r for r in recs if "curve" in r and (runs is None
                                                  or r["run"] in runs)]
  if not trained:
    raise ValueError(f"{', '.join(paths)} hold no trained run"
                     + (f" of {list(runs)}" if runs else ""))
  fig, ax = plt.subplots(figsize=(8, 5))
  for r, (c, ls) in zip(trained, line_looks(trained)):
    evaluated = [h for h in r["curve"] if np.isfinite(h["knn"])]  # eval epochs
    ax.plot([h["epoch"] for h in evaluated], [h["knn"] for h in evaluated],
            color=c, ls=ls, lw=1.2, marker=".",
            label=f"{r['run']} seed {r.get('seed', 0)}: {r['knn'][MAIN]:.2f}")
  levels = {"raw_pixels_centred"} | {f"untrained_{r['model']}" for r in trained
                                     if "model" in r}
  for r in recs:
    if r["run"] in levels:
      ax.axhline(r["knn"][MAIN], color="k", lw=0.8,
                 ls="--" if r["run"].startswith("untrained_") else ":",
                 label=f"{r['run']}: {r['knn'][MAIN]:.2f}")
  ax.set_xlabel("epoch")
  ax.set_ylabel(f"validation KNN accuracy (%), {MAIN}")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out


def runs_to_do(runs, seeds, done: set) -> list[tuple[str, int]]:
  """(run, seed) in order, every trained run once per seed, baselines once
  (their untrained networks have their own seeds), minus ``done``.

  >>> runs_to_do(["baselines", "simclr"], [0, 1], {("simclr", 0)})
  [('baselines', 0), ('simclr', 1)]
  """
  todo = []
  for name in runs:
    key = "raw_pixels" if name == "baselines" else name
    fixed = name == "baselines" or name.startswith("untrained_")
    for seed in [0] if fixed else seeds:
      if (key, seed) not in done:
        todo.append((name, seed))
  return todo


def main(argv):
  common.check_command_line(argv)
  if _TABLE.value:
    print(table(_RESULTS.value, _SPLIT.value, _VERSUS.value))
    return
  if _PLOT.value:
    print("plot ->", plot([_RESULTS.value, *_PLOT_WITH.value], _PLOT.value,
                         _PLOT_RUNS.value))
    return
  base, split = _CONFIG.value, _SPLIT.value
  data = data_lib.from_config(base)  # validation held out of train
  if split == "val":
    data = data_lib.sealed(data)     # the pilot cannot read the test split
  print(f"bank {len(data.train.labels)}, {split} queries "
        f"{len(getattr(data, split).labels)}", flush=True)
  seeds = [int(s) for s in _SEEDS.value]
  graph = _GRAPH.value and ktg.GraphSpec.load(_GRAPH.value)
  if _EXPORT.value:
    for name in _RUNS.value:
      for seed in seeds:
        print(export_variables(name, base, data, _WORKDIR.value, seed, split,
                               graph), flush=True)
    return
  todo = runs_to_do(_RUNS.value, seeds, done_runs(_RESULTS.value, split))
  print(f"to run: {todo}", flush=True)
  for name, seed in todo:
    if name == "baselines":
      recs = baselines(base, data, split=split)
    elif name.startswith("untrained_"):
      recs = baselines(base, data, [name[len("untrained_"):]], split)
    else:
      recs = [pilot(name, base, data, _WORKDIR.value, seed, split, graph)]
    for rec in recs:
      append(_RESULTS.value, rec)
      print(f"{rec['run']}: {split} KNN {json.dumps(rec['knn'])} "
            f"({rec.get('seconds_this_invocation', rec.get('seconds')):.0f}"
            " s)", flush=True)


if __name__ == "__main__":
  common.run(main)
