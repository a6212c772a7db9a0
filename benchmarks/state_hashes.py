"""Hashes of the state after 3 steps for graphs of every node kind.

Run it at two commits on one machine: equal hashes mean the step computes
bit-for-bit the same numbers (used to check the node-kind registry and the
folder moves of 2026-12-03 against 9466522: all 8 hashes equal). Not a test:
the bits depend on the CPU and the XLA build.

  JAX_PLATFORMS=cpu python benchmarks/state_hashes.py
"""
import hashlib, jax, jax.numpy as jnp, numpy as np, optax
import ktg_jax as ktg
from ktg_jax import classic, gates
from ktg_jax.core import LABEL, Edge, GraphSpec, Node
rng = np.random.default_rng(0)
x = jnp.asarray(rng.normal(size=(8, 8, 8, 1)), jnp.float32)
xu = jnp.asarray(rng.normal(size=(16, 8, 8, 1)), jnp.float32)
y = jnp.asarray(rng.integers(0, 10, 8))
flip = lambda r, im: jnp.where(jax.random.bernoulli(r), im[:, :, ::-1], im)
noise = lambda r, im: im + 0.1 * jax.random.normal(r, im.shape)
specs = {
 "dml": classic.dml(["small_cnn", "small_cnn"]),
 "ktg3": GraphSpec(nodes=["small_cnn", "small_cnn", "small_cnn"], edges={
    (LABEL, 0): gates.Through(), (LABEL, 1): gates.Linear(), (1, 0): gates.Correct(),
    (0, 1): gates.Sine(f=0.5, phi=4.71), (2, 0): Edge(gates.Through(), "kd", 2.0),
    (LABEL, 2): gates.Through()}),
 "ensemble": GraphSpec(nodes=["small_cnn", "small_cnn", Node(kind="ensemble", members=(0, 1))],
    edges={(LABEL, 0): gates.Through(), (LABEL, 1): gates.Through(),
           (0, 1): Edge(gates.Through(), "prob_cosine"), (2, 0): gates.Through()}, target=2),
 "mean_teacher_own": GraphSpec(nodes=["small_cnn", Node(kind="ema", of=0, decay=0.9, bn="own")],
    edges={(LABEL, 0): Edge(gates.Through(), target_view="a"),
           (1, 0): Edge(gates.Through(), "consistency_mse", 1.0, source_view="b", target_view="a")}),
 "mean_teacher_batch": GraphSpec(nodes=["small_cnn", Node(kind="ema", of=0, decay=0.9)],
    edges={(LABEL, 0): Edge(gates.Through(), target_view="a"),
           (1, 0): Edge(gates.Through(), "consistency_mse", 1.0, source_view="b", target_view="a")}),
 "fixmatch": GraphSpec(nodes=["small_cnn"], edges={
    (LABEL, 0): Edge(gates.Through(), target_view="a"),
    (0, 0): Edge(gates.Threshold(0.1), "pseudo_label", 1.0, source_view="a", target_view="b", samples="unlabeled")}),
 "ssl_pair": GraphSpec(nodes=[Node("small_cnn", kind="ssl", learner="byol"), Node("small_cnn", kind="ssl", learner="moco")],
    edges={(LABEL, 0): gates.Through(), (LABEL, 1): gates.Through(),
           (1, 0): Edge(gates.Through(), "dogo"), (0, 1): Edge(gates.Linear(), "disco")}),
 "ssl_dino": GraphSpec(nodes=[Node("small_cnn", kind="ssl", learner="dino")], edges={(LABEL, 0): gates.Through()}),
}
views = {"a": flip, "b": noise}
out = []
for name, spec in specs.items():
  p = ktg.compile(spec, num_classes=10, total_steps=10, optimizer=optax.sgd(0.1, momentum=0.9),
                  views={k: v for k, v in views.items() if k in spec.views()})
  st = p.init(jax.random.key(1), x)
  batch = {"image": x, "label": y}
  if "unlabeled" in str(spec.to_json()) or name.startswith("mean"):
    batch["unlabeled_image"] = xu
  ms = []
  for _ in range(3):
    st, m = p.step(st, batch); ms.append(m)
  h = hashlib.sha256()
  leaves = jax.tree_util.tree_leaves_with_path((st, ms, p.evaluate(st, x)))
  for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(kv[0]).replace("kind_state", "ssl")):
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    h.update(np.asarray(leaf).tobytes())
  out.append(f"{name} {len(leaves)} {h.hexdigest()[:16]}")
print("\n".join(out))
