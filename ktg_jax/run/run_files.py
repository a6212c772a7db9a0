"""The files of a run: JSONL + TensorBoard metrics, the progress line, the
graph / config / split files written before training and the variables and
pictures written after it (``fit``'s workdir layout, README "Demo")."""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from ktg_jax import checkpoint
from ktg_jax.core import nodes as nodes_lib
from ktg_jax.core.nodes import node_key
from ktg_jax.core import node_variables
from ktg_jax.run import fit_config


METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"


class RunFolderInUseError(ValueError):
  """``fit`` into a folder that holds a run, without ``resume``."""


def check_run_folder(workdir: str, resume: bool) -> None:
  """Refuses to start a fresh run in a folder that holds one (its metrics or
  checkpoints would be mixed with, or lost to, the new run's): the message
  says how to continue it or where else to go. ``resume`` passes.

  >>> import tempfile
  >>> d = tempfile.mkdtemp()
  >>> check_run_folder(d, resume=False)      # empty: fine
  >>> _ = open(os.path.join(d, METRICS), "w").write("{}")
  >>> check_run_folder(d, resume=False)
  Traceback (most recent call last):
  ...
  ktg_jax.run.run_files.RunFolderInUseError: workdir ... already holds a run (metrics.jsonl); continue it with --config.resume=True or choose another --workdir
  """
  if resume or not workdir:
    return
  found = []
  metrics = os.path.join(workdir, METRICS)
  if os.path.isfile(metrics) and os.path.getsize(metrics):
    found.append(METRICS)
  ckpt = os.path.join(workdir, CHECKPOINTS)
  if os.path.isdir(ckpt) and os.listdir(ckpt):
    found.append(CHECKPOINTS + "/")
  members = [m for m in sorted(os.listdir(workdir)) if m.startswith("member")
             and os.path.isfile(os.path.join(workdir, m, METRICS))] if (
                 os.path.isdir(workdir)) else []
  found += [f"{m}/{METRICS}" for m in members]
  if found:
    raise RunFolderInUseError(
        f"workdir {workdir!r} already holds a run ({', '.join(found)}); "
        "continue it with --config.resume=True or choose another "
        "--workdir")


class Logs:
  """JSONL + TensorBoard writers of a run (no-ops without a workdir).

  ``metrics.jsonl`` is written anew: the epochs of ``history`` (a resumed
  run's, from its checkpoint) first, so the file never holds two runs, nor
  an epoch twice after a resume."""

  def __init__(self, workdir: str | None, history=()):
    self.jsonl = self.tb = None
    if workdir:
      from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel
      self.jsonl = open(os.path.join(workdir, METRICS), "w")
      for m in history:
        self.jsonl.write(json.dumps(m) + "\n")
      self.jsonl.flush()
      self.tb = SummaryWriter(os.path.join(workdir, "tb"))

  def write(self, m: dict) -> None:
    if self.jsonl:
      self.jsonl.write(json.dumps(m) + "\n")
      self.jsonl.flush()
    if self.tb:
      e, add = m["epoch"], self._add
      for k in ("target_accuracy", "steps_per_sec", "lr", "input_fraction"):
        add(k, m[k], e)
      for i, (acc, loss) in enumerate(zip(m["accuracy"], m["train_loss"])):
        add(f"node{i}/accuracy", acc, e)
        add(f"node{i}/train_loss", loss, e)
      self.tb.flush()

  def _add(self, name: str, value: float, epoch: int) -> None:
    if np.isfinite(value):  # epochs without evaluation (eval_every_epochs)
      self.tb.add_scalar(name, value, epoch)

  def close(self) -> None:
    if self.jsonl:
      self.jsonl.close()
    if self.tb:
      self.tb.close()


def duration(seconds: float) -> str:
  """``1h02m``, ``3m05s``, ``42s``.

  >>> duration(3725), duration(185), duration(42.4)
  ('1h02m', '3m05s', '42s')
  """
  s = int(round(seconds))
  if s >= 3600:
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
  return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class StepBar:
  """The run's steps as a tqdm bar with its ETA, on a terminal; elsewhere
  (a log file, CI) no bar, and ``line`` prints one line per epoch."""

  def __init__(self, total: int, done: int, enabled: bool):
    self.bar = None
    if enabled and sys.stderr.isatty():
      from tqdm import tqdm  # pylint: disable=import-outside-toplevel
      self.bar = tqdm(total=total, initial=done, unit="step", leave=False,
                      dynamic_ncols=True)

  def update(self, n: int = 1) -> None:
    if self.bar is not None:
      self.bar.update(n)

  def line(self, text: str) -> None:
    if self.bar is not None:
      self.bar.write(text)
    else:
      print(text, flush=True)

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()


def progress(m: dict, epochs: int, eta_s: float | None = None) -> str:
  fmt = lambda xs: "[" + " ".join(f"{x:.3f}" for x in xs) + "]"
  eta = "" if eta_s is None else f"  eta {duration(eta_s)}"
  return (f"epoch {m['epoch']:3d}/{epochs}  {m['steps_per_sec']:6.1f} steps/s  "
          f"input {100 * m['input_fraction']:4.1f}%  lr {m['lr']:.4g}  "
          f"loss {fmt(m['train_loss'])}  train_acc {fmt(m['train_accuracy'])}"
          f"  {m['eval_split']}_acc {fmt(m['accuracy'])}  "
          f"target {m['target_accuracy']:.4f}{eta}")


def check_resume_is_the_same_run(workdir: str, seed: int, spec) -> None:
  """On resume, refuses a folder whose recorded run has another seed or graph:
  its checkpoint would be continued as if it were this run's (a script that
  keeps one folder per method and varies ``--seeds`` once did exactly that).

  >>> import tempfile
  >>> from ktg_jax import classic
  >>> d = tempfile.mkdtemp()
  >>> spec = classic.dml(["small_cnn"] * 2)
  >>> check_resume_is_the_same_run(d, 1, spec)   # nothing recorded: fine
  >>> _ = open(os.path.join(d, "config.json"), "w").write('{"seed": 0}')
  >>> check_resume_is_the_same_run(d, 1, spec)
  Traceback (most recent call last):
  ...
  ktg_jax.run.run_files.RunFolderInUseError: workdir ... holds the run of seed 0, not seed 1: resuming would continue that run; choose another --workdir
  """
  config_path = os.path.join(workdir, "config.json")
  if os.path.isfile(config_path):
    with open(config_path) as f:
      recorded = json.load(f).get("seed")
    if recorded is not None and int(recorded) != int(seed):
      raise RunFolderInUseError(
          f"workdir {workdir!r} holds the run of seed {recorded}, not seed "
          f"{seed}: resuming would continue that run; choose another --workdir")
  graph_path = os.path.join(workdir, "graph.json")
  if os.path.isfile(graph_path):
    with open(graph_path) as f:
      recorded_graph = json.load(f)
    if recorded_graph != json.loads(spec.dumps()):
      raise RunFolderInUseError(
          f"workdir {workdir!r} holds the run of another graph "
          f"({graph_path}): resuming would continue that run; choose another "
          "--workdir")


def prepare_workdir(workdir, member, feed, config) -> None:
  os.makedirs(workdir, exist_ok=True)
  member.spec.save(os.path.join(workdir, "graph.json"))
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(fit_config.record(config, seed=member.seed), f, indent=2)
  feed.save(workdir)


def finish(spec, state, history, workdir, config, writer=True) -> None:
  """Final node variables (frozen teachers load them) and pictures."""
  if config.save_variables:
    for i in range(spec.num_nodes):
      if not nodes_lib.KINDS[spec.nodes[i].kind].has_model:  # no variables
        continue
      path = checkpoint.save_variables(
          os.path.join(workdir, "variables", node_key(i)),
          node_variables(state, i))
      if config.verbose:
        print(f"node {i} ({spec.nodes[i].model}) variables: {path}",
              flush=True)
  if config.pictures and history and writer:
    from ktg_jax.viz import run_pictures  # pylint: disable=import-outside-toplevel
    paths = run_pictures.write_run_pictures(spec, history, workdir)
    if config.verbose:
      print("pictures: " + ", ".join(paths), flush=True)
