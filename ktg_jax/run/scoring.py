"""How ``fit`` scores a graph: which split, which metric, which node.

The evaluation split ("val" for search and model selection, "test" only
for final numbers, docs/papers.md §4), a node's score (``EVAL_METRICS``: top-1 of its
logits, or KNN of its features for ssl nodes), the graph's score from its
nodes' (``SCORES``: the target node, or the best one), the epochs that are
evaluated (``evaluates``), and the ensemble report of an ensemble target.

Example:
  >>> import numpy as np
  >>> from ktg_jax import data
  >>> from ktg_jax.run import scoring
  >>> split = data.Split(np.zeros((3, 2, 2, 1), np.float32), np.array([0, 1, 1]))
  >>> logits = lambda state, x: np.tile([[0.0, 1.0]], (len(x), 1))[None]
  >>> scoring.accuracy(logits, None, split, batch_size=2).round(3).tolist()
  [0.667]
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import numpy as np

from ktg_jax import data as data_lib
from ktg_jax.metrics import ensemble as ensemble_metrics
from ktg_jax.metrics import node_knn
from ktg_jax.core import nodes as nodes_lib
from ktg_jax.core import GraphSpec
from ktg_jax.core import node_modules, node_variables


# The score of a graph from its nodes' accuracies [N] (ch.5's FixMatch space:
# the better of the two nodes).
SCORES: dict[str, Callable[[Any, GraphSpec], float]] = {
    "target": lambda acc, spec: float(acc[spec.target]),
    "best": lambda acc, spec: float(np.max(acc)),
}


def score_fn(config) -> Callable[[Any, GraphSpec], float]:
  """``SCORES[config.score]`` (default "target")."""
  score = config.score
  if score not in SCORES:
    raise ValueError(f"score={score!r}; allowed: {sorted(SCORES)}")
  return SCORES[score]


def top1(config, runner, members_, state, data, split) -> np.ndarray:
  del members_, data
  return accuracy(runner.evaluate, state, split, config.eval_batch_size)


def knn(config, runner, members_, state, data, split) -> np.ndarray:
  """[K, N] KNN accuracies of every member's nodes (``evaluation``)."""
  out = []
  for k, member in enumerate(members_):
    st = runner.member(state, k)
    modules = node_modules(member.spec, data.num_classes)
    variables = [None if m is None else node_variables(st, i)
                 for i, m in enumerate(modules)]
    out.append(node_knn.knn_node_accuracy(
        modules, variables, data.train, split, data.num_classes,
        k=config.knn_k, temperature=config.knn_temperature,
        batch_size=config.eval_batch_size))
  return np.stack(out)


# name -> fn(config, runner, members, state, data, split) -> [K, N] scores.
EVAL_METRICS: dict[str, Callable] = {"accuracy": top1, "knn": knn}


def eval_metric(config, specs) -> str:
  """``config.eval_metric``, or by the graphs: "knn" when a node's kind is
  scored by KNN (``NodeKind.metric``: ssl nodes, 000)."""
  name = config.eval_metric or (
      "knn" if any(nodes_lib.KINDS[n.kind].metric == "knn"
                   for s in specs for n in s.nodes) else "accuracy")
  if name not in EVAL_METRICS:
    raise ValueError(f"eval_metric={name!r}; allowed: {sorted(EVAL_METRICS)}")
  return name


def describe_metric(config, name: str) -> str:
  """The metric as every reported number states it."""
  if name == "knn":
    return (f"knn(k={config.knn_k}, T={config.knn_temperature}, weighted "
            "cosine, train-split bank)")
  return name


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


def accuracy(evaluate, state, split, batch_size: int) -> np.ndarray:
  """Top-1 accuracy on ``split`` of every node (``[N]``, or ``[K, N]`` for a
  population's ``evaluate``); the last batch is padded, not recompiled."""
  correct, start = 0, 0
  for images, n in data_lib.padded_batches(split.images, batch_size):
    logits = evaluate(state, images)[..., :n, :]
    correct = correct + np.sum(np.asarray(jnp.argmax(logits, -1))
                               == split.labels[start:start + n], axis=-1)
    start += n
  return correct / max(len(split.labels), 1)


def logits_of(evaluate, state, split, batch_size: int) -> np.ndarray:
  """Every node's logits on ``split``, ``[..., N, n, C]`` (padded batches)."""
  return np.concatenate(
      [np.asarray(evaluate(state, images))[..., :n, :]
       for images, n in data_lib.padded_batches(split.images, batch_size)],
      axis=-2)


def ensemble_reports(members_, runner, state, split, batch_size) -> list:
  """Per member: ``ensemble_metrics.ensemble_report`` of its ensemble node (ch.4
  eqs 4.2, 4.4, 4.10) on ``split``, or None for a graph without one."""
  target = lambda m: m.spec.nodes[m.spec.target]
  if not any(target(m).members for m in members_):
    return [None] * len(members_)
  logits = logits_of(runner.evaluate, state, split, batch_size)   # [K, N, n, C]
  return [ensemble_metrics.ensemble_report(logits[k], split.labels,
                                     m.spec.nodes[m.spec.target].members)
          if target(m).members else None
          for k, m in enumerate(members_)]


def evaluates(config, epoch: int) -> bool:
  """Whether ``fit`` evaluates after ``epoch`` (1-based); NaN otherwise."""
  every = config.eval_every_epochs
  if not isinstance(every, int) or every < 0:
    raise ValueError(f"eval_every_epochs={every!r}; allowed: an int >= 0 "
                     "(0 = after the last epoch only)")
  return epoch == config.epochs or (every > 0 and epoch % every == 0)
