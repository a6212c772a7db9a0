"""``fit``: THE training loop of a KTG graph (experiments/train.py and search trials).

One epoch = a seeded permutation of the training split (derived from
``seed`` and the epoch, so a resumed run sees the same batches as an
uninterrupted one), cut into full batches of ``batch_size``; each batch goes
through the one jitted KTG step (augmentation inside it). After every epoch:
evaluation on ``eval_split`` ("val" for search / model selection, "test" for
final numbers; the test split is never touched in "val" mode, SPEC §4), a
progress line, TensorBoard + JSONL metrics, ``callback`` (True stops), and a
checkpoint (orbax, atomic, keep N) from which ``resume=True`` continues.

Example:
  >>> import ktg_jax as ktg
  >>> from ktg_jax import data, training
  >>> cfg = training.default_config()
  >>> cfg.epochs, cfg.batch_size, cfg.verbose = 1, 64, False
  >>> result = training.fit(ktg.classic.vanilla("small_cnn"),
  ...                       data.load("digits", limit=256), cfg)
  >>> len(result.history), 0.0 <= result.final_target_accuracy <= 1.0
  (1, True)
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
from ml_collections import config_dict
import numpy as np
import optax

from ktg_jax import checkpoint
from ktg_jax import optim
from ktg_jax.data import augment as augment_lib
from ktg_jax.graph import GraphSpec
from ktg_jax.step import compile as compile_graph
from ktg_jax.step import node_key
from ktg_jax.step import node_variables

Callback = Callable[[int, dict], "bool | None"]


class DivergedError(FloatingPointError):
  """A node's training loss became NaN / inf; the message names epoch and nodes."""


class FitResult(NamedTuple):
  state: Any                    # the final KTGState
  history: list                 # one metrics dict per epoch
  best_target_accuracy: float   # max over epochs, on eval_split
  final_target_accuracy: float  # last epoch, on eval_split
  workdir: str | None


def default_config() -> ml_collections.ConfigDict:
  """The knobs of ``fit`` (the ch.3 CIFAR protocol, SPEC §5, at 200 epochs),
  and of the experiment scripts around it (data set, split, node models)."""
  return ml_collections.ConfigDict(dict(
      dataset="cifar100", val_fraction=0.2, models="resnet32",
      # None by default, overridable from the command line (--config.limit=N).
      data_dir=config_dict.placeholder(str),
      limit=config_dict.placeholder(int),
      epochs=200, batch_size=64, eval_batch_size=500,
      # lr_boundaries: fractions of the run (ch.3: epochs 60/120/180 of 200).
      learning_rate=0.1, lr_schedule="step", lr_boundaries=(0.3, 0.6, 0.9),
      lr_decay=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
      seed=0, eval_split="val", augment=True,
      checkpoint_every=1, keep_checkpoints=2, resume=False,
      save_variables=True, pictures=True, verbose=True))


# --- learning-rate schedules (registry: name -> factory(config, spe, total)) --

SCHEDULES: dict[str, Callable[..., optax.Schedule]] = {
    "step": lambda c, spe, total: optim.step_decay(
        c.learning_rate, total, c.lr_boundaries, c.lr_decay),
    "cosine": lambda c, spe, total: optim.cosine(c.learning_rate, total),
    "constant": lambda c, spe, total: optax.constant_schedule(c.learning_rate),
}


def make_optimizer(config, steps_per_epoch: int) -> tuple:
  """(optax optimizer, lr schedule) of ``config``."""
  if config.lr_schedule not in SCHEDULES:
    raise ValueError(f"lr_schedule={config.lr_schedule!r}; allowed: "
                     f"{sorted(SCHEDULES)}")
  total = config.epochs * steps_per_epoch
  schedule = SCHEDULES[config.lr_schedule](config, steps_per_epoch, total)
  return optim.sgd(schedule, momentum=config.momentum,
                   nesterov=config.nesterov,
                   weight_decay=config.weight_decay), schedule


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
  """The data order of one epoch: a function of (seed, epoch) only (resume)."""
  return np.random.default_rng([seed, epoch]).permutation(n)


def eval_split(data, name: str):
  """The split to evaluate on; reads ``data.test`` only when asked to."""
  splits = {"val": lambda: data.val, "test": lambda: data.test}
  if name not in splits:
    raise ValueError(f"eval_split={name!r}; allowed: {sorted(splits)}")
  split = splits[name]()
  if name == "val" and len(split.labels) == 0:
    raise ValueError("eval_split='val' but the validation split is empty "
                     "(val_fraction=0); use eval_split='test' for final runs")
  return split


def accuracy(program, state, split, batch_size: int) -> np.ndarray:
  """Per-node top-1 accuracy on ``split``; the last batch is padded, not recompiled."""
  n = len(split.labels)
  correct = 0
  for start in range(0, n, batch_size):
    images = split.images[start:start + batch_size]
    labels = split.labels[start:start + batch_size]
    pad = batch_size - len(labels)
    if pad:
      images = np.concatenate([images, np.zeros((pad,) + images.shape[1:],
                                                images.dtype)])
    logits = program.evaluate(state, images)[:, :len(labels)]
    correct = correct + np.sum(np.asarray(jnp.argmax(logits, -1)) == labels,
                               axis=-1)
  return correct / max(n, 1)


def _run_epoch(program, state, train, order, batch_size):
  """Trains one epoch; returns (state, mean node loss, mean node acc, timings)."""
  steps = len(order) // batch_size
  loss_sum = acc_sum = 0.0
  input_sec = 0.0
  start = time.perf_counter()
  for s in range(steps):
    t0 = time.perf_counter()
    ids = order[s * batch_size:(s + 1) * batch_size]
    batch = {"image": train.images[ids], "label": train.labels[ids]}
    input_sec += time.perf_counter() - t0
    state, m = program.step(state, batch)
    # Summed on device: no host sync per step, so slicing overlaps the step.
    loss_sum = loss_sum + m["node_loss"]
    acc_sum = acc_sum + m["node_accuracy"]
  loss, acc = jax.device_get((loss_sum / steps, acc_sum / steps))
  sec = time.perf_counter() - start
  return state, np.asarray(loss), np.asarray(acc), sec, input_sec


def _check_finite(epoch: int, loss: np.ndarray) -> None:
  bad = [i for i, v in enumerate(loss) if not np.isfinite(v)]
  if bad:
    raise DivergedError(f"epoch {epoch}: training loss of node(s) {bad} is "
                        f"{[float(loss[i]) for i in bad]} (diverged); lower "
                        "learning_rate or check the graph's gates")


class _Logs:
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
      e = m["epoch"]
      for k in ("target_accuracy", "steps_per_sec", "lr", "input_fraction"):
        self.tb.add_scalar(k, m[k], e)
      for i, (acc, loss) in enumerate(zip(m["accuracy"], m["train_loss"])):
        self.tb.add_scalar(f"node{i}/accuracy", acc, e)
        self.tb.add_scalar(f"node{i}/train_loss", loss, e)
      self.tb.flush()

  def close(self) -> None:
    if self.jsonl:
      self.jsonl.close()
    if self.tb:
      self.tb.close()


def _progress(m: dict, epochs: int) -> str:
  fmt = lambda xs: "[" + " ".join(f"{x:.3f}" for x in xs) + "]"
  return (f"epoch {m['epoch']:3d}/{epochs}  {m['steps_per_sec']:6.1f} steps/s  "
          f"input {100 * m['input_fraction']:4.1f}%  lr {m['lr']:.4g}  "
          f"loss {fmt(m['train_loss'])}  train_acc {fmt(m['train_accuracy'])}"
          f"  {m['eval_split']}_acc {fmt(m['accuracy'])}  "
          f"target {m['target_accuracy']:.4f}")


def _prepare_workdir(workdir, spec, data, config) -> None:
  from ktg_jax import data as data_lib  # pylint: disable=import-outside-toplevel
  os.makedirs(workdir, exist_ok=True)
  spec.save(os.path.join(workdir, "graph.json"))
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  data_lib.save_split(data, workdir)


def _finish(spec, program, state, history, workdir, config) -> None:
  """Final node variables (frozen teachers load them) and pictures."""
  if config.get("save_variables", True):
    for i in range(spec.num_nodes):
      path = checkpoint.save_variables(
          os.path.join(workdir, "variables", node_key(i)),
          node_variables(state, i))
      if config.verbose:
        print(f"node {i} ({spec.nodes[i].model}) variables: {path}",
              flush=True)
  if config.get("pictures", True) and history:
    from ktg_jax import viz  # pylint: disable=import-outside-toplevel
    paths = viz.write_run_pictures(spec, history, workdir)
    if config.verbose:
      print("pictures: " + ", ".join(paths), flush=True)
  del program


def fit(spec: GraphSpec, data, config: ml_collections.ConfigDict,
        workdir: str | None = None, callback: Callback | None = None
        ) -> FitResult:
  """Trains graph ``spec`` on ``data`` (a ``ktg_jax.data.Dataset``).

  Args:
    spec: the graph; ``spec.target`` is the node whose accuracy is reported.
    data: train / val / test splits; only ``config.eval_split`` is evaluated.
    config: see ``default_config()``.
    workdir: where checkpoints, metrics, split indices, final variables and
      pictures go; None = nothing written (and no resume).
    callback: ``callback(epoch, metrics) -> bool | None`` after each epoch's
      evaluation; True stops training (ASHA).

  Raises:
    DivergedError: a node's training loss is NaN or inf.
  """
  split = eval_split(data, config.eval_split)
  train = data.train
  steps_per_epoch = len(train.labels) // config.batch_size
  if steps_per_epoch < 1:
    raise ValueError(f"batch_size={config.batch_size} > {len(train.labels)} "
                     "training examples; allowed: a smaller batch_size")
  optimizer, schedule = make_optimizer(config, steps_per_epoch)
  augment = augment_lib.for_dataset(data.name) if config.augment else None
  program = compile_graph(spec, num_classes=data.num_classes,
                          total_steps=config.epochs * steps_per_epoch,
                          optimizer=optimizer, augment=augment)
  state = program.init(jax.random.key(config.seed),
                       train.images[:config.batch_size])
  history, start_epoch, mngr = [], 0, None
  if workdir:
    _prepare_workdir(workdir, spec, data, config)
    if config.checkpoint_every:
      mngr = checkpoint.run_manager(os.path.join(workdir, "checkpoints"),
                                    config.keep_checkpoints)
      restored = checkpoint.restore_run(mngr, state) if config.resume else None
      if restored is not None:
        start_epoch, state, meta = restored
        history = meta["history"]
        if config.verbose:
          print(f"resumed from epoch {start_epoch} in {workdir}", flush=True)
  logs = _Logs(workdir)
  try:
    for epoch in range(start_epoch, config.epochs):
      order = epoch_order(config.seed, epoch, len(train.labels))
      state, loss, train_acc, sec, input_sec = _run_epoch(
          program, state, train, order, config.batch_size)
      _check_finite(epoch + 1, loss)
      acc = accuracy(program, state, split, config.eval_batch_size)
      m = {"epoch": epoch + 1, "eval_split": config.eval_split,
           "target_accuracy": float(acc[spec.target]),
           "accuracy": acc.tolist(), "train_loss": loss.tolist(),
           "train_accuracy": train_acc.tolist(),
           "steps_per_sec": steps_per_epoch / sec,
           "input_fraction": input_sec / sec,
           "lr": float(schedule((epoch + 1) * steps_per_epoch - 1)),
           "seconds": sec}
      history.append(m)
      if mngr and (epoch + 1) % config.checkpoint_every == 0:
        checkpoint.save_run(mngr, epoch + 1, state, {"history": history})
      logs.write(m)
      if config.verbose:
        print(_progress(m, config.epochs), flush=True)
      if callback is not None and callback(epoch + 1, m):
        break
  finally:
    logs.close()
    if mngr:
      mngr.close()
  if workdir:
    _finish(spec, program, state, history, workdir, config)
  accs = [m["target_accuracy"] for m in history]
  return FitResult(state=state, history=history,
                   best_target_accuracy=max(accs, default=float("nan")),
                   final_target_accuracy=accs[-1] if accs else float("nan"),
                   workdir=workdir)
