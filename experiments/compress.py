r"""Ensemble compression (thesis §4.3.3, Table 4.9): one student from trained teachers.

  python experiments/compress.py --config=experiments/configs/ch4_fashion_mnist.py \
      --teachers=/tmp/retrain/independent/member0 --teacher_model=resnet8 \
      --student=resnet8 --seeds=0,1,2 --workdir=/tmp/compress

  # Table 4.9 in the ch.4 regime (docs/ch4_table49.md): per-seed teachers
  python experiments/compress.py --config=experiments/configs/ch4_table49.py \
      --teachers=runs/ch4_pilot/independent_m2_seed{seed} --num_teachers=2 \
      --seeds=0,1,2,3,4 --workdir=runs/ch4_table49 \
      --results=benchmarks/results/ch4_table49
  python experiments/compress.py --table --results=benchmarks/results/ch4_table49

The teachers are the members of a trained ensemble (a run folder with
``variables/node{i}``, e.g. retrain.py's ``independent/member0``), frozen;
``{seed}`` in ``--teachers`` is replaced by the row's seed (each seed's
student learns from that seed's ensemble). The temperature T is chosen in
{1, 2, 5, 10} on the *validation* split (student from each teacher,
probabilities only, seed 0, training split minus validation), unless
``--temperature`` names one chosen so before; the rows of the table then read
the test split once (after the last epoch). They train on the full training
split (training + validation, the thesis protocol) unless the config's
``compress.refit_on_val`` is False: then on the config's training split, the
teachers' own where the teachers were trained without the validation part
(experiments/configs/ch4_table49.py).

  ensemble       KD from the ensembled distribution (an ensemble node of the teachers)
  each           KD from every teacher separately
  each+pcgrad    ... with gradient aggregation (compile(..., aggregate="pcgrad"))
  each+att       KD + attention-crop MSE from every teacher
  each+att+pcgrad

Conflicts per teacher pair (Tables 4.10/4.11) are summed over a run's steps.
Resumable: each finished run (a T candidate or a (row, seed)) appends one
JSON line to ``<workdir>/compress.jsonl`` (copied to ``<results>/``) and a
key already there is skipped on a rerun. ``--table`` prints the markdown
table of ``<results>/compress.jsonl`` (mean ± std over seeds, Welch p against
the "ensemble" row, ``ktg_jax.stats``).
"""

from __future__ import annotations

import json
import os
import shutil
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np


from ktg_jax.cli import common  # the scripts' command line
import ktg_jax as ktg
from ktg_jax import data as data_lib
from ktg_jax import stats

FLAGS = flags.FLAGS
_CONFIG = common.define_config("ch4_fashion_mnist.py", "training protocol")
flags.DEFINE_string("teachers", None, "run folder holding variables/node{i} "
                    "of the trained ensemble's members; '{seed}' in it is "
                    "replaced by the row's seed")
flags.DEFINE_integer("num_teachers", 3, "teachers = nodes 0..K-1 of that run")
flags.DEFINE_string("teacher_model", "resnet8", "the teachers' model")
flags.DEFINE_string("student", "resnet8", "the student's model")
flags.DEFINE_list("temperatures", ["1", "2", "5", "10"], "T candidates "
                  "(thesis §4.3.3), chosen on validation")
flags.DEFINE_float("temperature", None, "T chosen before on validation "
                   "(skips the choice; say where it was chosen)")
flags.DEFINE_list("seeds", ["0", "1", "2"], "seeds of each row")
flags.DEFINE_list("rows", ["ensemble", "each", "each+pcgrad", "each+att",
                           "each+att+pcgrad"], "table rows, in order")
flags.DEFINE_string("workdir", None, "compress.jsonl goes here")
flags.DEFINE_string("results", None, "where compress.jsonl is copied after "
                    "each finished run (and read by --table)")
flags.DEFINE_boolean("table", False, "only print the markdown table of "
                     "<results>/compress.jsonl")

ROWS = {  # name -> (source, attention, aggregate)
    "ensemble": ("ensemble", False, None),
    "each": ("each", False, None),
    "each+pcgrad": ("each", False, "pcgrad"),
    "each+att": ("each", True, None),
    "each+att+pcgrad": ("each", True, "pcgrad"),
}
JSONL = "compress.jsonl"


def teacher_paths(template: str, seed: int, k: int) -> list:
  """``variables/node{i}`` of the teachers' run of ``seed``, i < k."""
  run = os.path.abspath(template.replace("{seed}", str(seed)))
  return [os.path.join(run, "variables", f"node{i}") for i in range(k)]


def compress_options(config) -> dict:
  """The config's ``compress`` block with its defaults."""
  c = dict(config.get("compress", None) or {})
  return {"refit_on_val": bool(c.get("refit_on_val", True)),
          "crop_sizes": tuple(c.get("crop_sizes", None) or ()) or None}


def graph(source, attention, temperature, seed, crop_sizes=None):
  k = FLAGS.num_teachers
  return ktg.classic.compression(
      FLAGS.student, [FLAGS.teacher_model] * k,
      teacher_paths(FLAGS.teachers, seed, k), source=source,
      attention=attention, temperature=temperature,
      crop_sizes=crop_sizes if attention else None)


def run_key(row: str, seed: int, temperature: float, split: str) -> str:
  """``test/each+pcgrad/T2/seed3``: a record's key."""
  return f"{split}/{row}/T{temperature:g}/seed{seed}"


def done_keys(path: str) -> set:
  if not os.path.exists(path):
    return set()
  with open(path) as f:
    return {json.loads(line)["key"] for line in f if line.strip()}


def read(path: str) -> list:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def record(row, seed, temperature, split, history, steps_per_epoch,
           num_teachers) -> dict:
  """The JSON line of one finished run (times and load added by the caller)."""
  last = history[-1]
  acc = last["accuracy"]
  rec = {"row": row, "seed": seed, "temperature": temperature,
         "split": split, "key": run_key(row, seed, temperature, split),
         "student": acc[0], "teachers": acc[1:1 + num_teachers],
         "accuracy": acc, "epochs": len(history),
         "steps": len(history) * steps_per_epoch}
  if len(acc) > 1 + num_teachers:  # the teachers' ensemble node
    rec["teacher_ensemble"] = acc[1 + num_teachers]
  if "conflicts" in last:  # per teacher pair, summed over the steps
    rec["conflicts"] = np.sum([m["conflicts"] for m in history],
                              axis=0).tolist()
  if "ensemble" in last:
    rec["ensemble"] = {k: v for k, v in last["ensemble"].items()
                       if k != "diversity_matrix"}
  return rec


def pair_conflicts(conflicts) -> int:
  """Steps with a conflict, summed over the unordered node pairs: the upper
  triangle of ``conflicts[a, b]`` (symmetric, zero on the diagonal and for
  the student's row; docs/ch4.md)."""
  c = np.asarray(conflicts)
  return int(np.sum(np.triu(c, k=1)))


def table(records, rows=tuple(ROWS)) -> str:
  """Markdown: the teachers' ensemble and one line per row on the test
  split, % mean ± sample std (ddof 1) over seeds, Welch p against the
  "ensemble" row's student, the difference paired by seed (mean ± std, and
  how many seeds lie above), conflicts per run; plus the T candidates on
  validation."""
  test = [r for r in records if r["split"] == "test"]
  by_row = {}
  for r in sorted(test, key=lambda r: r["seed"]):
    by_row.setdefault(r["row"], []).append(r)

  ens = by_row.get("ensemble", [])
  base = {r["seed"]: 100 * r["student"] for r in ens}

  def line(name, recs, values, cost=True):
    s = stats.summarize(values)
    vs = not (recs is ens and cost)  # the ensembled row against itself: no
    p = (stats.welch_p(values, list(base.values())) if vs and base
         else float("nan"))
    diff = [v - base[r["seed"]] for r, v in zip(recs, values)
            if r["seed"] in base]
    paired = "—"
    if vs and len(diff) > 1:
      d = stats.summarize(diff)
      paired = (f"{d.mean:+.2f} ± {d.std:.2f} "
                f"({sum(x > 0 for x in diff)} of {len(diff)})")
    conf = [str(pair_conflicts(r["conflicts"])) for r in recs
            if "conflicts" in r]
    cpu = [r["cpu_s"] for r in recs if "cpu_s" in r] if cost else []
    return (f"| {name} | {','.join(str(r['seed']) for r in recs)} | "
            f"{' / '.join(f'{v:.2f}' for v in values)} | "
            f"{stats.mean_std(s.mean, s.std)} | {stats.format_p(p)} | "
            f"{paired} | {' / '.join(conf) or '—'} | "
            f"{f'{min(cpu):.0f}-{max(cpu):.0f}' if cpu else '—'} |")

  lines = ["| test accuracy % of | seeds | per seed | mean ± std | "
           "Welch p vs ensembled | paired by seed vs ensembled (seeds "
           "above) | teacher-pair conflicts per run | CPU-s a run |",
           "|---|---|---|---|---|---|---|---|"]
  if ens:
    lines.append(line("the teachers' ensemble (no student)", ens,
                      [100 * r["teacher_ensemble"] for r in ens], cost=False))
  for row in rows:
    if row in by_row:
      recs = by_row[row]
      lines.append(line(f"student: {row}", recs,
                        [100 * r["student"] for r in recs]))
  val = sorted((r for r in records if r["split"] == "val"),
               key=lambda r: r["temperature"])
  if val:
    lines.append("")
    lines.append("T on validation (student 'each', seed "
                 f"{val[0]['seed']}): " + ", ".join(
                     f"T={r['temperature']:g} {100 * r['student']:.2f}"
                     for r in val))
  return "\n".join(lines)


def fit_one(spec, data, config, seed, aggregate, split):
  cfg = config.copy_and_resolve_references()
  cfg.seed, cfg.aggregate, cfg.eval_split = seed, aggregate, split
  return ktg.training.fit(spec, data, cfg)


def main(argv):
  if FLAGS.table:
    common.check_command_line(argv, results=FLAGS.results)
    print(table(read(os.path.join(FLAGS.results, JSONL))))
    return
  common.check_command_line(argv, teachers=FLAGS.teachers,
                            workdir=FLAGS.workdir)
  unknown = sorted(set(FLAGS.rows) - set(ROWS))
  if unknown:
    raise app.UsageError(f"--rows={unknown} is invalid; allowed: {list(ROWS)}")
  logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  config.verbose, config.pictures, config.save_variables = False, False, False
  config.checkpoint_every = 0
  options = compress_options(config)
  seeds = tuple(int(s) for s in FLAGS.seeds)
  os.makedirs(FLAGS.workdir, exist_ok=True)
  jsonl = os.path.join(FLAGS.workdir, JSONL)

  def run(row, seed, temperature, split, data):
    key = run_key(row, seed, temperature, split)
    if key in done_keys(jsonl):
      rec = next(r for r in read(jsonl) if r["key"] == key)
      print(f"{key}: done ({100 * rec['student']:.2f} %)", flush=True)
      return rec
    source, attention, aggregate = ROWS[row]
    spec = graph(source, attention, temperature, seed, options["crop_sizes"])
    print(f"{key}: training ({time.strftime('%H:%M:%S', time.gmtime())} UTC,"
          f" load {os.getloadavg()[0]:.1f})", flush=True)
    load0, t0, c0 = os.getloadavg(), time.time(), time.process_time()
    r = fit_one(spec, data, config, seed, aggregate, split)
    steps = len(data.train.labels) // config.batch_size
    rec = record(row, seed, temperature, split, r.history, steps,
                 FLAGS.num_teachers)
    rec.update(wall_s=time.time() - t0, cpu_s=time.process_time() - c0,
               loadavg_start=load0, loadavg_end=os.getloadavg(),
               train_pairs=len(data.train.labels),
               eval_pairs=len(getattr(data, split).labels),
               loss=sorted({e.loss for (src, _), e in spec.edges.items()
                            if src != ktg.LABEL}),
               finished=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    with open(jsonl, "a") as f:
      f.write(json.dumps(rec) + "\n")
    if FLAGS.results:
      os.makedirs(FLAGS.results, exist_ok=True)
      shutil.copy(jsonl, os.path.join(FLAGS.results, JSONL))
    extra = (f", conflicts {rec['conflicts']} of {rec['steps']} steps"
             if "conflicts" in rec else "")
    extra += (f", teachers' ensemble {100 * rec['teacher_ensemble']:.2f} %"
              if "teacher_ensemble" in rec else "")
    print(f"{key}: student {100 * rec['student']:.2f} %{extra} "
          f"({rec['wall_s']:.0f} s wall, {rec['cpu_s']:.0f} CPU-s)",
          flush=True)
    return rec

  temperature = FLAGS.temperature
  if temperature is None:  # T with the best 'each' student on validation
    val = data_lib.sealed(data_lib.from_config(config))
    scores = {t: run("each", seeds[0], t, "val", val)["student"]
              for t in (float(x) for x in FLAGS.temperatures)}
    temperature = max(scores, key=scores.get)
  print(f"T = {temperature:g} (chosen on validation)", flush=True)
  data = data_lib.from_config(
      config, **({} if not options["refit_on_val"] else {"val_fraction": 0.0}))
  print(f"data: {len(data.train.labels)} training / {len(data.test.labels)} "
        f"test pairs", flush=True)
  for row in FLAGS.rows:
    for seed in seeds:
      run(row, seed, temperature, "test", data)


if __name__ == "__main__":
  common.run(main)
