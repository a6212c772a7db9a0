"""ktg_jax.search.extend: a 2-node gate pattern extended to N nodes."""

import pytest

from ktg_jax import classic
from ktg_jax.core import LABEL
from ktg_jax.search import extend, presets

MIXED = {"gate_label_0": "through", "gate_label_1": "linear",
         "gate_1_0": "correct", "gate_0_1": "cutoff"}
KD = {"gate_label_0": "through", "gate_label_1": "cutoff",
      "gate_1_0": "through", "gate_0_1": "cutoff"}


def test_hand_made_three_nodes():
  # Written out by hand from the role table: label->aux = label->1,
  # aux->target = 1->0, target->aux and aux->aux = 0->1.
  want = {"gate_label_0": "through", "gate_label_1": "linear",
          "gate_label_2": "linear",
          "gate_1_0": "correct", "gate_2_0": "correct",
          "gate_0_1": "cutoff", "gate_2_1": "cutoff",
          "gate_0_2": "cutoff", "gate_1_2": "cutoff"}
  assert extend.extend_point(MIXED, 3) == want


def test_two_nodes_is_the_point_itself():
  assert extend.extend_point(MIXED, 2) == MIXED


@pytest.mark.parametrize("n", [2, 3, 5])
def test_all_through_is_dml(n):
  models = ["resnet8"] + ["wrn10_2"] * (n - 1)
  through = dict.fromkeys(extend.ROLES, "through")
  assert extend.extended_spec(through, models) == classic.dml(models)


@pytest.mark.parametrize("n", [3, 4])
def test_equals_the_n_node_space(n):
  # The same graph as the N-node ch.3 space builds from the extended point.
  space = presets.get("ch3_4gates", n, target_model="resnet8",
                      aux_models=("wrn10_2",))
  point = {**extend.extend_point(MIXED, n),
           **{f"model_{i}": "wrn10_2" for i in range(1, n)}}
  models = ["resnet8"] + ["wrn10_2"] * (n - 1)
  assert extend.extended_spec(MIXED, models) == space.to_spec(point)


def test_kd_extended_is_multi_teacher_kd():
  spec = extend.extended_spec(KD, ["resnet8", "wrn10_2", "wrn10_2"],
                              {1: "t1", 2: "t2"})
  assert sorted(spec.edges, key=str) == sorted(
      [(LABEL, 0), (1, 0), (2, 0)], key=str)
  assert [n.checkpoint for n in spec.nodes] == [None, "t1", "t2"]
  assert spec.node_kinds() == ("trainable", "frozen", "frozen")


def test_errors_name_the_field():
  with pytest.raises(ValueError, match="checkpoint for every frozen node"):
    extend.extended_spec(KD, ["resnet8", "wrn10_2"])
  cut = dict(KD, gate_label_0="cutoff", gate_1_0="cutoff")
  with pytest.raises(ValueError, match="into the target is Cutoff"):
    extend.extended_spec(cut, ["resnet8", "wrn10_2"], {1: "t"})
  with pytest.raises(ValueError, match="gate_1_0"):
    extend.extend_point(dict(KD, gate_1_0="sine"), 3)
  with pytest.raises(ValueError, match="missing"):
    extend.extend_point({"gate_label_0": "through"}, 3)
  with pytest.raises(ValueError, match="num_nodes"):
    extend.extend_point(KD, 1)
