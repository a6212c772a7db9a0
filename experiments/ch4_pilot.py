r"""The ch.4 regime's pilot on the *validation* split (issue 27, items 1 and 3;
docs/ch4_regime.md).

  env PYTHONPATH=. JAX_PLATFORMS=cpu XLA_FLAGS=--xla_cpu_multi_thread_eigen=false \
    nice -n 10 python experiments/ch4_pilot.py \
      --config=experiments/configs/ch4_regime.py --rows=independent,dml \
      --seeds=0,1,2 --workdir=/tmp/ch4_pilot \
      --results=benchmarks/results/ch4_pilot
  python experiments/ch4_pilot.py --table --results=benchmarks/results/ch4_pilot

  # issue 27 item 2: the final runs, test split read once after epoch 40
  ... ch4_pilot.py --split=test --rows=independent,dml,searched \
      --graph=<search>/best_graph.json --seeds=0,1,2,3,4 \
      --workdir=/tmp/ch4_rows --results=benchmarks/results/ch4_rows
  python experiments/ch4_pilot.py --table --split=test \
      --results=benchmarks/results/ch4_rows

One ``training.fit`` per (row, seed), in order rows x seeds, each into its
own run folder under ``--workdir`` (the library's checkpoint every
``config.checkpoint_every`` epochs: a killed run resumes where it stopped).
Each finished run appends one JSON line to ``<workdir>/pilot.jsonl`` (copied
to ``<results>/pilot.jsonl``); a (row, members, seed) already there is
skipped, so rerunning the command resumes the pilot. The test split is
sealed (``data.sealed``): only validation numbers exist.

``--split=test`` (docs/ch4_rows.md): the same rows trained on the same 800
training pairs, evaluated once, on the test split, after the last epoch
(``eval_every_epochs = 0``, as experiments/compress.py); records go to
``rows.jsonl`` (keys ``test_<row>_m<M>_seed<s>``), never mixed with the
pilot's. ``--table --split=test`` prints each row against Independent and
DML (Welch p).

Rows (``ROWS``):
  independent        config.members x config.models on labels, ensemble node
  dml                the same with every member edge Through (KL)
  compress_ensemble  a student from the ensembled distribution of the frozen
                     Independent members of the same seed (Table 4.9)
  compress_each      ... from each teacher's distribution
  compress_each_pcgrad  ... + gradient aggregation (conflict counts)
  searched           the GraphSpec JSON of ``--graph`` (a ch4-space search's
                     best_graph.json; sized attention kinds registered)
"""

from __future__ import annotations

import json
import os
import shutil
import time

from absl import flags
from absl import logging
import jax
import numpy as np
import optax

from ktg_jax.cli import common  # the scripts' command line
from ktg_jax import classic
from ktg_jax import data as data_lib
from ktg_jax import stats
from ktg_jax.core import GraphSpec, Node, step
from ktg_jax.families.ensemble import attention_losses
from ktg_jax.run import scoring
from ktg_jax.run import training

_CONFIG = common.define_config("ch4_regime.py", "the regime")
_ROWS = flags.DEFINE_list("rows", ["independent", "dml"], "rows, in order")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "seeds of each row")
_WORKDIR = flags.DEFINE_string("workdir", None, "run folders and pilot.jsonl "
                               "(outside the repository)")
_RESULTS = flags.DEFINE_string("results", "benchmarks/results/ch4_pilot",
                               "where pilot.jsonl is copied after each run")
_TABLE = flags.DEFINE_boolean("table", False, "only print the markdown table "
                              "of <results>/pilot.jsonl (rows.jsonl with "
                              "--split=test; --results=a,b: of both)")
_SPLIT = flags.DEFINE_enum(
    "split", "val", ["val", "test"], "val: the pilot (selection); test: the "
    "final runs, the test split read once after the last epoch (rows.jsonl)")
_GRAPH = flags.DEFINE_string("graph", None, "the 'searched' row's GraphSpec "
                             "JSON (the search's best_graph.json)")
_SIZES = flags.DEFINE_boolean(
    "sizes", False, "only write <results>/std_vs_pairs.json: per ensemble "
    "row, the seed std of every node's accuracy predicted for validation "
    "sets of several sizes, from the runs' val_predictions.npz")

PREDICTIONS = "val_predictions.npz"  # in a run folder: argmax of every node
ENSEMBLE_ROWS = ("independent", "dml")
RESULTS_FILE = {"val": "pilot.jsonl", "test": "rows.jsonl"}
BASELINES = ("independent", "dml")  # the test table's Welch p references
BASELINE_NAMES = ("Independent", "DML")


def teacher_dir(workdir: str, members: int, seed: int) -> str:
  """The Independent run of ``seed`` whose members are the teachers."""
  return os.path.join(workdir, run_name("independent", members, seed))


def run_name(row: str, members: int, seed: int, split: str = "val") -> str:
  """``independent_m2_seed0`` (``test_independent_m2_seed0`` on the test
  split): a run folder's and a record's key."""
  name = f"{row}_m{members}_seed{seed}"
  return name if split == "val" else f"{split}_{name}"


def load_graph(path: str | None) -> GraphSpec:
  """The ``searched`` row's graph: a GraphSpec JSON whose attention kinds
  may be sized (``<stem>_crops2-3-4``, registered here first: such kinds
  exist in a process only once used)."""
  if not path:
    raise ValueError("--graph=<GraphSpec JSON> is required for the row "
                     "'searched' (the search's best_graph.json)")
  with open(path) as f:
    return GraphSpec.from_json(attention_losses.ensure_kinds(json.load(f)))


def members_of(spec: GraphSpec) -> int:
  """M: the target ensemble node's members (every node but it otherwise)."""
  target = spec.nodes[spec.target]
  return len(target.members) if target.kind == "ensemble" else len(spec.nodes)


def split_config(config, split: str):
  """The run's config: the pilot's evaluates validation every
  ``eval_every_epochs``; the test split is read once, after the last epoch
  (``eval_every_epochs = 0``)."""
  cfg = config.copy_and_resolve_references()
  cfg.eval_split = split
  if split == "test":
    cfg.eval_every_epochs = 0
  return cfg


def _compression(source, aggregate=None):
  def build(c, workdir, seed):
    t = teacher_dir(workdir, c.members, seed)
    paths = [os.path.join(t, "variables", f"node{i}")
             for i in range(c.members)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
      raise FileNotFoundError(f"teachers {missing}: run the 'independent' "
                              f"row of seed {seed} first")
    return classic.compression(c.models, [c.models] * c.members, paths,
                               source=source,
                               temperature=c.compress.temperature), aggregate
  return build


# name -> build(config, workdir, seed) -> (graph, config.aggregate)
ROWS = {
    "independent": lambda c, w, s: (classic.ensemble(c.members, c.models),
                                    None),
    "dml": lambda c, w, s: (classic.ensemble(c.members, c.models,
                                             mutual=True), None),
    "compress_ensemble": _compression("ensemble"),
    "compress_each": _compression("each"),
    "compress_each_pcgrad": _compression("each", "pcgrad"),
    "searched": lambda c, w, s: (load_graph(_GRAPH.value), None),
}


def done_keys(path: str) -> set:
  """The ``key`` of every record of a JSON-lines file (none if absent)."""
  if not os.path.exists(path):
    return set()
  with open(path) as f:
    return {json.loads(line)["key"] for line in f if line.strip()}


def record(row, seed, config, result, wall_s, cpu_s, load0, load1,
           split="val", members=None, eval_pairs=None) -> dict:
  """The JSON line of one finished run: numbers of ``split`` only (the
  test split: its one evaluation, after the last epoch)."""
  h = result.history
  last = h[-1]
  members = config.members if members is None else members
  rec = {
      "key": run_name(row, members, seed, split), "row": row, "seed": seed,
      "members": members, "model": config.models, "split": split,
      "train_pairs": config.limit - int(round(config.val_fraction
                                              * config.limit)),
      f"{split}_pairs": (int(round(config.val_fraction * config.limit))
                         if eval_pairs is None else eval_pairs),
      "epochs": len(h), "score": result.final_target_accuracy,
      f"{split}_accuracy": last["accuracy"],   # every node, last epoch
      f"{split}_curve": [[m["epoch"], m["accuracy"]] for m in h
                         if m["accuracy"][0] == m["accuracy"][0]],  # not NaN
      "train_accuracy_curve": [m["train_accuracy"] for m in h],
      "wall_s": wall_s, "cpu_s": cpu_s, "train_s": sum(m["seconds"] for m in h),
      "loadavg_start": load0, "loadavg_end": load1,
      "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
  }
  if "ensemble" in last:
    rec["ensemble"] = {k: v for k, v in last["ensemble"].items()
                       if k != "diversity_matrix" or split == "val"}
  if "conflicts" in last:
    rec["conflicts"] = [m["conflicts"] for m in h]
  return rec


def summarize(records) -> dict:
  """Per (row, members): per-seed values and ``stats.summarize`` (ddof 1) of
  the score, the members' mean, the gain and the diversity, in %."""
  out = {}
  for r in records:
    g = out.setdefault((r["row"], r["members"]), {"seeds": [], "score": [],
                                                  "members_mean": [],
                                                  "gain": [], "diversity": [],
                                                  "wall_s": [], "cpu_s": [],
                                                  "load": []})
    g["seeds"].append(r["seed"])
    g["score"].append(100 * r["score"])
    e = r.get("ensemble")
    if e:
      g["members_mean"].append(100 * e["mean_member_accuracy"])
      g["gain"].append(100 * e["gain"])
      g["diversity"].append(e["mean_diversity"])
    g["wall_s"].append(r["wall_s"])
    g["cpu_s"].append(r["cpu_s"])
    g["load"].append(r["loadavg_start"][0])
  return out


def ms(v, digits=2) -> str:
  """``mean ± std`` (ddof 1) of ``v`` for the tables; "—" when empty."""
  if not v:
    return "—"
  s = stats.summarize(v)
  return stats.mean_std(s.mean, s.std, f".{digits}f")


def welch_line(values, base) -> str:
  """``p`` of ``stats.welch_p`` (two-sided) and the difference of the means,
  for the test table; "—" against itself or no reference."""
  if base is None or values is base or len(values) < 2 or len(base) < 2:
    return "—"
  s, b = stats.summarize(values), stats.summarize(base)
  return f"{s.mean - b.mean:+.2f}, p = {stats.format_p(stats.welch_p(values, base))}"


def table(records, split: str = "val") -> str:
  """Markdown: one line per (row, M) of ``split``'s records (a record
  without ``split`` is the pilot's, validation): the score (the ensemble's
  accuracy, mean ± std over seeds, ddof 1, and per seed), the members' mean,
  gain (eq 4.4), diversity (eq 4.2) and cost. On the test split (issue 27
  item 2) each row also gets its difference to Independent and DML of the
  same M with the Welch p. Rows: Independent, DML, then the others by name."""
  test = split == "test"
  groups = summarize(sorted(
      (r for r in records if r.get("split", "val") == split),
      key=lambda r: (r["row"], r["seed"])))
  compare = [f"vs {b}" for b in BASELINE_NAMES] if test else []
  head = (["row", "M", "seeds", f"{'test ensemble' if test else 'val. score'}"
           " % (per seed)", "members' mean %", "gain (points)", "diversity",
           *compare, "CPU-s a run", "wall s a run", "load at start"])
  lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
  order = {r: i for i, r in enumerate(BASELINES)}
  for (row, m), g in sorted(groups.items(),
                            key=lambda kv: (order.get(kv[0][0], 99), kv[0])):
    per = " / ".join(f"{x:.2f}" for x in g["score"])
    cells = [row, m, ",".join(map(str, g["seeds"])), f"{ms(g['score'])} ({per})",
             ms(g["members_mean"]), ms(g["gain"]), ms(g["diversity"], 3)]
    if test:
      cells += [welch_line(g["score"], groups.get((b, m), {}).get("score"))
                for b in BASELINES]
    cells += [f"{min(g[k]):.{d}f}-{max(g[k]):.{d}f}"
              for k, d in (("cpu_s", 0), ("wall_s", 0), ("load", 1))]
    lines.append("| " + " | ".join(map(str, cells)) + " |")
  return "\n".join(lines)


def read_all(folders, split: str) -> list:
  """The records of ``split`` in every folder's results file (``--table
  --results=a,b``: seeds run into separate folders, one table)."""
  return [r for folder in folders
          for r in read(os.path.join(folder, RESULTS_FILE[split]))]


def read(path: str) -> list:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def predictions(run_dir: str, members: int, model: str, split,
                num_classes: int, batch_size: int = 500) -> np.ndarray:
  """``int16[members + 1, n]``: the argmax of every member and of their
  ensemble (eq 4.10) on ``split``, from the run's saved ``variables/node{i}``
  (frozen nodes of a graph with no edges, the library's evaluate)."""
  nodes = tuple(Node(model, os.path.join(run_dir, "variables", f"node{i}"),
                     kind="frozen") for i in range(members))
  spec = GraphSpec(nodes=nodes + (Node(kind="ensemble",
                                       members=tuple(range(members))),),
                   edges={}, target=members)
  program = step.compile(spec, num_classes=num_classes, total_steps=1,
                         optimizer=optax.identity())
  state = program.init(jax.random.PRNGKey(0), split.images[:1])
  logits = scoring.logits_of(program.evaluate, state, split, batch_size)
  return np.argmax(logits, axis=-1).astype(np.int16)


def variance_parts(correct: np.ndarray) -> tuple[float, float]:
  """Splits the seed variance of an accuracy on a fixed set of n examples.

  ``correct``: bool[S, n], seed s right on example i. The accuracy's variance
  over seeds is ``1/n^2 sum_ij Cov(c_i, c_j)`` = ``v / n`` (the diagonal:
  ``v`` = mean over examples of ``Var_s(c_i)``, what a seed flips example by
  example) + ``shared`` (the off-diagonal: seeds better or worse on many
  examples at once), so on a set of m examples from the same distribution
  the std is ``sqrt(shared + v / m)``. Sample variances (ddof 1); returns
  ``(v, shared)`` (``shared`` may come out negative from few seeds).
  """
  c = np.asarray(correct, np.float64)
  n = c.shape[1]
  v = float(np.mean(np.var(c, axis=0, ddof=1)))
  total = float(np.var(c.mean(axis=1), ddof=1))
  return v, total - v / n


def std_at(v: float, shared: float, m: int) -> float:
  """``sqrt(max(shared, 0) + v / m)``: the predicted seed std on m examples."""
  return float(np.sqrt(max(shared, 0.0) + v / m))


def sizes_report(records, workdir, labels,
                 sizes=(400, 2_000, 10_000, 40_000)) -> dict:
  """Per (row, members) of ``ENSEMBLE_ROWS`` and node ("member k" pooled as
  "member", "ensemble"): ``v``, ``shared``, the measured std and the
  predicted std at ``sizes`` validation pairs, in points."""
  out = {}
  groups = {}
  for r in records:
    path = os.path.join(workdir, r["key"], PREDICTIONS)
    if r["row"] in ENSEMBLE_ROWS and os.path.exists(path):
      groups.setdefault((r["row"], r["members"]), []).append(
          np.load(path)["pred"] == labels)
  for (row, m), correct in sorted(groups.items()):
    c = np.stack(correct)                           # [S, m + 1, n]
    if c.shape[0] < 2:
      continue
    parts = {"ensemble": variance_parts(c[:, m])}
    # members pooled: member k of each seed is one draw of a member
    parts["member"] = variance_parts(c[:, :m].reshape(-1, c.shape[-1]))
    out[f"{row}_m{m}"] = {
        node: {"seeds": int(c.shape[0]), "v": v, "shared": sh,
               "std_measured": 100 * float(np.std(
                   (c[:, m] if node == "ensemble" else
                    c[:, :m].reshape(-1, c.shape[-1])).mean(-1), ddof=1)),
               "std_predicted": {str(k): 100 * std_at(v, sh, k)
                                 for k in sizes}}
        for node, (v, sh) in parts.items()}
  return out


def main(argv):
  common.check_command_line(argv)
  split = _SPLIT.value
  if _TABLE.value:
    records = read_all(_RESULTS.value.split(","), split)
    print(table(records, split))
    return
  common.check_command_line(argv, workdir=_WORKDIR.value)
  unknown = sorted(set(_ROWS.value) - set(ROWS))
  if unknown:
    raise ValueError(f"--rows={unknown}; allowed: {list(ROWS)}")
  logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint
  config = _CONFIG.value
  config.eval_split = "val"  # the pilot never reads the test split
  workdir = os.path.abspath(_WORKDIR.value)
  os.makedirs(workdir, exist_ok=True)
  os.makedirs(_RESULTS.value, exist_ok=True)
  if split == "test":
    _run_test(config, workdir)
    return
  jsonl = os.path.join(workdir, RESULTS_FILE["val"])
  data = data_lib.sealed(data_lib.from_config(config))
  if _SIZES.value:
    rep = sizes_report(read(jsonl), workdir, data.val.labels)
    with open(os.path.join(_RESULTS.value, "std_vs_pairs.json"), "w") as f:
      json.dump(rep, f, indent=1)
    print(json.dumps(rep, indent=1))
    return
  print(f"data: {len(data.train.labels)} training / {len(data.val.labels)} "
        f"validation pairs, {data.num_classes} classes", flush=True)
  for row in _ROWS.value:
    for seed in (int(s) for s in _SEEDS.value):
      key = run_name(row, config.members, seed)
      if key in done_keys(jsonl):
        _save_predictions(row, config, workdir, key, data)
        print(f"{key}: done", flush=True)
        continue
      spec, aggregate = ROWS[row](config, workdir, seed)
      cfg = config.copy_and_resolve_references()
      cfg.seed, cfg.aggregate = seed, aggregate
      _train_and_record(key, row, seed, spec, cfg, config, data, workdir,
                        "val")
      _save_predictions(row, config, workdir, key, data)


def _run_test(config, workdir) -> None:
  """The final runs: each (row, seed) trained on the 800 training pairs
  (the pilot's, the same ``limit`` / ``val_fraction`` split), the test split
  evaluated once after the last epoch; one line per run in rows.jsonl."""
  jsonl = os.path.join(workdir, RESULTS_FILE["test"])
  data = data_lib.from_config(config)   # validation unused, test read once
  print(f"data: {len(data.train.labels)} training / {len(data.test.labels)} "
        f"test pairs, {data.num_classes} classes", flush=True)
  for row in _ROWS.value:
    for seed in (int(s) for s in _SEEDS.value):
      spec, aggregate = ROWS[row](config, workdir, seed)
      key = run_name(row, members_of(spec), seed, "test")
      if key in done_keys(jsonl):
        print(f"{key}: done", flush=True)
        continue
      cfg = split_config(config, "test")
      cfg.seed, cfg.aggregate = seed, aggregate
      _train_and_record(key, row, seed, spec, cfg, config, data, workdir,
                        "test", members=members_of(spec),
                        eval_pairs=len(data.test.labels))


def _train_and_record(key, row, seed, spec, cfg, config, data, workdir,
                      split, **record_fields) -> dict:
  """Trains one (row, seed) into ``<workdir>/<key>``, appends its record
  (``record``, with the graph) to ``<workdir>/<results file of split>``,
  copies that file to --results and prints the numbers."""
  print(f"{key}: training ({time.strftime('%H:%M:%S', time.gmtime())} "
        f"UTC, load {os.getloadavg()[0]:.1f})", flush=True)
  load0, t0, c0 = os.getloadavg(), time.time(), time.process_time()
  result = training.fit(spec, data, cfg, workdir=os.path.join(workdir, key))
  rec = record(row, seed, config, result, time.time() - t0,
               time.process_time() - c0, load0, os.getloadavg(), split=split,
               **record_fields)
  rec["graph"] = spec.to_json()
  jsonl = os.path.join(workdir, RESULTS_FILE[split])
  with open(jsonl, "a") as f:
    f.write(json.dumps(rec) + "\n")
  shutil.copy(jsonl, os.path.join(_RESULTS.value, RESULTS_FILE[split]))
  e = rec.get("ensemble")
  extra = (f", members {[round(100 * a, 2) for a in e['member_accuracy']]}"
           f", gain {100 * e['gain']:+.2f}, diversity "
           f"{e['mean_diversity']:.3f}") if e else ""
  print(f"{key}: {split} {100 * rec['score']:.2f} %{extra} "
        f"({rec['wall_s']:.0f} s wall, {rec['cpu_s']:.0f} CPU-s)", flush=True)
  return rec


def _save_predictions(row, config, workdir, key, data) -> None:
  """``<run>/val_predictions.npz`` of an ensemble row, if not there yet."""
  path = os.path.join(workdir, key, PREDICTIONS)
  if row in ENSEMBLE_ROWS and not os.path.exists(path):
    pred = predictions(os.path.join(workdir, key), config.members,
                       config.models, data.val, data.num_classes)
    np.savez_compressed(path, pred=pred)


if __name__ == "__main__":
  common.run(main)
