"""``FitConfig``: every knob ``fit`` reads, as one typed record — and nothing else.

A script's configuration (an ``ml_collections.ConfigDict``, overridable from
the command line as ``--config.epochs=20``) holds more than ``fit`` reads: the
data set, the split, the node models, a family's builder weights.
``FitConfig.of(config)`` picks the fields of ``fit`` out of any such mapping,
so ``fit`` depends on exactly these fields; ``config_fields()`` gives them back
as ``ConfigDict`` entries (typed placeholders for the ``None`` defaults, so a
command line can still set them).

Defaults: the ch.3 CIFAR protocol (docs/papers.md §5) at 200 epochs.

Example:
  >>> import ml_collections
  >>> script = ml_collections.ConfigDict(dict(dataset="digits", epochs=3))
  >>> run = FitConfig.of(script)          # "dataset" is not fit's
  >>> run.epochs, run.batch_size, run.lr_schedule, hasattr(run, "dataset")
  (3, 64, 'step', False)
  >>> FitConfig.of({"epochs": "three"})
  Traceback (most recent call last):
  ...
  ValueError: config.epochs='three'; allowed: an int
"""

from __future__ import annotations

import json
from typing import Any, Mapping, NamedTuple

from ktg_jax import typed_config


class FitConfig(NamedTuple):
  """The knobs of ``ktg_jax.run.training.fit``."""
  # --- schedule and optimizer (docs/papers.md §5: SGD, Nesterov 0.9, wd 5e-4;
  # lr 0.1 divided by 10 at epochs 60/120/180 of 200)
  epochs: int = 200
  batch_size: int = 64
  learning_rate: float = 0.1
  lr_schedule: str = "step"            # training.SCHEDULES
  lr_boundaries: tuple = (0.3, 0.6, 0.9)  # fractions of the run ("step")
  lr_decay: float = 0.1
  momentum: float = 0.9
  nesterov: bool = True
  weight_decay: float = 5e-4
  seed: int = 0
  augment: bool = True                 # the data set's augmentation, in the step
  # --- evaluation: "val" for search / model selection, "test" for final
  # numbers (docs/papers.md §4)
  eval_split: str = "val"
  eval_batch_size: int = 500
  # Evaluate after every this-many epochs and always after the last; 0 =
  # after the last only (final runs read the test split once).
  eval_every_epochs: int = 1
  score: str = "target"                # scoring.SCORES: "target" | "best"
  # scoring.EVAL_METRICS: "accuracy" | "knn"; None = "knn" for a graph with
  # ssl nodes (000), else "accuracy". KNN vote: DINO's k = 20, T = 0.07.
  eval_metric: str | None = None
  knn_k: int = 20
  knn_temperature: float = 0.07
  # --- run folder
  checkpoint_every: int = 1
  keep_checkpoints: int = 2
  resume: bool = False
  save_variables: bool = True
  pictures: bool = True
  verbose: bool = True
  # --- populations and devices (ktg_jax/run/population.py, ktg_jax/parallel/)
  population_strategy: str | None = None  # "sequential" | "vmap"; None = by backend
  shard_population: bool | None = None    # None = yes on several devices
  data_parallel: bool | None = None       # None = yes with several processes
  node_parallel: bool = False
  # --- the compiled step: loss kinds it may select (() = its default), the
  # gradient aggregation (None = sum, "pcgrad": thesis §4.3.3), mixed
  # precision (ktg_jax/core/precision.py: None = float32, "bfloat16")
  loss_kinds: tuple = ()
  aggregate: str | None = None
  compute_dtype: str | None = None
  # --- semi-supervised feeds (ktg_jax/run/feeds.py, docs/papers.md §5 ch.5):
  # unlabelled batch = unlabeled_ratio (mu) * batch_size; iterations per
  # "epoch" (None = one pass over the unlabelled pool); view name -> kind.
  unlabeled_ratio: int = 7
  eval_every: int | None = None
  views: dict = {"weak": "weak", "strong": "strong", "a": "weak", "b": "weak"}

  @classmethod
  def of(cls, config: "FitConfig | Mapping[str, Any]") -> "FitConfig":
    """The fields of ``fit`` in ``config`` (a ``FitConfig``, a ``ConfigDict``
    or a mapping); fields it lacks keep their defaults, other fields (the
    data set, models, ...) are not ``fit``'s and are left out."""
    return typed_config.pick(cls, config)


def config_fields(config: FitConfig = FitConfig()) -> dict:
  """``config``'s fields as ``ConfigDict`` entries (typed placeholders for
  ``None``, so ``--config.population_strategy=vmap`` still parses).

  >>> config_fields()["eval_metric"].__class__.__name__
  'FieldReference'
  """
  return typed_config.config_fields(config)


def record(config, **overrides) -> dict:
  """What a run folder records of ``config`` (a ``FitConfig``, a
  ``ConfigDict`` with the script's other fields, or a mapping), JSON-able.

  >>> record(FitConfig(epochs=3), seed=7)["seed"]
  7
  """
  if isinstance(config, FitConfig):
    fields = config._asdict()
  elif hasattr(config, "to_json_best_effort"):
    fields = json.loads(config.to_json_best_effort())
  else:
    fields = dict(config)
  fields.update(overrides)
  return json.loads(json.dumps(fields, default=str))
