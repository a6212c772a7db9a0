"""The 000 search space (presets.ssl000): points -> graphs of ssl nodes."""

import math

import numpy as np
import pytest

from ktg_jax import LABEL, GraphSpec
from ktg_jax.search import presets
from ktg_jax.search import space_ops
from ktg_jax.families.ssl import objectives


def test_size_counts_learners_gates_and_losses():
  space = presets.get("ssl000").validate()
  params = space.parameters()
  assert params["learner_0"].options == tuple(o.name for o in objectives.OBJECTIVES)
  assert params["loss_1_0"].options == ("dogo", "disco")
  # 2 learners x 4 edges' gate kinds (2 label + 2 node) x 2 node edge losses;
  # one gamma per edge.
  n = len(objectives.OBJECTIVES)
  assert space.size().plain == n ** 2 * 2 ** 4 * 2 ** 2
  assert space.size().continuous == 4


def test_point_becomes_ssl_graph_with_gated_own_terms_and_transfer_edges():
  space = presets.get("ssl000", target_model="small_cnn",
                     aux_models=("small_cnn",))
  point = space.sample(np.random.default_rng(3))
  spec = space.to_spec(point)
  assert [n.kind for n in spec.nodes] == ["ssl", "ssl"]
  assert [n.learner for n in spec.nodes] == [point["learner_0"],
                                             point["learner_1"]]
  for (s, t), e in spec.edges.items():
    name = f"{s}_{t}"
    assert e.gate.name == point[f"gate_{name}"]
    assert math.isclose(e.gate.gamma, point[f"gamma_{name}"])
    if s == LABEL:   # the own term: views a (and b)
      assert e.target_view == "a"
    else:
      assert e.loss == point[f"loss_{name}"]
      assert (e.source_view, e.target_view) == ("a", "a")
  assert GraphSpec.from_json(spec.to_json()) == spec
  assert len(spec.edges) == 4


def test_errors_name_the_field():
  space = presets.get("ssl000")
  with pytest.raises(space_ops.SpaceError, match="learners='mae'"):
    space._replace(learners=("mae",)).validate()
  with pytest.raises(space_ops.SpaceError, match="ssl_losses='kl'"):
    space._replace(ssl_losses=("kl",)).validate()
  with pytest.raises(space_ops.SpaceError,
                     match=r"learners='simclr:temp=0.2'.*temperature"):
    space._replace(learners=("simclr:temp=0.2",)).validate()


def test_learners_with_parameters_reach_the_nodes():
  """Issue 26's validated settings (Barlow's loss scale, DINO's momentum)
  are learner strings; a space searches them as they are."""
  learners = ("simclr:temperature=0.2", "barlow_twins:scale_loss=0.1",
              "dino:momentum=0.99")
  space = presets.get("ssl000", target_model="small_cnn",
                     aux_models=("small_cnn",), learners=learners)
  assert space.parameters()["learner_1"].options == learners
  point = {**space.sample(np.random.default_rng(0)),
           "learner_0": learners[1], "learner_1": learners[2]}
  spec = space.to_spec(point)
  assert [n.learner for n in spec.nodes] == [learners[1], learners[2]]
  assert GraphSpec.from_json(spec.to_json()) == spec


def test_edges_at_the_reference_codes_scales_are_searchable():
  """--ssl_losses=dogo_t2,disco_mean: the node edges carry the scaled kinds."""
  space = presets.get("ssl000", target_model="small_cnn",
                     aux_models=("small_cnn",),
                     ssl_losses=("dogo_t2", "disco_mean"))
  assert space.parameters()["loss_0_1"].options == ("dogo_t2", "disco_mean")
  seen = set()
  for seed in range(8):
    spec = space.to_spec(space.sample(np.random.default_rng(seed)))
    seen |= {e.loss for (s, _), e in spec.edges.items() if s != LABEL}
  assert seen == {"dogo_t2", "disco_mean"}
