"""Search spaces: sizes (docs/papers.md §4), sample -> spec validity, preset constraints."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktg_jax import GraphSpec
from ktg_jax.families.ensemble import attention_losses as losses_attention
from ktg_jax.search import presets
from ktg_jax.search import space_ops


@pytest.mark.parametrize("name,plain,thesis", [
    ("ch3_4gates", 2_359_296, 1_179_648),   # docs/papers.md §4: N=3, M=3, G=4
    ("003_A", 78_732, 39_366),              # 003 Table 1
    ("003_B", 19_683, 9_842),
    ("003_C", 2_187, 1_094),
])
def test_sizes_match_the_papers(name, plain, thesis):
  size = presets.get(name).size()
  assert (size.plain, size.thesis, size.continuous) == (plain, thesis, 0)
  assert f"{plain:,}" in str(size) and f"{thesis:,}" in str(size)


def test_003_x_plain_count_is_the_printed_one():
  # 003 prints 486 for X: the plain product, not /2 (see _space_003).
  assert presets.get("003_X").size().plain == 486


def test_size_formula_m_pow_n_minus_1_times_g_pow_n_squared():
  for n in (1, 2, 3, 4):
    size = presets.get("ch3_4gates", num_nodes=n).size()
    assert size.plain == 3 ** (n - 1) * 4 ** (n * n)


def test_continuous_spaces_count_their_dimensions():
  sine = presets.get("ch3_sine").size()
  assert sine.plain == 9 and sine.continuous == 2 * 9  # f, phi per edge
  gamma = presets.get("gamma").size()
  assert gamma.plain == 2 ** 4 and gamma.continuous == 4  # 2 nodes: 4 edges


def _check_sample(space, seed):
  point = space.sample(np.random.default_rng(seed))
  try:
    spec = space.to_spec(point)
  except space_ops.InfeasiblePoint as e:
    assert not space.feasible(point)
    assert "Cutoff" in str(e)
    return None
  assert space.feasible(point)
  assert GraphSpec.from_json(spec.to_json()) == spec
  if space.ensemble:  # ch.4: + an ensemble node of every model node, the target
    assert spec.num_nodes == space.num_nodes + 1
    assert spec.target == space.num_nodes
    assert spec.nodes[-1].members == tuple(range(space.num_nodes))
  else:
    assert spec.num_nodes == space.num_nodes and spec.target == 0
  assert spec.nodes[0].model == space.target_model
  return spec


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(set(presets.PRESETS) -
                                    set(presets.SEMI_SUPERVISED))),
       seed=st.integers(0, 2 ** 31))
def test_every_sample_is_a_valid_spec_or_named_infeasible(name, seed):
  _check_sample(presets.get(name), seed)


def test_continuous_parameters_stay_in_range():
  space = presets.get("ch3_sine")
  for seed in range(50):
    spec = _check_sample(space, seed)
    for edge in spec.edges.values():
      assert 0 <= edge.gate.f <= 1
      assert 0 <= edge.gate.phi <= 0.75 * 2 * math.pi
  space = presets.get("gamma")
  gammas = []
  for seed in range(200):
    spec = _check_sample(space, seed)
    gammas += [e.gate.gamma for e in spec.edges.values()
               if e.gate.name != "cutoff"]
  assert min(gammas) >= 0.01 and max(gammas) <= 100
  # log-uniform: about half of the gammas below 1
  assert 0.35 < np.mean(np.array(gammas) < 1) < 0.65


def test_003_constraints_hold_on_every_sample():
  for variant in "ABCX":
    space = presets.get(f"003_{variant}")
    for seed in range(100):
      spec = _check_sample(space, seed)
      if spec is None:
        continue
      models = [n.model for n in spec.nodes]
      assert models[0] == "resnet32"
      assert set(models[1:]) <= {"resnet32", "wrn28_2"}
      assert {e.gate.name for e in spec.edges.values()} <= {
          "through", "linear"}  # cutoff edges are dropped from the spec
      if variant in "BCX":
        assert models[1:] == ["wrn28_2", "wrn28_2"]
      if variant in "CX":
        assert spec.gate("label", 1).name == spec.gate("label", 2).name \
            == "through"
      if variant == "X":
        assert spec.gate(1, 0) == spec.gate(2, 0)
        assert spec.gate(1, 0).name in ("through", "linear")


def test_all_cutoff_nodes_need_a_checkpoint():
  space = presets.get("tiny", num_nodes=2)
  point = space.sample(np.random.default_rng(0))
  point.update(gate_label_1="cutoff", gate_0_1="cutoff", gate_label_0="through",
               model_1="resnet8")
  with pytest.raises(space_ops.InfeasiblePoint, match="node 1"):
    space.to_spec(point)
  with_ckpt = space._replace(pretrained_checkpoints={"resnet8": "/ckpt/r8"})
  spec = with_ckpt.to_spec(point)
  assert spec.nodes[1].checkpoint == "/ckpt/r8" and spec.frozen_nodes() == (1,)
  point.update(gate_label_0="cutoff", gate_1_0="cutoff")
  with pytest.raises(space_ops.InfeasiblePoint, match="target"):
    with_ckpt.to_spec(point)


def test_search_pretrained_freezes_the_node():
  space = presets.get("tiny", num_nodes=3, search_pretrained=True,
                     pretrained_checkpoints={"small_cnn": "/c/s",
                                             "resnet8": "/c/r"})
  point = space.sample(np.random.default_rng(1))
  point.update(pretrained_1=True, pretrained_2=False, gate_label_0="through",
               gate_label_2="through")
  spec = space.to_spec(point)
  assert 1 in spec.frozen_nodes() and spec.nodes[1].checkpoint is not None
  assert all(t != 1 for (_, t) in spec.edges)
  with pytest.raises(space_ops.SpaceError, match="pretrained_checkpoints"):
    presets.get("tiny", search_pretrained=True)


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="nope"), "space='nope'"),
    (dict(name="tiny", aux_models=("resnet7",)), "aux_models"),
    (dict(name="tiny", gates=("through", "sometimes")), "gates"),
    (dict(name="tiny", fixed={"gate_9_0": "through"}), "fixed"),
    (dict(name="tiny", fixed={"gate_1_0": "sine"}), "fixed"),
    (dict(name="tiny", narrowed={"gate_1_0": ("sine",)}), "narrowed"),
    (dict(name="tiny", tied={"gate_1_0": "model_1"}), "tied"),
    (dict(name="003_A", num_nodes=4), "num_nodes"),
    (dict(name="tiny", colour="red"), "colour"),
])
def test_bad_spaces_fail_fast_naming_the_field(kwargs, match):
  with pytest.raises(space_ops.SpaceError, match=match):
    presets.get(**kwargs)


@pytest.mark.parametrize("m", [2, 3])
def test_ch4_space_size(m):
  space = presets.get("ch4", num_nodes=m)
  g, d = len(presets.CH4_GATES), len(presets.CH4_DESIGNS)
  size = space.size()
  # eq 4.14: a gate per label edge, gate x design per member edge.
  assert (size.plain, size.continuous) == (g ** m * (g * d) ** (m * (m - 1)), 0)
  assert f"{size.plain:,}" in space.describe()


@pytest.mark.parametrize("model", ["resnet8", "abn_resnet8_nobypass"])
def test_ch4_points_are_ensemble_graphs_with_designs(model):
  space = presets.get("ch4", target_model=model, aux_models=(model,))
  assert len(space.loss_kinds()) == 6
  for seed in range(20):
    point = space.sample(np.random.default_rng(seed))
    if not space.feasible(point):
      continue
    spec = space.to_spec(point)
    assert spec.target == 3 and spec.nodes[3].members == (0, 1, 2)
    assert all(t != 3 and s != 3 for s, t in spec.edges)  # the score only
    for (s, t), e in spec.edges.items():
      if s == "label":
        assert e.loss == "ce" and f"loss_label_{t}" not in point
      else:
        assert e.loss == losses_attention.kind_name(point[f"loss_{s}_{t}"],
                                                    model)
        assert e.loss in space.loss_kinds()


def test_ch4_crop_sizes_make_every_attention_design_a_sized_kind():
  sizes = (2, 3, 4)   # a resnet8's 4 x 7 map on the 14 x 28 pairs
  space = presets.get("ch4", 2, model="resnet8", crop_sizes=sizes)
  suffix = "_crops" + "-".join(map(str, sizes))
  stems = losses_attention.DESIGN_KINDS
  assert set(space.loss_kinds()) == {
      stem if stem in ("kl", "prob_cosine") else stem + suffix
      for stem in stems.values()}
  assert "attention crops [2, 3, 4]" in space.describe()
  seen = set()
  for seed in range(30):
    point = space.sample(np.random.default_rng(seed))
    if not space.feasible(point):
      continue
    spec = space.to_spec(point)
    for (s, t), e in spec.edges.items():
      if s == "label":
        continue
      design = point[f"loss_{s}_{t}"]
      seen.add(design)
      assert e.loss == losses_attention.kind_name(design, "resnet8", sizes)
      assert e.loss.endswith(suffix) == ("att" in design)
      assert e.loss in space.loss_kinds()
    spec.edge_table()   # every kind registered: the table encodes its id
  assert any("att" in d for d in seen)
  # the same space without crop sizes keeps the family's (3, 5, 7) kinds
  plain = presets.get("ch4", 2, model="resnet8")
  assert not any("_crops" in k for k in plain.loss_kinds())


@pytest.mark.parametrize("kwargs", [
    dict(name="ch4", num_nodes=2, model="resnet8", crop_sizes=(0, 3)),
    dict(name="ch4", num_nodes=2, model="resnet8", crop_sizes=(2, "x")),
    dict(name="ch4", num_nodes=2, model="resnet8", crop_sizes=(True,)),
    dict(name="tiny", crop_sizes=(2, 3)),   # no loss designs to size
])
def test_ch4_bad_crop_sizes_name_the_field(kwargs):
  with pytest.raises(space_ops.SpaceError, match=r"crop_sizes=.* is invalid"):
    presets.get(**kwargs)


def test_sized_kinds_of_a_graph_json_register_in_a_fresh_registry():
  name = "att_cos_crops1-2"   # used nowhere else: not registered yet
  from ktg_jax.core import losses
  assert name not in losses.BY_NAME
  assert losses_attention.ensure_kind(name) == name
  assert losses.BY_NAME[name].reads == ("logits", "attention")
  assert losses_attention.ensure_kind("kl") == "kl"   # others unchanged
  graph = {"edges": [{"loss": "prob_kl_att_mse_crops1-3"}, {"loss": "kl"},
                     {"gate": "through"}]}
  assert losses_attention.ensure_kinds(graph) is graph
  assert "prob_kl_att_mse_crops1-3" in losses.BY_NAME
