"""The compiled KTG step: formula, edge direction, one program, populations."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ktg_jax as ktg
from ktg_jax import checkpoint
from ktg_jax.core import gates
from ktg_jax.core import LABEL, Edge, GraphSpec, Node
from ktg_jax.core import graph_losses

pytestmark = pytest.mark.gpu_subset  # benchmarks/device_check.py

C = 5
SHAPE = (8, 12, 12, 1)


def batch(seed=0):
  k1, k2 = jax.random.split(jax.random.key(seed))
  return {"image": jax.random.normal(k1, SHAPE),
          "label": jax.random.randint(k2, (SHAPE[0],), 0, C)}


def tiny(spec_edges, n=3, **kw):
  return GraphSpec(nodes=("small_cnn",) * n, edges=spec_edges, **kw)


def program_for(spec, opt=None, total_steps=10):
  return ktg.compile(spec, num_classes=C, total_steps=total_steps,
                     optimizer=opt or optax.sgd(0.1))


def edge_table_only(n, live):
  """An edge table with only the given ((s, t), gate) node edges, no labels."""
  cutoff = gates.BY_NAME["cutoff"].id
  table = ktg.EdgeTable(
      label_kind=np.full((n,), cutoff, np.int32),
      label_params=np.zeros((n, 2), np.float32),
      kind=np.full((n, n), cutoff, np.int32),
      params=np.zeros((n, n, 2), np.float32),
      loss_kind=np.zeros((n, n), np.int32),
      loss_param=np.zeros((n, n), np.float32))
  for (s, t), g in live.items():
    table.kind[s, t] = g.kind.id
    table.params[s, t] = g.params()
  return table


# --- the objective against a plain numpy loop over edges (docs/papers.md §1-§3) --------

def np_softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def numpy_graph_losses(spec, logits, labels, t):
  n, b, _ = logits.shape
  p = np_softmax(logits.astype(np.float64))
  reduce = np.mean if spec.reduction == "mean" else np.sum
  out = np.zeros(n)
  for tgt in range(n):
    g = spec.gate(LABEL, tgt)
    out[tgt] += float(g.schedule(t)) * reduce(-np.log(p[tgt, np.arange(b),
                                                        labels]))
    for src in range(n):
      if (src, tgt) not in spec.edges:
        continue
      e = spec.edges[(src, tgt)]
      w = np.full(b, float(e.gate.schedule(t)))
      if e.gate.name == "correct":
        w *= p[src].argmax(-1) == labels
      if e.gate.name == "threshold":
        w *= p[src].max(-1) > e.gate.tau
      if e.loss == "kl":
        l = (p[src] * (np.log(p[src]) - np.log(p[tgt]))).sum(-1)
      elif e.loss == "kd":
        temp = e.loss_param
        ps, pt = np_softmax(logits[src] / temp), np_softmax(logits[tgt] / temp)
        l = temp**2 * (ps * (np.log(ps) - np.log(pt))).sum(-1)
      else:
        l = (p[src] * p[tgt]).sum(-1) / (np.linalg.norm(p[src], axis=-1) *
                                         np.linalg.norm(p[tgt], axis=-1))
      out[tgt] += reduce(w * l)
  return out


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("t", [0.0, 0.37, 1.0])
def test_graph_losses_match_numpy_reference(reduction, t):
  spec = tiny({(LABEL, 0): gates.Through(), (LABEL, 1): gates.Linear(),
               (LABEL, 2): gates.NegativeGamma(2.0),
               (1, 0): gates.Sine(0.3, 1.0), (2, 0): gates.Correct(),
               (0, 1): Edge(gates.Threshold(0.4), "kd", 2.0),
               (0, 2): Edge(gates.PositiveGamma(0.5), "prob_cosine"),
               (2, 1): gates.NegativeLinear()}, reduction=reduction)
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(3, 16, C)).astype(np.float32) * 2
  labels = rng.integers(0, C, 16)
  got, aux = graph_losses(jax.tree.map(jnp.asarray, spec.edge_table()),
                          jnp.asarray(logits), jnp.asarray(labels), t,
                          reduction)
  np.testing.assert_allclose(got, numpy_graph_losses(spec, logits, labels, t),
                             rtol=1e-4, atol=1e-5)
  chex.assert_shape(aux["edge_loss"], (3, 3))
  # Correct masked some but not all samples: the mask is really exercised.
  correct = np_softmax(logits[2]).argmax(-1) == labels
  assert 0 < correct.sum() < 16


# --- edge direction: stop_gradient on the source ------------------------------

def test_edge_gradient_flows_into_target_only():
  spec = ktg.classic.dml(2, model="small_cnn")
  program = program_for(spec)
  b = batch()
  modules = program.modules
  variables = [m.init(jax.random.key(i), b["image"], train=False)
               for i, m in enumerate(modules)]
  edges = jax.tree.map(jnp.asarray, edge_table_only(2, {(1, 0): gates.Through()}))

  def total(params):
    logits = jnp.stack([
        m.apply({**v, "params": p}, b["image"], train=False)["logits"]
        for m, v, p in zip(modules, variables, params)])
    return jnp.sum(graph_losses(edges, logits, b["label"], 0.5, "mean")[0])

  g_target, g_source = jax.jit(jax.grad(total))(
      [v["params"] for v in variables])
  assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(g_source))
  assert any(np.any(np.asarray(x) != 0) for x in jax.tree.leaves(g_target))


def test_source_params_do_not_move_in_a_step():
  spec = ktg.classic.dml(2, model="small_cnn")
  program = program_for(spec)  # plain SGD, no weight decay
  state = program.init(jax.random.key(0), batch()["image"],
                       edges=edge_table_only(2, {(1, 0): gates.Through()}))
  new, _ = program.step(state, batch())
  chex.assert_trees_all_equal(new.params["node1"], state.params["node1"])
  with pytest.raises(AssertionError):
    chex.assert_trees_all_equal(new.params["node0"], state.params["node0"])


def test_cutoff_everywhere_moves_no_parameter():
  spec = ktg.classic.dml(3, model="small_cnn")
  program = program_for(spec, opt=optax.sgd(0.5, momentum=0.9))
  state = program.init(jax.random.key(0), batch()["image"],
                       edges=edge_table_only(3, {}))
  new = state
  for i in range(3):
    new, metrics = program.step(new, batch(i))
  chex.assert_trees_all_equal(new.params, state.params)
  np.testing.assert_array_equal(metrics["node_loss"], 0.0)


# --- one compiled program for graphs of the same nodes -----------------------

def test_three_graphs_of_same_nodes_compile_once():
  traces = []

  def counting_augment(rng, images):
    traces.append(1)  # runs only while tracing
    return images

  specs = [
      tiny({(LABEL, 0): gates.Through(), (LABEL, 1): gates.Through(),
            (LABEL, 2): gates.Through()}),
      tiny({(LABEL, 0): gates.Linear(), (1, 0): gates.Sine(0.2, 1.0),
            (2, 1): gates.Correct(), (0, 2): gates.Through()}),
      ktg.classic.dml(3, model="small_cnn"),
  ]
  opt = optax.sgd(0.1)
  losses_seen = []
  for spec in specs:
    program = ktg.compile(spec, num_classes=C, total_steps=10, optimizer=opt,
                          augment=counting_augment)
    state = program.init(jax.random.key(0), batch()["image"])
    for i in range(2):
      state, metrics = program.step(state, batch(i))
    losses_seen.append(np.asarray(metrics["node_loss"]))
  assert len(traces) == 1
  # ... and the graphs really are different programs of data.
  assert not np.allclose(losses_seen[0], losses_seen[1])


# --- a population of graphs in one vmapped program ---------------------------

def test_population_of_four_graphs_matches_separate_runs():
  graphs = [
      ktg.classic.dml(2, model="small_cnn"),
      tiny({(LABEL, 0): gates.Through(), (LABEL, 1): gates.Linear(),
            (1, 0): gates.Sine(0.5, 4.71)}, n=2),
      tiny({(LABEL, 0): gates.Through(), (0, 1): gates.Correct(),
            (1, 0): Edge(gates.Through(), "kd", 2.0)}, n=2),
      tiny({(LABEL, 0): gates.PositiveGamma(0.5), (LABEL, 1): gates.Through(),
            (1, 0): gates.NegativeLinear(), (0, 1): gates.Threshold(0.3)}, n=2),
  ]
  opt = optax.sgd(0.05, momentum=0.9)
  program = ktg.compile(graphs[0], num_classes=C, total_steps=6, optimizer=opt)
  images = batch()["image"]
  rngs = jax.random.split(jax.random.key(3), 4)
  tables = ktg.stack_edge_tables([g.edge_table() for g in graphs])
  states = jax.vmap(lambda r, e: program.init(r, images, edges=e))(rngs, tables)
  vstep = jax.jit(jax.vmap(program.step, in_axes=(0, None)))
  for i in range(3):
    states, vmetrics = vstep(states, batch(i))

  for k, g in enumerate(graphs):
    p = ktg.compile(g, num_classes=C, total_steps=6, optimizer=opt)
    state = p.init(rngs[k], images)
    for i in range(3):
      state, metrics = p.step(state, batch(i))
    member = jax.tree.map(lambda x: x[k], states)
    chex.assert_trees_all_close(member.params, state.params, atol=1e-5,
                                rtol=1e-5)
    np.testing.assert_allclose(vmetrics["node_loss"][k], metrics["node_loss"],
                               atol=1e-5, rtol=1e-5)


# --- classic methods: DML equals a hand-written DML step ----------------------

def test_dml_matches_hand_written_step():
  spec = ktg.classic.dml(2, model="small_cnn")
  opt = ktg.optim.sgd(0.1, weight_decay=5e-4)
  program = program_for(spec, opt=opt)
  b0 = batch()
  state = program.init(jax.random.key(0), b0["image"])

  # By hand: two models, two optimizers, KL(sg(p_other) || p_self) + CE.
  modules = program.modules
  params = [state.params["node0"], state.params["node1"]]
  stats = [state.model_state["node0"], state.model_state["node1"]]
  opt_states = [opt.init(p) for p in params]
  for i in range(3):
    b = batch(i)
    outs = [m.apply({"params": p, **s}, b["image"], train=True,
                    mutable=["batch_stats"])
            for m, p, s in zip(modules, params, stats)]
    logits = [o[0]["logits"] for o in outs]
    new_params, new_opt = [], []
    for me, other in ((0, 1), (1, 0)):
      def loss(p, me=me, other=other):
        z = modules[me].apply({"params": p, **stats[me]}, b["image"],
                              train=True, mutable=["batch_stats"])[0]["logits"]
        ps = jax.nn.softmax(jax.lax.stop_gradient(logits[other]))
        kl = jnp.sum(ps * (jnp.log(ps) - jax.nn.log_softmax(z)), -1)
        ce = -jnp.take_along_axis(jax.nn.log_softmax(z),
                                  b["label"][:, None], -1)[:, 0]
        return jnp.mean(ce) + jnp.mean(kl)
      g = jax.grad(loss)(params[me])
      upd, o = opt.update(g, opt_states[me], params[me])
      new_params.append(optax.apply_updates(params[me], upd))
      new_opt.append(o)
    params, opt_states = new_params, new_opt
    stats = [o[1] for o in outs]
    state, _ = program.step(state, b)

  chex.assert_trees_all_close(state.params["node0"], params[0], atol=1e-5)
  chex.assert_trees_all_close(state.params["node1"], params[1], atol=1e-5)
  chex.assert_trees_all_close(state.model_state["node1"], stats[1], atol=1e-5)


# --- frozen nodes --------------------------------------------------------------

def test_frozen_teacher_never_updates_and_loads_from_checkpoint(tmp_path):
  b = batch()
  teacher = ktg.models.create("small_cnn", C)
  teacher_vars = teacher.init(jax.random.key(7), b["image"], train=False)
  teacher_vars = jax.tree.map(lambda x: x + 0.01, teacher_vars)  # not init
  path = checkpoint.save_variables(str(tmp_path / "teacher"), teacher_vars)
  spec = ktg.classic.kd("small_cnn", "small_cnn", path, temperature=2.0)
  program = program_for(spec, opt=ktg.optim.sgd(0.1))
  state = program.init(jax.random.key(0), b["image"])
  chex.assert_trees_all_close(state.frozen["node1"], teacher_vars)
  assert "node1" not in state.params and "node1" not in state.model_state
  new = state
  for i in range(3):
    new, metrics = program.step(new, batch(i))
  chex.assert_trees_all_equal(new.frozen["node1"], state.frozen["node1"])
  # The KD edge is live: the student's loss includes it.
  assert float(metrics["edge_loss"][1, 0]) > 0
  # The teacher's logits come from inference mode with its loaded variables.
  want = teacher.apply(teacher_vars, b["image"], train=False)["logits"]
  np.testing.assert_allclose(program.evaluate(new, b["image"])[1], want,
                             atol=1e-5)


def test_frozen_node_without_checkpoint_file_is_a_clear_error(tmp_path):
  spec = ktg.classic.kd("small_cnn", "small_cnn", str(tmp_path / "missing"))
  program = program_for(spec)
  with pytest.raises(FileNotFoundError, match="label-only run"):
    program.init(jax.random.key(0), batch()["image"])


# --- shapes and dtypes ---------------------------------------------------------

def test_state_and_metrics_shapes():
  spec = tiny({(LABEL, 0): gates.Through(), (LABEL, 1): gates.Through(),
               (LABEL, 2): gates.Through(), (1, 0): gates.Linear()})
  program = program_for(spec, opt=ktg.optim.sgd(0.1))
  state = program.init(jax.random.key(0), batch()["image"])
  state, metrics = program.step(state, batch())
  chex.assert_shape(state.step, ())
  chex.assert_type(state.step, jnp.int32)
  assert int(state.step) == 1
  assert set(state.params) == {"node0", "node1", "node2"}
  chex.assert_type(jax.tree.leaves(state.params), jnp.float32)
  chex.assert_shape([metrics["node_loss"], metrics["node_accuracy"],
                     metrics["label_loss"], metrics["label_gate"]], (3,))
  chex.assert_shape([metrics["edge_loss"], metrics["gate"]], (3, 3))
  chex.assert_tree_all_finite(metrics)
  chex.assert_shape(program.evaluate(state, batch()["image"]), (3, SHAPE[0], C))


def test_sum_reduction_scales_gradient_by_batch_size():
  mean_spec = tiny({(LABEL, 0): gates.Through(), (LABEL, 1): gates.Through(),
                    (1, 0): gates.Through()}, n=2)
  sum_spec = GraphSpec(nodes=mean_spec.nodes, edges=mean_spec.edges,
                       reduction="sum")
  b = batch()
  outs = []
  for spec in (mean_spec, sum_spec):
    program = program_for(spec)
    state = program.init(jax.random.key(0), b["image"])
    _, metrics = program.step(state, b)
    outs.append(np.asarray(metrics["node_loss"]))
  np.testing.assert_allclose(outs[1], outs[0] * SHAPE[0], rtol=1e-5)


def test_total_steps_must_be_positive():
  with pytest.raises(ValueError, match="total_steps=0"):
    program_for(ktg.classic.vanilla("small_cnn"), total_steps=0)


def test_donated_step_gives_the_same_state():
  spec = ktg.classic.dml(2, model="small_cnn")
  outs = []
  for donate in (False, True):
    program = ktg.compile(spec, num_classes=C, total_steps=10,
                          optimizer=optax.sgd(0.1, momentum=0.9),
                          donate=donate)
    state = program.init(jax.random.key(0), batch()["image"])
    for i in range(2):
      state, _ = program.step(state, batch(i))
    outs.append(jax.device_get(state.params))
  chex.assert_trees_all_close(outs[0], outs[1], atol=1e-6)
