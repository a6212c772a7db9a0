"""Per-seed frozen teachers of a sweep: the all-Cutoff auxiliary node (SPEC §1).

A node whose incoming edges are all Cutoff never learns. As in the thesis and
the authors' code, such an auxiliary node is a *pre-trained* model loaded
from a checkpoint (KD's teacher), so KD, DML and every mixed graph are points
of one space. ``SearchSpace.pretrained_checkpoints`` already maps an aux
model to that checkpoint (``spaces.to_spec``); this module adds one teacher
*per seed*: a checkpoint path holding a ``{seed}`` field is a template,
relative to the sweep's teachers folder (its output folder unless
``exhaustive.run(teachers_dir=...)``), that ``for_seed`` fills in, and
``train`` trains every missing teacher first — the aux model alone on the
labels (Vanilla), same data and training config as the sweep, with that
seed; resumable (``fit``'s checkpoints), finished when its ``teacher.json``
exists.

Example:
  >>> from ktg_jax.search import presets
  >>> s = presets.get("tiny", num_nodes=2, aux_models=("small_cnn",),
  ...                pretrained_checkpoints={"small_cnn": template("small_cnn")})
  >>> for_seed(s, 3, "/sweep").pretrained_checkpoints["small_cnn"]
  '/sweep/teachers/small_cnn_seed3/variables/node0'
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Callable, Sequence

from ktg_jax.search import spaces

DONE = "teacher.json"


def template(model: str) -> str:
  """The default per-seed checkpoint template of ``model``'s teacher."""
  return os.path.join("teachers", f"{model}_seed{{seed}}", "variables",
                      "node0")


def is_template(path: str) -> bool:
  return "{seed}" in path


def for_seed(space: spaces.SearchSpace, seed: int,
             root: str) -> spaces.SearchSpace:
  """``space`` with every ``{seed}`` checkpoint template filled in (and made
  relative to the folder ``root``); other checkpoints are left as given."""
  if not any(is_template(p) for p in space.pretrained_checkpoints.values()):
    return space
  return space._replace(pretrained_checkpoints={
      m: os.path.join(root, p.format(seed=seed)) if is_template(p)
      else p for m, p in space.pretrained_checkpoints.items()})


def run_dir(checkpoint: str) -> str:
  """The teacher's ``fit`` workdir (``.../variables/node0`` -> ``...``)."""
  return os.path.dirname(os.path.dirname(checkpoint))


def needed(space: spaces.SearchSpace, seeds: Sequence[int],
           root: str) -> list[tuple[str, int, str]]:
  """(model, seed, checkpoint) of every per-seed teacher the sweep uses."""
  out = []
  for model, path in sorted(space.pretrained_checkpoints.items()):
    if is_template(path):
      out += [(model, int(s), os.path.join(root, path.format(seed=s)))
              for s in seeds]
  return out


def read(checkpoint: str) -> dict | None:
  """A finished teacher's record, or None."""
  path = os.path.join(run_dir(checkpoint), DONE)
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def train(space: spaces.SearchSpace, data, config, root: str,
          seeds: Sequence[int], *, fit_fn: Callable | None = None,
          log: Callable = print) -> list[dict]:
  """Trains every missing per-seed teacher (Vanilla of the aux model, label
  only, ``config``'s regime, scored on ``config.eval_split``); returns one
  record per teacher: model, seed, checkpoint, score (final accuracy),
  curve (accuracy per epoch), train_acc (last epoch), wall_s."""
  from ktg_jax import classic  # pylint: disable=import-outside-toplevel
  if fit_fn is None:
    from ktg_jax.run import training  # pylint: disable=import-outside-toplevel
    fit_fn = training.fit
  out = []
  for model, seed, checkpoint in needed(space, seeds, root):
    record = read(checkpoint)
    if record is None:
      workdir = run_dir(checkpoint)
      cfg = config.copy_and_resolve_references()
      cfg.update(seed=seed, resume=True, checkpoint_every=1,
                 save_variables=True, pictures=False)
      start = time.time()
      r = fit_fn(classic.vanilla(model), data, cfg, workdir)
      record = {"model": model, "seed": seed,
                "checkpoint": os.path.relpath(checkpoint, root),
                "score": float(r.final_target_accuracy),
                "curve": [float(m["accuracy"][0]) for m in r.history],
                "train_acc": float(r.history[-1]["train_accuracy"][0]),
                "epochs": len(r.history), "wall_s": time.time() - start}
      with open(os.path.join(workdir, DONE + ".tmp"), "w") as f:
        json.dump(record, f)
      os.replace(os.path.join(workdir, DONE + ".tmp"),
                 os.path.join(workdir, DONE))  # atomic: the finished mark
      shutil.rmtree(os.path.join(workdir, "checkpoints"), ignore_errors=True)
      log(f"[teachers] {model} seed {seed}: {config.eval_split} accuracy "
          f"{record['score']:.4f}, train acc {record['train_acc']:.3f}, "
          f"{record['wall_s']:.0f} s")
    out.append(record)
  return out
