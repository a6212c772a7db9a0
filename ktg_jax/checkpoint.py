"""Orbax wiring: node variables on disk (frozen teachers) and run state (resume)."""

from __future__ import annotations

import os

import jax
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
