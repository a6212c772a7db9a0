"""Sharded KTG steps equal the one-device step (to 1e-5): the population axis,
the batch axis (data parallel) and both at once (a 2-D mesh), on 2 and 4
forced host CPU devices (4: the 2-D mesh splits both axes; 8 devices added
nothing to check and a third process to the suite's 2 cores).

Each device count runs in a subprocess (XLA flag), since the device count is
fixed when jax starts.
"""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np, optax
    import ktg_jax as ktg
    from ktg_jax.run import population
    from ktg_jax.parallel import sharding
    from ktg_jax.core import gates
    from ktg_jax.core import LABEL, GraphSpec
    n = int(sys.argv[1])
    assert len(jax.devices()) == n, jax.devices()
    other = GraphSpec(("small_cnn",) * 2, {(LABEL, 0): gates.Through(),
                      (LABEL, 1): gates.Linear(), (1, 0): gates.Correct()})
    graphs = [ktg.classic.dml(2, model="small_cnn"), other]
    program = ktg.compile(graphs[0], num_classes=5, total_steps=4, jit=False,
                          optimizer=optax.sgd(0.1, momentum=0.9))
    rng = np.random.default_rng(0)
    B = 16  # a multiple of every data-axis size used

    def population_states(k):
      states = [program.init(jax.random.key(i), np.zeros((B, 12, 12, 1)),
                             edges=graphs[i % 2].edge_table())
                for i in range(k)]
      return population.stack(states)

    def batch(*lead):
      return {"image": rng.normal(size=lead + (B, 12, 12, 1)).astype("f4"),
              "label": rng.integers(0, 5, lead + (B,)).astype("i4")}

    def close(a, b):
      la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
      assert len(la) == len(lb) > 0
      for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-5,
                                   rtol=1e-5)

    def check(step, state, batches, mesh, population_):
      plain = state
      sharded = (sharding.shard_population(state, mesh) if population_ else
                 sharding.replicate(state, mesh))
      for b in batches:
        plain, m1 = step(plain, b)
        sharded, m2 = step(sharded,
                           sharding.shard_batch(b, mesh, population_))
      leaf = jax.tree.leaves(sharded.params)[0]
      assert len(leaf.sharding.device_set) == n, leaf.sharding
      close(plain.params, sharded.params)
      close(plain.model_state, sharded.model_state)
      close(m1["node_loss"], m2["node_loss"])
      return leaf.sharding

    vstep = jax.jit(jax.vmap(program.step))
    # 1. Population only: K = n members, one per device.
    mesh = sharding.mesh("population")
    s = check(vstep, population_states(n), [batch(n), batch(n)], mesh, True)
    assert s.spec[0] == "population", s
    # 2. Data parallel only: one graph, the batch split over n devices.
    mesh = sharding.mesh("data")
    s = check(jax.jit(program.step), program.init(
        jax.random.key(7), np.zeros((B, 12, 12, 1))), [batch(), batch()],
        mesh, False)
    assert s.is_fully_replicated, s
    # 3. Both: a (2, n/2) mesh: K = n members in 2 groups, each group's
    # batches split over n/2 devices (the plain vstep of 1. is reused).
    mesh = sharding.mesh(("population", "data"), shape=(2, n // 2))
    s = check(vstep, population_states(n), [batch(n), batch(n)], mesh, True)
    assert s.spec[0] == "population", s
    try:
      sharding.shard_population({"x": np.zeros((3, 2))}, mesh)
      raise SystemExit("3 members on 2 population shards should be refused")
    except ValueError as e:
      assert "not a multiple" in str(e), e
    if n == 2:  # training.fit data parallel equals fit on one device: a
      # population of 2 seeds (one graph runs the same runner with K = 1),
      # stepped sequentially and as one vmapped program. The reference is
      # sequential: on XLA:CPU a vmapped K=2 program on ONE device leaves
      # separate runs by ~2e-3 on digits (population.py); split, it does not.
      from ktg_jax import data
      from ktg_jax.run import training
      digits = data.load("digits", limit=128)

      def fit(spec, seeds, **kw):
        cfg = training.default_config()
        cfg.update(epochs=1, batch_size=32, eval_batch_size=100,
                   augment=False, verbose=False, lr_schedule="constant",
                   shard_population=False, **kw)
        return training.fit(spec, digits, cfg, seeds=seeds)

      one = fit(graphs[0], [0, 1], data_parallel=False,
                population_strategy="sequential")
      for strategy in ("sequential", "vmap"):
        two = fit(graphs[0], [0, 1], data_parallel=True,
                  population_strategy=strategy)
        leaf = jax.tree.leaves(two.state.params)[0]
        assert len(leaf.sharding.device_set) == 2, leaf.sharding
        assert leaf.sharding.mesh.axis_names == ("data",), leaf.sharding
        assert len(jax.tree.leaves(one.state.params)[0].sharding
                   .device_set) == 1
        close(one.state.params, two.state.params)
        close(one.state.model_state, two.state.model_state)
    print("OK", n)
""")


COUNTS = (2, 4)


@pytest.fixture(scope="module")
def runs():
  """The device counts at once (each compile is single-threaded)."""
  procs = {}
  for n in COUNTS:
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
    procs[n] = subprocess.Popen([sys.executable, "-c", SCRIPT, str(n)],
                                env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
  return {n: (p.communicate(timeout=600), p.returncode)
          for n, p in procs.items()}


@pytest.mark.parametrize("devices", COUNTS)
def test_sharded_steps_match_one_device(runs, devices):
  (stdout, stderr), returncode = runs[devices]
  assert returncode == 0, stderr[-3000:]
  assert stdout.startswith(f"OK {devices}")


def test_mesh_refuses_bad_axes_and_shapes():
  from ktg_jax.parallel import sharding  # pylint: disable=import-outside-toplevel
  with pytest.raises(ValueError, match="axis=.*allowed"):
    sharding.mesh("nodes")
  with pytest.raises(ValueError, match="shape=.*does not fit"):
    sharding.mesh(("population", "data"), shape=(2, 3))


@pytest.mark.gpu_subset
def test_population_and_data_meshes_on_the_devices_present():
  """The population and data meshes over whatever devices this process has
  (a GPU under benchmarks/device_check.py; one CPU device here): sharded
  steps equal the plain ones to 1e-5."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  import ktg_jax as ktg  # pylint: disable=import-outside-toplevel
  from ktg_jax.run import population  # pylint: disable=import-outside-toplevel
  from ktg_jax.parallel import sharding
  n = jax.device_count()
  spec = ktg.classic.dml(2, model="small_cnn")
  program = ktg.compile(spec, num_classes=5, total_steps=4, jit=False,
                        optimizer=optax.sgd(0.1, momentum=0.9))
  rng = np.random.default_rng(0)
  b = 8 * n

  def batch(*lead):
    return {"image": rng.normal(size=lead + (b, 12, 12, 1)).astype("f4"),
            "label": rng.integers(0, 5, lead + (b,)).astype("i4")}

  def close(x, y):
    lx, ly = jax.tree.leaves(x), jax.tree.leaves(y)
    assert len(lx) == len(ly) > 0
    for u, v in zip(lx, ly):
      np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-5,
                                 rtol=1e-5)

  with jax.default_matmul_precision("highest"):
    # population: K = 2n members, 2 per device
    k = 2 * n
    states = population.stack([program.init(jax.random.key(i),
                                            np.zeros((b, 12, 12, 1)))
                               for i in range(k)])
    mesh = sharding.mesh("population")
    vstep = jax.jit(jax.vmap(program.step))
    plain, sharded = states, sharding.shard_population(states, mesh)
    for bt in (batch(k), batch(k)):
      plain, m1 = vstep(plain, bt)
      sharded, m2 = vstep(sharded, sharding.shard_batch(bt, mesh, True))
    assert len(jax.tree.leaves(sharded.params)[0].sharding.device_set) == n
    close(plain.params, sharded.params)
    close(m1["node_loss"], m2["node_loss"])
    # data parallel: one graph, the batch split over the n devices
    mesh = sharding.mesh("data")
    step = jax.jit(program.step)
    s0 = program.init(jax.random.key(7), np.zeros((b, 12, 12, 1)))
    plain, sharded = s0, sharding.replicate(s0, mesh)
    for bt in (batch(), batch()):
      plain, m1 = step(plain, bt)
      sharded, m2 = step(sharded, sharding.shard_batch(bt, mesh))
    close(plain.params, sharded.params)
    close(plain.model_state, sharded.model_state)
    close(m1["node_loss"], m2["node_loss"])
