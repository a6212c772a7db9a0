"""Populations sharded over devices give the same numbers as on one device.

Runs in a subprocess with 4 forced host CPU devices (XLA flag), since the
device count is fixed when jax starts.
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, optax
    import ktg_jax as ktg
    from ktg_jax import gates, sharding
    from ktg_jax.graph import LABEL, GraphSpec
    assert len(jax.devices()) == 4, jax.devices()
    graphs = [ktg.classic.dml(2, model="small_cnn"),
              GraphSpec(("small_cnn",) * 2, {(LABEL, 0): gates.Through(),
                        (LABEL, 1): gates.Linear(), (1, 0): gates.Correct()})]
    graphs = graphs * 2
    program = ktg.compile(graphs[0], num_classes=5, total_steps=4,
                          optimizer=optax.sgd(0.1))
    k1, k2 = jax.random.split(jax.random.key(0))
    images = jax.random.normal(k1, (8, 12, 12, 1))
    batch = {"image": images, "label": jax.random.randint(k2, (8,), 0, 5)}
    tables = ktg.stack_edge_tables([g.edge_table() for g in graphs])
    rngs = jax.random.split(jax.random.key(1), 4)
    init = jax.vmap(lambda r, e: program.init(r, images, edges=e))
    vstep = jax.jit(jax.vmap(program.step, in_axes=(0, None)))

    plain = init(rngs, tables)
    mesh = sharding.mesh("population")
    sharded = sharding.shard_leading_axis(plain, mesh)
    leaf = jax.tree.leaves(sharded.params)[0]
    assert len(leaf.sharding.device_set) == 4, leaf.sharding
    for _ in range(2):
      plain, m1 = vstep(plain, batch)
      sharded, m2 = vstep(sharded, sharding.replicate(batch, mesh))
    assert len(jax.tree.leaves(sharded.params)[0].sharding.device_set) == 4
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(sharded.params)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    np.testing.assert_allclose(m1["node_loss"], m2["node_loss"], atol=1e-5)
    try:
      sharding.shard_leading_axis({"x": np.zeros((3, 2))}, mesh)
      raise SystemExit("3 members on 4 devices should be refused")
    except ValueError as e:
      assert "not a multiple" in str(e), e
    print("OK", np.asarray(m2["node_loss"]).round(4).tolist())
""")


def test_population_sharded_over_four_devices_matches_one_device():
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=4")
  out = subprocess.run([sys.executable, "-c", SCRIPT], env=env,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.startswith("OK")
