"""The ch.5 search spaces (ktg_jax/search/semi_spaces.py): sizes, EMA edge,
frozen-pretrained rule, infeasible points, validation."""

import itertools
import json

import numpy as np
import pytest

from ktg_jax.core import gates
from ktg_jax.search import presets
from ktg_jax.search import semi_spaces as ss
from ktg_jax.search.space_ops import InfeasiblePoint, SpaceError


def _all_points(space):
  params = space.parameters()
  for values in itertools.product(*(d.options for d in params.values())):
    yield dict(zip(params, values))


def test_fixmatch_space_is_60_distinct_graphs_of_a_node_and_its_ema():
  space = presets.get("ch5_fixmatch")
  assert space.size().plain == presets.NUM_GRAPHS["ch5_fixmatch"] == 60
  specs = [space.to_spec(p) for p in _all_points(space)]
  assert len(specs) == 60 and len({json.dumps(s.to_json(), sort_keys=True) for s in specs}) == 60
  for s in specs:
    assert s.nodes[0].kind == "trainable" and s.nodes[0].model == "wrn28_2"
    assert s.nodes[1].kind == "ema" and s.nodes[1].of == 0
    assert all(t == 0 for _, t in s.edges)  # nothing ends in the EMA node
  assert space.score == "best"
  fixmatch_like = [s for s in specs if (0, 0) in s.edges and
                   s.edges[(0, 0)].gate == gates.Threshold(ss.TAU)]
  assert len(fixmatch_like) == 60 // 5


@pytest.mark.parametrize("n", [2, 3])
def test_diverse_space_size_is_the_product_of_its_choices(n):
  space = presets.get("ch5_diverse", num_nodes=n)
  m, g = len(space.aux_models), len(space.gates)
  cross, self_ = len(space.losses), len(space.losses) - 1  # no self-EMA
  expected = (m ** (n - 1) * g ** n * (g * cross) ** (n * (n - 1)) *
              (g * self_) ** n)
  assert space.size().plain == expected
  print(space.describe())


def test_an_ema_edge_makes_its_end_node_an_ema_and_drops_its_inputs():
  space = presets.get("ch5_tiny")
  point = {k: d.options[0] for k, d in space.parameters().items()}
  point.update({"gate_label_0": "through", "gate_0_1": "through",
                "loss_0_1": "ema", "gate_1_0": "threshold",
                "loss_1_0": "pseudo_label", "gate_label_1": "through",
                "gate_0_0": "cutoff", "gate_1_1": "through"})
  spec = space.to_spec(point)
  assert spec.nodes[1].kind == "ema" and spec.nodes[1].of == 0
  assert spec.nodes[1].decay == ss.EMA_DECAY
  assert space._replace(ema_decay=0.9).to_spec(point).nodes[1].decay == 0.9
  assert spec.nodes[1].bn == "batch"  # ema_bn None: the Node default
  own = space._replace(ema_bn="own").to_spec(point)
  assert own.nodes[1].bn == "own" and own.edges == spec.edges
  assert set(spec.edges) == {("label", 0), (1, 0)}
  assert spec.edges[(1, 0)].source_view == "weak"
  assert spec.edges[(1, 0)].target_view == "strong"
  # Cut (gate Cutoff), the EMA edge is no EMA edge: node 1 learns itself.
  point["gate_0_1"] = "cutoff"
  assert space.to_spec(point).nodes[1].kind == "trainable"


def test_a_node_that_never_learns_is_frozen_pretrained_or_infeasible():
  space = presets.get("ch5_tiny")
  point = {k: "cutoff" if k.startswith("gate") else d.options[0]
           for k, d in space.parameters().items()}
  point.update({"gate_label_0": "through", "loss_1_0": "consistency",
                "gate_1_0": "linear"})
  with pytest.raises(InfeasiblePoint, match="node 1 never learns"):
    space.to_spec(point)
  with_ckpt = space._replace(pretrained_checkpoints={"small_cnn": "/ckpt"})
  spec = with_ckpt.to_spec(point)
  assert spec.nodes[1].checkpoint == "/ckpt" and spec.nodes[1].kind in (
      "frozen", "trainable")
  assert not any(t == 1 for _, t in spec.edges)


def test_two_ema_edges_or_an_ema_of_a_still_node_are_infeasible():
  space = presets.get("ch5_diverse", num_nodes=3, target_model="small_cnn",
                 aux_models=("small_cnn",))
  point = {k: d.options[0] for k, d in space.parameters().items()}
  point.update({"loss_0_2": "ema", "loss_1_2": "ema", "gate_0_2": "through",
                "gate_1_2": "through"})
  with pytest.raises(InfeasiblePoint, match="two EMA edges into node 2"):
    space.to_spec(point)
  space2 = presets.get("ch5_tiny")
  point = {k: "cutoff" if k.startswith("gate") else d.options[0]
           for k, d in space2.parameters().items()}
  point.update({"loss_1_0": "ema", "gate_1_0": "through",
                "gate_label_1": "through"})  # node 0 = EMA of node 1 ...
  point.update({"loss_0_1": "ema", "gate_0_1": "through"})  # ... and back
  assert not space2.feasible(point)


def test_random_points_give_valid_graphs_or_infeasible_ones():
  space, rng = presets.get("ch5_tiny"), np.random.default_rng(0)
  kinds = set()
  for _ in range(100):
    p = space.sample(rng)
    assert set(p) == set(space.parameters())
    if space.feasible(p):
      spec = space.to_spec(p)
      kinds |= {n.kind for n in spec.nodes}
  assert {"trainable", "ema"} <= kinds


@pytest.mark.parametrize("field,value,match", [
    ("gates", ("sine",), "gates"), ("losses", ("kl",), "losses"),
    ("score", "mean", "score"), ("num_nodes", 0, "num_nodes"),
    ("ema_decay", 1.0, "ema_decay"), ("ema_bn", "averaged", "ema_bn"),
    ("fixed", {"gate_9_9": "through"}, "fixed")])
def test_invalid_fields_are_named(field, value, match):
  with pytest.raises(SpaceError, match=match):
    presets.tiny_space()._replace(**{field: value}).validate()
  with pytest.raises(SpaceError, match="allowed"):
    presets.get("nope")
