"""Graph specs: validation names the field, JSON round trip, edge-table encoding."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ktg_jax as ktg
from ktg_jax.core import gates
from ktg_jax.core import GraphSpec, GraphSpecError, Node, Edge, LABEL


def three_nodes(**kw):
  edges = {(LABEL, 0): gates.Through(), (LABEL, 1): gates.Through(),
           (LABEL, 2): gates.Linear(), (1, 0): gates.Sine(f=0.5, phi=4.71),
           (0, 1): gates.Correct(),
           (2, 0): Edge(gates.PositiveGamma(2.0), "kd", 3.0)}
  edges.update(kw.pop("edges", {}))
  return GraphSpec(nodes=("resnet32", "wrn28_2", "resnet32"), edges=edges, **kw)


def test_round_trip_json():
  spec = three_nodes()
  again = GraphSpec.from_json(json.loads(json.dumps(spec.to_json())))
  assert again == spec
  assert again.edge_table()._asdict().keys() == spec.edge_table()._asdict().keys()
  for a, b in zip(again.edge_table(), spec.edge_table()):
    np.testing.assert_array_equal(a, b)


def test_save_load(tmp_path):
  spec = three_nodes(reduction="sum", target=1)
  spec.save(tmp_path / "g.json")
  assert GraphSpec.load(tmp_path / "g.json") == spec


def test_edge_table_encoding():
  table = three_nodes().edge_table()
  assert table.kind.shape == (3, 3) and table.params.shape == (3, 3, 2)
  assert table.kind[1, 0] == gates.BY_NAME["sine"].id
  np.testing.assert_allclose(table.params[1, 0], [0.5, 4.71])
  assert table.kind[0, 2] == gates.BY_NAME["cutoff"].id  # unspecified -> Cutoff
  assert table.loss_kind[2, 0] == ktg.losses.BY_NAME["kd"].id
  assert table.loss_param[2, 0] == 3.0
  assert table.loss_param[1, 0] == 0.0  # KL's default
  np.testing.assert_array_equal(table.label_kind, [0, 0, 2])
  assert np.all(np.diag(table.kind) == gates.BY_NAME["cutoff"].id)


def test_graphs_of_same_nodes_share_structure():
  a = three_nodes()
  b = three_nodes(edges={(1, 0): gates.Through(), (2, 1): gates.Linear()})
  assert a.structure() == b.structure()
  assert a != b


@pytest.mark.parametrize("build, pattern", [
    (lambda: three_nodes(edges={(LABEL, 0): "through"}), r"gate='through'.*allowed"),
    (lambda: three_nodes(edges={(1, 0): gates.PositiveGamma(0.001)}),
     r"edges\[\(1, 0\)\]\.gate: positive_gamma\.gamma=0\.001.*\[0\.01, 100"),
    (lambda: three_nodes(edges={(3, 0): gates.Through()}),
     r"source=3.*'label' or node indices 0\.\.2"),
    (lambda: three_nodes(edges={(0, 5): gates.Through()}),
     r"target=5.*node indices 0\.\.2"),
    (lambda: three_nodes(edges={(1, 1): gates.Through()}), r"self-loop"),
    (lambda: three_nodes(target=3), r"target=3.*0\.\.2"),
    (lambda: three_nodes(reduction="max"), r"reduction='max'.*\['mean', 'sum'\]"),
    (lambda: GraphSpec(nodes=("resnet31",), edges={(LABEL, 0): gates.Through()}),
     r"nodes\[0\]\.model='resnet31'.*allowed"),
    (lambda: GraphSpec(nodes=(), edges={}), r"nodes=\(\)"),
    (lambda: three_nodes(edges={(1, 0): Edge(gates.Through(), "mse")}),
     r"loss='mse'.*allowed:.*'kd'.*'kl'.*'prob_cosine'"),
    (lambda: three_nodes(edges={(LABEL, 0): Edge(gates.Through(), "kl")}),
     r"loss='kl'.*\['ce'\]"),
    (lambda: three_nodes(edges={(1, 0): Edge(gates.Through(), "kd", -1.0)}),
     r"loss_param=-1\.0"),
    (lambda: GraphSpec(nodes=("small_cnn", "small_cnn"),
                       edges={(LABEL, 0): gates.Through()}),
     r"nodes\[1\]\.checkpoint=None.*frozen"),
    (lambda: GraphSpec(nodes=("small_cnn",), edges={}), r"checkpoint=None"),
])
def test_bad_specs_name_field_value_and_allowed(build, pattern):
  with pytest.raises(GraphSpecError, match=pattern):
    build()


def test_bad_json_names_field():
  good = three_nodes().to_json()
  bad = json.loads(json.dumps(good))
  bad["edges"][0]["gate"] = {"name": "sigmoid"}
  with pytest.raises(GraphSpecError, match=r"edges\[0\]\.gate.*sigmoid"):
    GraphSpec.from_json(bad)
  with pytest.raises(GraphSpecError, match=r"spec keys.*colour"):
    GraphSpec.from_json({**good, "colour": 1})


def test_frozen_nodes_and_checkpoint():
  spec = GraphSpec(nodes=(Node("small_cnn"), Node("small_cnn", "/ckpt")),
                   edges={(LABEL, 0): gates.Through(), (1, 0): gates.Through()})
  assert spec.frozen_nodes() == (1,)
  dml = ktg.classic.dml(3, model="small_cnn")
  assert dml.frozen_nodes() == ()
  assert len(dml.edges) == 3 + 6


def test_classic_builders():
  v = ktg.classic.vanilla("resnet20")
  assert v.num_nodes == 1 and v.gate(LABEL, 0) == gates.Through()
  kd = ktg.classic.kd("resnet32", "wrn28_2", "/teacher", temperature=2.0)
  assert kd.frozen_nodes() == (1,)
  assert kd.edges[(1, 0)].loss == "kd" and kd.edges[(1, 0)].loss_param == 2.0
  d = ktg.classic.dml(["resnet32", "wrn28_2"])
  assert all(d.gate(s, t) == gates.Through() for s in range(2)
             for t in range(2) if s != t)


# --- property-based: random (often invalid) specs never crash otherwise -------

GATE_JSON = st.one_of(
    st.sampled_from(sorted(gates.GATE_TYPES) + ["bogus", ""]),
    st.fixed_dictionaries({"name": st.sampled_from(["sine", "positive_gamma",
                                                    "threshold", "nope"]),
                           "f": st.floats(allow_nan=True, allow_infinity=True),
                           "phi": st.floats(-10, 10),
                           "gamma": st.floats(-1, 200),
                           "tau": st.floats(-1, 2)}),
    st.none(), st.integers())
SOURCE = st.one_of(st.just("label"), st.integers(-1, 4), st.text(max_size=3))
EDGE = st.fixed_dictionaries(
    {"source": SOURCE, "target": st.one_of(st.integers(-1, 4), st.just("0")),
     "gate": GATE_JSON},
    optional={"loss": st.sampled_from([None, "kl", "kd", "ce", "x"]),
              "loss_param": st.one_of(st.none(), st.floats(-2, 5))})
SPEC_JSON = st.fixed_dictionaries(
    {"nodes": st.lists(st.one_of(
        st.sampled_from(["small_cnn", "resnet32", "wrn28_2", "resnet7", "?"]),
        st.fixed_dictionaries({"model": st.sampled_from(["small_cnn", "x"]),
                               "checkpoint": st.one_of(st.none(),
                                                       st.just("/c"))})),
        max_size=4),
     "edges": st.lists(EDGE, max_size=8)},
    optional={"target": st.one_of(st.integers(-1, 4), st.booleans()),
              "reduction": st.sampled_from(["mean", "sum", "avg"])})


@settings(max_examples=300, deadline=None)
@given(SPEC_JSON)
def test_random_specs_only_raise_the_documented_error(obj):
  try:
    spec = GraphSpec.from_json(obj)
  except GraphSpecError as e:
    assert "=" in str(e) or "allowed" in str(e)
    return
  # A spec that validated is usable: it round-trips and encodes.
  assert GraphSpec.from_json(spec.to_json()) == spec
  table = spec.edge_table()
  assert table.kind.shape == (spec.num_nodes, spec.num_nodes)
  assert all(math.isfinite(x) for x in table.params.ravel())
