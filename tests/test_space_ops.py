"""The one space protocol (ktg_jax/search/space_ops.py): a new family is a
table row; the shared rules (edges, constraints, the target must learn,
frozen nodes need a checkpoint, picklable feasibility) hold for every space."""

import pickle
from typing import Any, Mapping, NamedTuple

import numpy as np
import pytest

from ktg_jax.core import LABEL, Node
from ktg_jax.search import presets
from ktg_jax.search import space_ops
from ktg_jax.search.space_ops import Choice, NodeOption


class _TeacherFields(NamedTuple):
  name: str
  num_nodes: int
  target_model: str
  aux_models: tuple
  gates: tuple
  fixed: Mapping[str, Any] = {}
  narrowed: Mapping[str, tuple] = {}
  pretrained_checkpoints: Mapping[str, str] = {}
  teacher_checkpoint: str | None = None


class TeacherSpace(_TeacherFields, space_ops.Space):
  """A family made of one extra row: an auxiliary node may be a frozen
  teacher loaded from ``teacher_checkpoint``."""
  __slots__ = ()
  NODE_OPTIONS = (
      space_ops.MODEL,
      NodeOption("teacher", lambda sp: Choice((False, True)), aux_only=True,
                 when=lambda sp: sp.teacher_checkpoint is not None,
                 cuts_inputs=bool,
                 frozen=lambda sp, model, v: Node(model, sp.teacher_checkpoint)
                 if v else None))


def _space(**kw):
  return TeacherSpace("teacher", 2, "small_cnn", ("small_cnn", "resnet8"),
                      ("through", "cutoff"), **kw).validate()


def test_edges_label_first_then_pairs_self_loops_on_request():
  assert space_ops.edges(2) == [(LABEL, 0), (LABEL, 1), (1, 0), (0, 1)]
  assert space_ops.edges(2, self_loops=True) == [
      (LABEL, 0), (LABEL, 1), (0, 0), (1, 0), (0, 1), (1, 1)]


def test_a_node_option_row_adds_its_parameters_in_table_order():
  space = _space(teacher_checkpoint="/t.ckpt")
  assert list(space.parameters()) == [
      "model_1", "teacher_1", "gate_label_0", "gate_label_1", "gate_1_0",
      "gate_0_1"]
  # 2 models x 2 teacher x 2^4 gates
  assert space.size() == space_ops.SpaceSize(64, 32, 0)
  assert "teacher_1" not in _space().parameters()  # ``when`` is False


def test_a_teacher_is_frozen_from_its_checkpoint_and_takes_no_input():
  space = _space(teacher_checkpoint="/t.ckpt")
  point = {"model_1": "resnet8", "teacher_1": True, "gate_label_0": "through",
           "gate_label_1": "through", "gate_1_0": "through",
           "gate_0_1": "through"}
  spec = space.to_spec(point)
  assert spec.nodes[1] == Node("resnet8", "/t.ckpt")
  assert spec.frozen_nodes() == (1,)
  assert set(spec.edges) == {(LABEL, 0), (1, 0)}
  # Not a teacher: node 1 learns from its inputs.
  spec = space.to_spec({**point, "teacher_1": False})
  assert spec.nodes[1] == Node("resnet8") and (0, 1) in spec.edges


def test_a_node_that_never_learns_needs_a_checkpoint_and_the_target_learns():
  space = _space(teacher_checkpoint="/t.ckpt")
  point = {"model_1": "resnet8", "teacher_1": False, "gate_label_0": "through",
           "gate_label_1": "cutoff", "gate_1_0": "through",
           "gate_0_1": "cutoff"}
  with pytest.raises(space_ops.InfeasiblePoint, match="node 1"):
    space.to_spec(point)
  frozen = space._replace(pretrained_checkpoints={"resnet8": "/r8"})
  assert frozen.to_spec(point).nodes[1] == Node("resnet8", "/r8")
  point.update(gate_label_0="cutoff", gate_1_0="cutoff")
  with pytest.raises(space_ops.InfeasiblePoint, match="target"):
    frozen.to_spec(point)
  assert not frozen.feasible(point)


def test_constraints_are_shared_and_named():
  space = _space()._replace(fixed={"gate_1_0": "through"},
                            narrowed={"gate_label_0": ("through",)})
  assert list(space.validate().parameters()) == [
      "model_1", "gate_label_0", "gate_label_1", "gate_0_1"]
  assert space.parameters()["gate_label_0"] == Choice(("through",))
  assert space.resolve({"model_1": "small_cnn", "gate_label_0": "through",
                        "gate_label_1": "cutoff", "gate_0_1": "through"}
                       )["gate_1_0"] == "through"
  with pytest.raises(space_ops.SpaceError, match=r"fixed\['gate_1_0'\]"):
    space._replace(fixed={"gate_1_0": "sine"}).validate()
  with pytest.raises(space_ops.SpaceError, match="aux_models='nope'"):
    space._replace(aux_models=("nope",)).validate()


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_every_preset_is_a_space_with_a_picklable_constraint(name):
  space = presets.get(name)
  assert isinstance(space, space_ops.Space)
  check = pickle.loads(pickle.dumps(space_ops.Feasible(space)))
  rng = np.random.default_rng(0)
  for _ in range(5):
    point = space.sample(rng)
    assert check(point) == space.feasible(point)
  assert space.SEMI_SUPERVISED == (name in presets.SEMI_SUPERVISED)


def test_get_builds_with_builder_arguments_and_replaces_fields():
  space = presets.get("ch5_fixmatch", model="small_cnn")
  assert space.fixed["model_1"] == "small_cnn" == space.target_model
  assert presets.get("tiny", 2, gates=("through",)).gates == ("through",)
  with pytest.raises(space_ops.SpaceError, match="num_nodes=3"):
    presets.get("ch5_fixmatch", num_nodes=3)
  with pytest.raises(space_ops.SpaceError, match="colour"):
    presets.get("ch5_tiny", colour="red")
