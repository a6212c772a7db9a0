"""GPUs shared by several Ray Tune trials: the JAX allocator settings reach each
trial's process *from its start* (before JAX is imported there), read from
the process's initial environment (/proc/self/environ), not os.environ."""

import os

import pytest
import ray

from ktg_jax.search import presets
from ktg_jax.search import trial
from ktg_jax.search import tune as st


def make_env_probe_fit():
  """A stand-in for training.fit that reports the trial process's *initial*
  environment (a closure, shipped by value to the Ray worker)."""

  def probe_fit(spec, data, config, workdir=None, callback=None):
    del spec, data, config, workdir
    with open("/proc/self/environ", "rb") as f:
      start = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if kv)
    frac = start.get(b"XLA_PYTHON_CLIENT_MEM_FRACTION", b"nan")
    pre = start.get(b"XLA_PYTHON_CLIENT_PREALLOCATE", b"")
    callback(1, {"target_accuracy": float(frac),
                 "accuracy": [float(pre == b"true"), float(os.getpid())]})
  return probe_fit


def test_allocator_env_values():
  assert trial.allocator_env(None) == {}
  assert trial.allocator_env(0.225) == {"XLA_PYTHON_CLIENT_PREALLOCATE": "true",
                                     "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.225"}
  with pytest.raises(st.SearchError, match="gpu_memory_fraction=1.5"):
    trial.allocator_env(1.5)


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"),
                    reason="reads a process's initial environment (Linux)")
def test_allocator_env_is_in_the_trial_process_from_its_start(tmp_path):
  if ray.is_initialized():
    ray.shutdown()  # run() must start Ray itself, with the variables
  space = presets.get("tiny", num_nodes=2, aux_models=("small_cnn",))
  sc = st.SearchConfig(
      space=space, output_dir=str(tmp_path), num_trials=1, workers=1,
      epochs=1, settings=st.Settings(dataset="digits", limit=100,
                                     gpu_memory_fraction=0.2,
                                     train=dict(epochs=1)))
  assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in os.environ
  try:
    grid = st.run(sc, fit_fn=make_env_probe_fit())
  finally:
    ray.shutdown()
  (result,) = list(grid)
  assert result.error is None, result.error
  assert result.metrics[st.METRIC] == pytest.approx(0.2)
  preallocate, pid = result.metrics["node_accuracy"]
  assert preallocate == 1.0
  assert int(pid) != os.getpid()  # it ran in a Ray worker, not here
  assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in os.environ  # driver untouched


def test_thread_env_gives_side_by_side_cpu_trials_their_cpus_as_threads():
  one = trial.thread_env(2, 1.0, environ={})
  assert one == {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                              "intra_op_parallelism_threads=1"}
  two = trial.thread_env(3, 2.0, environ={"XLA_FLAGS": "--xla_dump_to=/tmp/d"})
  assert two == {"XLA_FLAGS": "--xla_dump_to=/tmp/d --xla_cpu_multi_thread_"
                              "eigen=true intra_op_parallelism_threads=2"}
  # one trial at a time keeps XLA's default (all cores); GPU trials and a
  # user's own thread setting are left alone
  assert trial.thread_env(1, 1.0, environ={}) == {}
  assert trial.thread_env(2, 1.0, gpus_per_trial=1.0, environ={}) == {}
  assert trial.thread_env(2, 1.0, environ={
      "XLA_FLAGS": "intra_op_parallelism_threads=4"}) == {}
