"""The same graph trained with several seeds: mean ± std (SPEC §4: 5 seeds).

Two strategies, chosen per backend (``STRATEGY``):

* ``sequential``: ``training.fit`` once per seed (own workdir, checkpoints,
  pictures). Measured on the 2-core CPU (experiments/seed_speed.py, 3 seeds,
  2 x small_cnn DML, batch 64): a vmap over stacked states took 1.23x the
  time of the sequential steps on 8x8 images and 2.92x on 28x28 — XLA:CPU
  convolutions do not batch over the extra axis — so CPU runs sequentially.
* ``vmap``: one ``jax.vmap(program.step)`` over the seeds' stacked states,
  each seed with its own data order; on accelerators one wide program beats
  S narrow ones. No checkpoints / resume on this path.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ktg_jax import training
from ktg_jax.data import augment as augment_lib
from ktg_jax.step import compile as compile_graph

STRATEGY = {"cpu": "sequential", "gpu": "vmap", "tpu": "vmap"}


class SeedsResult(NamedTuple):
  seeds: tuple
  final: np.ndarray      # final target accuracy per seed
  mean: float
  std: float             # population std over seeds (ddof=0)
  histories: list        # per seed, a list of per-epoch metric dicts
  strategy: str


def _summary(seeds, histories, strategy) -> SeedsResult:
  final = np.asarray([h[-1]["target_accuracy"] for h in histories])
  return SeedsResult(tuple(seeds), final, float(final.mean()),
                     float(final.std()), histories, strategy)


def fit_sequential(spec, data, config, seeds, workdir=None) -> SeedsResult:
  histories = []
  for seed in seeds:
    cfg = config.copy_and_resolve_references()
    cfg.seed = seed
    run_dir = os.path.join(workdir, f"seed{seed}") if workdir else None
    histories.append(training.fit(spec, data, cfg, run_dir).history)
  return _summary(seeds, histories, "sequential")


def fit_vmap(spec, data, config, seeds, workdir=None) -> SeedsResult:
  """All seeds in one vmapped program; evaluation on ``config.eval_split``."""
  del workdir
  split = training.eval_split(data, config.eval_split)
  train, bs = data.train, config.batch_size
  steps = len(train.labels) // bs
  optimizer, _ = training.make_optimizer(config, steps)
  program = compile_graph(
      spec, num_classes=data.num_classes, total_steps=config.epochs * steps,
      optimizer=optimizer, jit=False,
      augment=augment_lib.for_dataset(data.name) if config.augment else None)
  states = [program.init(jax.random.key(s), train.images[:bs]) for s in seeds]
  state = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *states)
  step = jax.jit(jax.vmap(program.step))
  evaluate = jax.jit(jax.vmap(program.evaluate, in_axes=(0, None)))
  histories = [[] for _ in seeds]
  for epoch in range(config.epochs):
    orders = [training.epoch_order(s, epoch, len(train.labels)) for s in seeds]
    loss = 0.0
    for k in range(steps):
      ids = np.stack([o[k * bs:(k + 1) * bs] for o in orders])
      state, m = step(state, {"image": train.images[ids],
                              "label": train.labels[ids]})
      loss = loss + m["node_loss"]
    loss = np.asarray(loss) / steps
    correct = 0
    for start in range(0, len(split.labels), config.eval_batch_size):
      logits = evaluate(state, split.images[start:start + config.eval_batch_size])
      correct = correct + np.sum(np.asarray(jnp.argmax(logits, -1)) ==
                                 split.labels[start:start + config.eval_batch_size], -1)
    acc = correct / len(split.labels)
    for i in range(len(seeds)):
      training._check_finite(epoch + 1, loss[i])  # pylint: disable=protected-access
      histories[i].append({"epoch": epoch + 1, "eval_split": config.eval_split,
                           "target_accuracy": float(acc[i, spec.target]),
                           "accuracy": acc[i].tolist(),
                           "train_loss": loss[i].tolist()})
  return _summary(seeds, histories, "vmap")


STRATEGIES = {"sequential": fit_sequential, "vmap": fit_vmap}


def fit_seeds(spec, data, config, seeds, workdir=None,
              strategy: str | None = None) -> SeedsResult:
  """Trains ``spec`` once per seed; ``strategy`` None = by backend (``STRATEGY``)."""
  strategy = strategy or STRATEGY.get(jax.default_backend(), "sequential")
  if strategy not in STRATEGIES:
    raise ValueError(f"strategy={strategy!r}; allowed: {sorted(STRATEGIES)}")
  return STRATEGIES[strategy](spec, data, config, tuple(seeds), workdir)
