"""A node kind is one registered class: the example of docs/node_kinds.md.

``RandomTeacher``: a frozen, randomly initialised network (no checkpoint), a
"random teacher" baseline for distillation. Registering it touches no core
module; a graph uses it by name, the one step trains its student, and the
teacher's variables never move.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ktg_jax as ktg
from ktg_jax.core import nodes
from ktg_jax.core import LABEL, Edge, GraphSpec, GraphSpecError, Node


class RandomTeacher(nodes.NodeKind):
  """A fixed network at its random init: it takes no edge and no gradient."""
  name, learns = "random_teacher", False

  def initial_variables(self, variables, load):
    return "frozen", variables  # kept as initialised, never updated


@pytest.fixture
def random_teacher():
  kind = nodes.register(RandomTeacher())
  yield kind
  del nodes.KINDS[kind.name]


def _spec():
  return GraphSpec(nodes=[Node("small_cnn"),
                          Node("small_cnn", kind="random_teacher")],
                   edges={(LABEL, 0): ktg.gates.Through(),
                          (1, 0): Edge(ktg.gates.Through(), "kl")})


def test_registered_kind_trains_its_student_and_never_moves(random_teacher):
  spec = _spec()
  assert spec.learning_nodes() == (0,)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(8, 8, 8, 1)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 10, 8))
  program = ktg.compile(spec, num_classes=10, total_steps=10,
                        optimizer=optax.sgd(0.1))
  state = program.init(jax.random.key(0), x)
  assert "node1" in state.frozen and "node1" not in state.params
  teacher0 = jax.tree.map(np.asarray, state.frozen["node1"])
  student0 = jax.tree.map(np.asarray, state.params["node0"])
  logits = np.asarray(program.evaluate(state, x))
  new, metrics = program.step(state, {"image": x, "label": y})
  jax.tree.map(np.testing.assert_array_equal, teacher0,
               jax.tree.map(np.asarray, new.frozen["node1"]))
  moved = jax.tree.map(lambda a, b: np.abs(a - np.asarray(b)).max(),
                       student0, new.params["node0"])
  assert max(jax.tree.leaves(moved)) > 0
  # The edge loss is KL(p_teacher || p_student), mean over the batch: the
  # teacher in inference mode, the student's train-mode forward (numpy).
  student_logits, _ = program.modules[0].apply(
      {"params": state.params["node0"], **state.model_state["node0"]}, x,
      train=True, mutable=["batch_stats"])
  ls = np.asarray(jax.nn.log_softmax(student_logits["logits"]), np.float64)
  lt = np.asarray(jax.nn.log_softmax(jnp.asarray(logits[1])), np.float64)
  kl = np.mean(np.sum(np.exp(lt) * (lt - ls), -1))
  np.testing.assert_allclose(float(metrics["edge_loss"][1, 0]), kl,
                             rtol=1e-4, atol=1e-6)


def test_registered_kind_rules_come_from_its_class(random_teacher):
  with pytest.raises(GraphSpecError, match=r"edges\[\(0, 1\)\] target"):
    GraphSpec(nodes=[Node("small_cnn"), Node("small_cnn",
                                             kind="random_teacher")],
              edges={(LABEL, 0): ktg.gates.Through(),
                     (0, 1): ktg.gates.Through()})
  with pytest.raises(GraphSpecError, match="nodes\\[1\\].learner"):
    GraphSpec(nodes=[Node("small_cnn"), Node("small_cnn", kind="random_teacher",
                                             learner="simclr")],
              edges={(LABEL, 0): ktg.gates.Through()})


def test_unregistered_kind_is_named_with_the_registered_ones():
  with pytest.raises(GraphSpecError, match="random_teacher.*allowed.*trainable"):
    GraphSpec(nodes=[Node("small_cnn", kind="random_teacher")],
              edges={(LABEL, 0): ktg.gates.Through()})
