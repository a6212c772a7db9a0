"""The files of a run: JSONL + TensorBoard metrics, the progress line, the
graph / config / split files written before training and the variables and
pictures written after it (``fit``'s workdir layout, README "Demo")."""

from __future__ import annotations

import json
import os

import numpy as np

from ktg_jax import checkpoint
from ktg_jax.core import nodes as nodes_lib
from ktg_jax.core.nodes import node_key
from ktg_jax.core import node_variables


class Logs:
  """JSONL + TensorBoard writers of a run (no-ops without a workdir)."""

  def __init__(self, workdir: str | None):
    self.jsonl = self.tb = None
    if workdir:
      from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel
      self.jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
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


def progress(m: dict, epochs: int) -> str:
  fmt = lambda xs: "[" + " ".join(f"{x:.3f}" for x in xs) + "]"
  return (f"epoch {m['epoch']:3d}/{epochs}  {m['steps_per_sec']:6.1f} steps/s  "
          f"input {100 * m['input_fraction']:4.1f}%  lr {m['lr']:.4g}  "
          f"loss {fmt(m['train_loss'])}  train_acc {fmt(m['train_accuracy'])}"
          f"  {m['eval_split']}_acc {fmt(m['accuracy'])}  "
          f"target {m['target_accuracy']:.4f}")


def prepare_workdir(workdir, member, feed, config) -> None:
  os.makedirs(workdir, exist_ok=True)
  member.spec.save(os.path.join(workdir, "graph.json"))
  config = config.copy_and_resolve_references()
  config.seed = member.seed
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  feed.save(workdir)


def finish(spec, state, history, workdir, config, writer=True) -> None:
  """Final node variables (frozen teachers load them) and pictures."""
  if config.get("save_variables", True):
    for i in range(spec.num_nodes):
      if not nodes_lib.KINDS[spec.nodes[i].kind].has_model:  # no variables
        continue
      path = checkpoint.save_variables(
          os.path.join(workdir, "variables", node_key(i)),
          node_variables(state, i))
      if config.verbose:
        print(f"node {i} ({spec.nodes[i].model}) variables: {path}",
              flush=True)
  if config.get("pictures", True) and history and writer:
    from ktg_jax import viz  # pylint: disable=import-outside-toplevel
    paths = viz.write_run_pictures(spec, history, workdir)
    if config.verbose:
      print("pictures: " + ", ".join(paths), flush=True)
