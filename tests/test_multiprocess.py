"""Two processes on this machine (``jax.distributed`` over 127.0.0.1, CPU gloo
collectives): a data-parallel KTG step — each process placing its half of the
batch (``sharding.place``, what ``training.fit`` uses) — equals the one-process step on the whole batch, to 1e-5; and so does
``training.fit`` run by both processes into one workdir (what
``experiments/train.py --coordinator_address=...`` does), with its orbax
checkpoints and process 0's metrics."""

import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np

B, STEPS = 16, 2

COMMON = textwrap.dedent("""
    import numpy as np, optax
    import ktg_jax as ktg

    def fit_run(workdir=None):
      from ktg_jax import data
      from ktg_jax.run import training
      cfg = training.default_config()
      cfg.update(epochs=2, batch_size=16, eval_batch_size=100, augment=False,
                 verbose=False, lr_schedule="constant", pictures=False,
                 checkpoint_every=1 if workdir else 0)
      return training.fit(ktg.classic.dml(2, "small_cnn"),
                          data.load("digits", limit=96), cfg, workdir)

    def setup():
      program = ktg.compile(ktg.classic.dml(2, "small_cnn"), num_classes=5,
                            total_steps=4, jit=False,
                            optimizer=optax.sgd(0.1, momentum=0.9))
      rng = np.random.default_rng(0)
      images = rng.normal(size=(16, 12, 12, 1)).astype("f4")
      labels = rng.integers(0, 5, 16).astype("i4")
      return program, {"image": images, "label": labels}
""")

WORKER = COMMON + textwrap.dedent("""
    import sys
    import jax
    from jax.sharding import PartitionSpec
    from ktg_jax.parallel import sharding
    port, pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    # What experiments/train.py --coordinator_address=... does.
    assert sharding.initialize(f"127.0.0.1:{port}", 2, pid,
                               bind_address=f"127.0.0.1:{port}")
    assert jax.process_count() == 2 and len(jax.devices()) == 2
    assert len(jax.local_devices()) == 1
    program, batch = setup()
    state = program.init(jax.random.key(7), batch["image"])  # same in both
    mesh = sharding.mesh("data")
    state = sharding.place(state, mesh, PartitionSpec())
    host = batch
    batch = sharding.place(host, mesh, sharding.batch_spec(mesh, False))
    assert batch["image"].shape[0] == 16  # the global batch
    half = len(batch["label"]) // 2   # this process holds its half only
    assert [s.data.shape[0] for s in batch["image"].addressable_shards] == [
        half]
    np.testing.assert_array_equal(
        batch["label"].addressable_data(0),
        host["label"][pid * half:(pid + 1) * half])
    step = jax.jit(program.step)
    for _ in range(2):
      state, metrics = step(state, batch)
    leaves = [np.asarray(x.addressable_data(0))
              for x in jax.tree.leaves(state.params)]
    np.savez(out, *leaves, loss=np.asarray(metrics["node_loss"]
                                           .addressable_data(0)))
    # fit: data parallel by default when several processes joined.
    result = fit_run(sys.argv[4])
    np.savez(out + ".fit.npz", *[np.asarray(x.addressable_data(0)) for x in
                                 jax.tree.leaves(result.state.params)])
    jax.distributed.shutdown()
    print("OK", pid)
""")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_initialize_checks_its_arguments():
  from ktg_jax.parallel import sharding  # pylint: disable=import-outside-toplevel
  import pytest  # pylint: disable=import-outside-toplevel
  assert sharding.initialize(None, None, None) is False
  with pytest.raises(ValueError, match="without coordinator_address"):
    sharding.initialize(None, 2, 1)
  with pytest.raises(ValueError, match="process_id=2"):
    sharding.initialize("127.0.0.1:1234", 2, 2)
  with pytest.raises(ValueError, match="num_processes=0"):
    sharding.initialize("127.0.0.1:1234", 0, 0)


def test_two_process_data_parallel_step_equals_one_process(tmp_path):
  port = _free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)  # one CPU device per process
  procs = [subprocess.Popen(
      [sys.executable, "-c", WORKER, str(port), str(pid),
       str(tmp_path / f"proc{pid}.npz"), str(tmp_path / "run")], env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for pid in (0, 1)]
  outs = [p.communicate(timeout=300) for p in procs]
  for pid, (p, (stdout, stderr)) in enumerate(zip(procs, outs)):
    assert p.returncode == 0, stderr[-3000:]
    assert stdout.strip().endswith(f"OK {pid}")

  # The one-process reference, here: the whole batch on one device.
  scope = {}
  exec(COMMON, scope)  # pylint: disable=exec-used
  program, batch = scope["setup"]()
  state = program.init(jax.random.key(7), batch["image"])
  step = jax.jit(program.step)
  for _ in range(STEPS):
    state, metrics = step(state, batch)
  want = [np.asarray(x) for x in jax.tree.leaves(state.params)]
  for pid in (0, 1):
    got = np.load(tmp_path / f"proc{pid}.npz")
    assert len(got.files) == len(want) + 1
    for i, w in enumerate(want):
      np.testing.assert_allclose(got[f"arr_{i}"], w, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got["loss"], metrics["node_loss"], atol=1e-5)
  # fit on two processes == fit in this one process; one set of files.
  alone = [np.asarray(x) for x in jax.tree.leaves(
      scope["fit_run"]().state.params)]
  for pid in (0, 1):
    got = np.load(tmp_path / f"proc{pid}.npz.fit.npz")
    assert len(got.files) == len(alone)
    for i, w in enumerate(alone):
      np.testing.assert_allclose(got[f"arr_{i}"], w, atol=1e-5, rtol=1e-5)
  with open(tmp_path / "run" / "metrics.jsonl") as f:
    assert len(f.readlines()) == 2  # one line per epoch: process 0 wrote
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["1", "2"]
  # The steps moved the parameters, so equality is not that of two inits.
  init = program.init(jax.random.key(7), batch["image"])
  assert max(np.max(np.abs(a - np.asarray(b))) for a, b in
             zip(want, jax.tree.leaves(init.params))) > 1e-3
