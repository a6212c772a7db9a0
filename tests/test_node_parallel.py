"""The node-split step (``ktg.compile(..., node_mesh=)``, ktg_jax/parallel/node_axis.py)
equals the one-device step to 1e-5: losses, params, optimizer state and
BatchNorm statistics after 2 steps, on forced host CPU devices: a 4-node DML
graph of small_cnn on 2 devices (two nodes per device)
and a heterogeneous 3-node graph (2 small_cnn + 1 resnet8) on 2; and ``fit``
of a 2-node DML graph with ``config.node_parallel=True`` on 4 devices (the
pair split 2 ways, copies on the other 2) equals ``fit`` without it. (Compiles dominate: each case costs two.)

One subprocess with 4 forced host devices (the device count is fixed when jax
starts); the 2-device cases use a mesh of its first 2 devices.
"""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys, time
    import jax, numpy as np, optax
    import ktg_jax as ktg
    from ktg_jax import data
    from ktg_jax.run import training
    from ktg_jax.parallel import node_axis
    from ktg_jax.parallel import sharding
    assert len(jax.devices()) == 4, jax.devices()
    digits = data.load("digits", limit=128)
    x = np.asarray(digits.train.images[:32], np.float32)
    y = np.asarray(digits.train.labels[:32], np.int32)
    batches = [{"image": x[:16], "label": y[:16]},
               {"image": x[16:], "label": y[16:]}]
    mesh2 = sharding.mesh("node", devices=jax.devices()[:2])
    mesh4 = sharding.mesh("node")
    T0 = [time.perf_counter(), time.process_time()]

    def lap(what):  # progress on stderr: wall and CPU seconds per part
      now = [time.perf_counter(), time.process_time()]
      print(f"{what}: {now[0] - T0[0]:.1f}s wall, {now[1] - T0[1]:.1f}s cpu",
            file=sys.stderr, flush=True)
      T0[:] = now
    kw = dict(num_classes=10, total_steps=4,
              optimizer=optax.sgd(0.1, momentum=0.9))

    def close(a, b):
      la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
      assert len(la) == len(lb) > 0
      for u, v in zip(la, lb):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-5,
                                   rtol=1e-5)

    def plain_run(spec):
      program = ktg.compile(spec, **kw)
      state = program.init(jax.random.key(0), x[:2])
      out = []
      for b in batches:
        state, m = program.step(state, b)
        out.append((state, m))
      return program.init(jax.random.key(0), x[:2]), out

    def check(spec, mesh, plain):
      # plain: (initial state, [(state, metrics)] per step on one device);
      # the state replicated over the node devices (what fit does).
      program = ktg.compile(spec, node_mesh=mesh, **kw)
      state = sharding.replicate(plain[0], mesh)
      for b, (want, m1) in zip(batches, plain[1]):
        state, m2 = program.step(state, b)
        for f in ("params", "model_state", "opt_state"):
          close(getattr(want, f), getattr(state, f))
        for k in ("node_loss", "edge_loss", "node_accuracy"):
          close(m1[k], m2[k])
      assert any("batch_stats" in v for v in want.model_state.values())
      return state, program

    two = ktg.classic.dml(2, model="small_cnn")
    four = ktg.classic.dml(4, model="small_cnn")
    mixed = ktg.classic.dml(["small_cnn", "resnet8", "small_cnn"])
    # 4 nodes on 2 devices, two per device (applied one after the other on
    # the CPU).
    s, program = check(four, mesh2, plain_run(four))
    # the step's program holds the shard_map and its all-gather
    text = str(jax.make_jaxpr(program.step)(s, batches[0]))
    assert "shard_map" in text and "all_gather" in text, text[:500]
    lap("4 nodes, 2 devices")
    # heterogeneous: the small_cnn pair split over 2 devices, resnet8 alone,
    # unsplit (on every device).
    assert node_axis.groups(mixed) == ((0, 2), (1,))
    assert node_axis.group_mesh(mesh4, 1) is None
    check(mixed, mesh2, plain_run(mixed))
    lap("2 small_cnn + resnet8, 2 devices")
    # on 4 devices a pair is split 2 ways, copies on the other 2 (the fit
    # below runs that way)
    assert node_axis.group_mesh(mesh4, 2).shape == {"node": 2,
                                                    "node_copy": 2}
    # fit: node_parallel=True equals the plain run (params, BN, history); 2
    # nodes on 4 devices, one per device of the first 2, copies on the rest.
    def fit(**kw):
      cfg = training.default_config()
      cfg.update(epochs=1, batch_size=32, eval_batch_size=100, augment=False,
                 verbose=False, lr_schedule="constant", **kw)
      return training.fit(two, digits, cfg)
    a = fit()
    lap("fit, one device")
    b = fit(node_parallel=True)
    lap("fit, node_parallel")
    leaf = jax.tree.leaves(b.state.params)[0]
    assert leaf.sharding.mesh.axis_names == ("node",)
    assert len(leaf.sharding.device_set) == 4
    close(a.state.params, b.state.params)
    close(a.state.model_state, b.state.model_state)
    np.testing.assert_allclose(a.history[0]["train_loss"],
                               b.history[0]["train_loss"], atol=1e-5)
    assert a.history[0]["accuracy"] == b.history[0]["accuracy"]
    for bad in (dict(data_parallel=True),
                dict(population_strategy="vmap")):
      try:
        cfg = training.default_config()
        cfg.update(node_parallel=True, **bad)
        training.node_mesh(cfg, cfg.population_strategy or "sequential", 2)
        raise SystemExit(f"node_parallel with {bad} should be refused")
      except ValueError as e:
        assert "node_parallel" in str(e), e
    print("OK")
""")


def test_node_split_step_equals_one_device():
  # LLVM at -O0 (both the reference and the split step, so they stay
  # comparable): the compiles are most of this test's time, 40% less at -O0.
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=4 "
             "--xla_backend_optimization_level=0 "
             "--xla_llvm_disable_expensive_passes=true")
  p = subprocess.run([sys.executable, "-c", SCRIPT], env=env,
                     capture_output=True, text=True, timeout=600,
                     stdin=subprocess.DEVNULL)
  print(p.stderr[-3000:])  # the parts' times (pytest -s shows them)
  assert p.returncode == 0, p.stderr[-3000:]
  assert p.stdout.strip().endswith("OK"), p.stdout[-2000:]


def test_node_mesh_refuses_bad_meshes_and_groups():
  import jax  # pylint: disable=import-outside-toplevel
  import ktg_jax as ktg  # pylint: disable=import-outside-toplevel
  from ktg_jax.parallel import node_axis  # pylint: disable=import-outside-toplevel
  from ktg_jax.parallel import sharding
  one = jax.devices()[:1]
  with pytest.raises(ValueError, match="node_mesh axes.*allowed"):
    node_axis.group_mesh(sharding.mesh("data", devices=one), 2)
  mesh = sharding.mesh("node", devices=one)
  assert node_axis.group_mesh(mesh, 2) is None  # gcd 1: unsplit
  nodes = ktg.classic.dml(2, model="small_cnn").structure()[0]
  # two small_cnn nodes that see different views: not one forward.
  chunks = ((("default", "l"),), (("other", "l"),))
  with pytest.raises(ValueError, match="different chunks.*allowed"):
    node_axis.forwards(nodes, None, {}, {}, chunks, None, mesh)
  ssl = tuple(n._replace(kind="ssl", learner="simclr") for n in nodes)
  with pytest.raises(ValueError, match=r"kinds \['ssl'\]; allowed"):
    node_axis.forwards(ssl, None, {}, {}, chunks[:1] * 2, None, mesh)
