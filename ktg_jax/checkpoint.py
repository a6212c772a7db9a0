"""Orbax wiring: node variables on disk (frozen teachers) and run state (resume)."""

from __future__ import annotations

import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp


def save_variables(path: str, variables) -> str:
  """Writes one node's variables (params + batch_stats) atomically; returns the path."""
  path = os.path.abspath(path)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, variables, force=True)
  return path


def load_variables(path: str | None, like):
  """Reads variables saved by ``save_variables``, shaped like ``like``."""
  if path is None or not os.path.exists(path):
    raise FileNotFoundError(
        f"checkpoint={path!r} does not exist: a frozen node needs the "
        "variables of a label-only run (train one with "
        "`python experiments/train.py --graph=vanilla` and point the node's "
        "'checkpoint' at the saved variables)")
  with ocp.StandardCheckpointer() as ckptr:
    return ckptr.restore(os.path.abspath(path), like)


def load_raw(path: str | None):
  """The variables saved at ``path`` as they are (shapes from the file)."""
  if path is None or not os.path.exists(path):
    raise FileNotFoundError(
        f"checkpoint={path!r} does not exist: a pre-trained node needs saved "
        "variables (make them with `python experiments/train.py "
        "--graph=vanilla`, or pass any checkpoint saved by save_variables)")
  with ocp.StandardCheckpointer() as ckptr:
    return ckptr.restore(os.path.abspath(path))


def merge_pretrained(source, like, reinit=(), head: str = "fc",
                     field: str = "checkpoint"):
  """Pre-trained initialisation (002): ``like``'s leaves taken from ``source``.

  A top-level layer named in ``reinit`` keeps its fresh values from ``like``;
  so does the classifier ``head`` when its shapes differ (another class
  count). Any other missing or differently shaped leaf is an error that names
  it. Logs which layers were loaded and which re-initialised.

  Example:
    >>> import numpy as np
    >>> like = {"params": {"conv": np.zeros(2, np.float32),
    ...                    "fc": np.zeros(3, np.float32)}}
    >>> src = {"params": {"conv": np.ones(2), "fc": np.ones(5)}}
    >>> out = merge_pretrained(src, like)
    >>> out["params"]["conv"].tolist(), out["params"]["fc"].tolist()
    ([1.0, 1.0], [0.0, 0.0, 0.0])
  """
  flat_src = {jax.tree_util.keystr(k): v for k, v in
              jax.tree_util.tree_flatten_with_path(source)[0]}
  loaded, fresh = set(), set()

  def pick(path, fresh_leaf):
    name = jax.tree_util.keystr(path)
    layer = str(getattr(path[1], "key", path[1])) if len(path) > 1 else name
    got = flat_src.get(name)
    if layer in reinit:
      fresh.add(layer)
      return fresh_leaf
    if got is None or np.shape(got) != np.shape(fresh_leaf):
      if layer == head:
        fresh.add(layer)
        return fresh_leaf
      raise ValueError(
          f"{field}.checkpoint: {name} is "
          f"{'missing' if got is None else f'of shape {np.shape(got)}'}, the "
          f"model needs {np.shape(fresh_leaf)}; allowed: add {layer!r} to "
          f"{field}.reinit to initialise it afresh")
    loaded.add(layer)
    return jnp.asarray(got, dtype=fresh_leaf.dtype)

  out = jax.tree_util.tree_map_with_path(pick, like)
  logging.info("%s: loaded %s; re-initialised %s", field, sorted(loaded),
               sorted(fresh))
  return out


# --- run state: every epoch, keep N, resume (orbax CheckpointManager) --------

def _is_key(x) -> bool:
  return isinstance(x, jax.Array) and jax.dtypes.issubdtype(
      x.dtype, jax.dtypes.prng_key)


def _to_saveable(tree):
  """Typed PRNG keys become their raw uint32 data (orbax stores plain arrays)."""
  return jax.tree_util.tree_map(
      lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _from_saveable(tree, like):
  return jax.tree_util.tree_map(
      lambda x, l: jax.random.wrap_key_data(
          x, impl=jax.random.key_impl(l)) if _is_key(l) else x, tree, like)


def run_manager(directory: str, keep: int = 2) -> ocp.CheckpointManager:
  """A manager of run checkpoints under ``directory``, one per epoch, keep ``keep``.

  Orbax writes each step into a temporary folder and renames it when complete,
  so a run killed mid-save (kill -9) leaves the previous checkpoint intact.
  """
  options = ocp.CheckpointManagerOptions(max_to_keep=max(1, keep), create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save_run(mngr: ocp.CheckpointManager, epoch: int, state, meta: dict) -> None:
  """Saves ``state`` (any pytree) and JSON ``meta`` as step ``epoch``."""
  mngr.save(epoch, args=ocp.args.Composite(
      state=ocp.args.StandardSave(_to_saveable(state)),
      meta=ocp.args.JsonSave(meta)))
  mngr.wait_until_finished()


def restore_run(mngr: ocp.CheckpointManager, like):
  """``(epoch, state, meta)`` of the latest checkpoint, or None if there is none."""
  epoch = mngr.latest_step()
  if epoch is None:
    return None
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct,
                                    _to_saveable(like))
  out = mngr.restore(epoch, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
  return epoch, _from_saveable(out["state"], like), out["meta"]
