"""The general graph model: node kinds, outputs, views, self-loops, samples,
validation holes closed, pre-trained nodes, step-decay fractions."""

import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ktg_jax as ktg
from ktg_jax import checkpoint, classic, optim
from ktg_jax.core import gates
from ktg_jax.core import LABEL, Edge, GraphSpec, GraphSpecError, Node
from ktg_jax.core.plan import make_plan

C = 5


def images(n=4, hw=8):
  return np.random.default_rng(0).normal(size=(n, hw, hw, 1)).astype(np.float32)


# --- validation: the holes the review found ----------------------------------

@pytest.mark.parametrize("build, pattern", [
    (lambda: GraphSpec(nodes=("small_cnn",), edges={
        (LABEL, 0): gates.Sine(f=True, phi=1.0)}), r"sine\.f=True"),
    (lambda: ktg.classic.dml(2, "small_cnn").__class__(
        nodes=("small_cnn", "small_cnn"), edges={
            (LABEL, 0): gates.Through(), (1, 0): Edge(gates.Through(), "kd",
                                                      True)}),
     r"loss_param=True"),
    (lambda: GraphSpec(nodes=("small_cnn",), edges={
        (LABEL, 0): Edge(gates.Through(), None, 2.0)}),
     r"\('label', 0\)\]\.loss_param=2\.0.*None"),
    (lambda: GraphSpec(nodes=("small_cnn",), edges={
        (LABEL, 0): gates.Through(), (0, 0): Edge(gates.Through(), "kl",
                                                  source_view="a",
                                                  target_view="a")}),
     r"target_view='a'.*only \['pseudo_label'\]"),
    (lambda: GraphSpec(nodes=("small_cnn", Node("small_cnn", "/c")), edges={
        (LABEL, 0): gates.Through(), (LABEL, 1): gates.Through()}),
     r"nodes\[1\]\.checkpoint='/c'.*kind='pretrained'"),
    (lambda: GraphSpec(nodes=("small_cnn", Node(kind="ema", of=0)), edges={
        (LABEL, 0): gates.Through(), (LABEL, 1): gates.Through()}),
     r"edges\[\('label', 1\)\] target=1.*'ema'.*no gradient"),
    (lambda: GraphSpec(nodes=("small_cnn", Node("resnet8", kind="ema", of=0)),
                       edges={(LABEL, 0): gates.Through()}),
     r"nodes\[1\]\.model='resnet8'.*'small_cnn'"),
    (lambda: GraphSpec(nodes=("small_cnn", Node(kind="ema", of=5)),
                       edges={(LABEL, 0): gates.Through()}), r"nodes\[1\]\.of=5"),
    (lambda: GraphSpec(nodes=("small_cnn", Node(kind="ensemble", members=(0,))),
                       edges={(LABEL, 0): gates.Through()}),
     r"nodes\[1\]\.members=\(0,\).*two or more"),
    (lambda: GraphSpec(nodes=(Node("small_cnn", kind="spicy"),), edges={}),
     r"nodes\[0\]\.kind='spicy'.*'trainable'.*'ensemble'"),
    (lambda: GraphSpec(nodes=(Node("small_cnn", kind="pretrained"),),
                       edges={(LABEL, 0): gates.Through()}),
     r"nodes\[0\]\.checkpoint=None.*a path"),
    (lambda: GraphSpec(nodes=("small_cnn",), edges={
        (LABEL, 0): gates.Through(), (0, 0): Edge(
            gates.Through(), "pseudo_label", samples="some")}),
     r"samples='some'.*'unlabeled'"),
    (lambda: GraphSpec(nodes=("small_cnn",), edges={
        (LABEL, 0): Edge(gates.Through(), samples="all")}),
     r"samples='all'.*\['labeled'\]"),
])
def test_bad_specs_name_field(build, pattern):
  with pytest.raises(GraphSpecError, match=pattern):
    build()


@pytest.mark.parametrize("obj, pattern", [
    ({"nodes": ["small_cnn"], "edges": None}, r"edges=None"),
    ({"nodes": ["small_cnn"], "edges": [{"source": "label", "target": 0,
                                         "gate": "through", "colour": 1}]},
     r"edges\[0\] keys=\['colour'\]"),
    ({"nodes": ["small_cnn"], "edges": [{"source": [0], "target": 0,
                                         "gate": "through"}]},
     r"\(source, target\)"),
    ({"nodes": ["small_cnn"], "edges": [{"source": "label", "target": {},
                                         "gate": "through"}]},
     r"\(source, target\)"),
    ({"nodes": ["small_cnn"], "edges": [{"source": "label", "target": 0,
                                         "gate": ["through"]}]}, r"gate"),
    ({"nodes": ["small_cnn"], "edges": [{"source": "label", "target": 0,
                                         "gate": {"name": ["x"]}}]}, r"gate"),
    ({"nodes": ["small_cnn", "small_cnn"], "edges": [
        {"source": "label", "target": 0, "gate": "through"},
        {"source": 1, "target": 0, "gate": "through", "loss": ["kl"]}]},
     r"loss=\['kl'\]"),
    ({"nodes": [{"model": "small_cnn", "kind": ["x"]}], "edges": []},
     r"kind=\['x'\]"),
])
def test_bad_json_is_a_spec_error_not_a_type_error(obj, pattern):
  with pytest.raises(GraphSpecError, match=pattern):
    GraphSpec.from_json(obj)


def test_numpy_numbers_are_valid_values():
  spec = GraphSpec(nodes=("small_cnn", "small_cnn"), edges={
      (LABEL, np.int64(0)): gates.Sine(np.float32(0.5), np.float64(1.0)),
      (LABEL, 1): gates.Through(),
      (np.int32(1), 0): Edge(gates.Through(), "kd", np.float32(3.0))},
                   target=np.int64(0))
  assert (1, 0) in spec.edges and spec.target == 0
  assert spec.edges[(1, 0)].loss_param == 3.0
  assert GraphSpec.from_json(json.loads(spec.dumps())) == spec


def test_init_rejects_a_table_of_another_frozen_set():
  kd = classic.kd("small_cnn", "small_cnn", "/unused")
  program = ktg.compile(kd, num_classes=C, total_steps=5,
                        optimizer=optax.sgd(0.1))
  teacher = program.modules[1].init(jax.random.key(1), images(), train=False)
  dml_table = classic.dml(2, model="small_cnn").edge_table()  # node 1 learns
  with pytest.raises(ValueError, match=r"node 1 never learns.*frozen nodes \(1,\)"):
    program.init(jax.random.key(0), images(), edges=dml_table,
                 checkpoint_variables={1: teacher})


def test_init_rejects_a_loss_the_program_cannot_select():
  spec = GraphSpec(nodes=("small_cnn", "small_cnn"), edges={
      (LABEL, 0): gates.Through(), (LABEL, 1): gates.Through(),
      (1, 0): gates.Through()})
  program = ktg.compile(spec, num_classes=C, total_steps=5,
                        optimizer=optax.sgd(0.1))
  table = spec.edge_table()
  table.loss_kind[1, 0] = ktg.losses.BY_NAME["pseudo_label"].id
  with pytest.raises(ValueError, match=r"\(1, 0\) has a loss.*loss_kinds="):
    program.init(jax.random.key(0), images(), edges=table)


def test_missing_view_function_is_named():
  with pytest.raises(ValueError, match=r"lacks \['strong', 'weak'\]"):
    ktg.compile(classic.fixmatch("small_cnn"), num_classes=C, total_steps=5,
                optimizer=optax.sgd(0.1))


def test_edge_reading_a_missing_output_is_rejected():
  ktg.losses.register("test_reads_prototypes", lambda s, t, p: s["prototypes"],
                      reads=("prototypes",))
  spec = GraphSpec(nodes=("small_cnn", "small_cnn"), edges={
      (LABEL, 0): gates.Through(), (LABEL, 1): gates.Through(),
      (1, 0): Edge(gates.Through(), "test_reads_prototypes")})
  with pytest.raises(ValueError, match=r"reads \['prototypes'\].*node 1 lacks"):
    ktg.compile(spec, num_classes=C, total_steps=5, optimizer=optax.sgd(0.1))


# --- structure: views, samples, proportional cost -----------------------------

def test_plan_runs_each_node_on_the_views_its_edges_need():
  mt = classic.mean_teacher("small_cnn")
  plan = make_plan(mt.structure(), has_unlabeled=True)
  assert plan.chunks[0] == (("a", "l"), ("a", "u"))   # the student
  assert plan.chunks[1] == (("b", "l"), ("b", "u"))   # the EMA teacher
  assert plan.views == ("a", "b")
  # A labelled-only batch: no unlabelled chunks; an unlabeled-only edge fails.
  assert make_plan(mt.structure(), False).chunks[0] == (("a", "l"),)
  with pytest.raises(ValueError, match=r"samples='unlabeled'.*unlabeled_image"):
    make_plan(classic.fixmatch("small_cnn").structure(), False)


def test_ch3_graphs_keep_one_structure_and_only_probability_losses():
  a = classic.dml(3, model="small_cnn")
  b = GraphSpec(nodes=("small_cnn",) * 3, edges={
      (LABEL, 0): gates.Through(), (LABEL, 1): gates.Linear(),
      (LABEL, 2): gates.Through(), (2, 0): gates.Sine(0.5, 1.0)})
  assert a.structure() == b.structure()
  assert len(a.slots()) == 3 + 6  # every label edge and ordered pair
  assert make_plan(a.structure(), False).views == ("default",)


def test_every_new_kind_round_trips_json():
  specs = [classic.ensemble(3, model="small_cnn", mutual=True),
           classic.mean_teacher("small_cnn", 2.0, decay=0.99),
           classic.fixmatch("small_cnn", tau=0.9),
           classic.pseudo_label("small_cnn"), classic.pi_model("small_cnn"),
           GraphSpec(nodes=(Node("small_cnn", "/ck", kind="pretrained",
                                 reinit=("conv0",)),),
                     edges={(LABEL, 0): gates.Through()})]
  for spec in specs:
    again = GraphSpec.from_json(json.loads(spec.dumps()))
    assert again == spec and again.structure() == spec.structure()


def test_ensemble_score_and_evaluate_shape():
  spec = classic.ensemble(2, model="small_cnn")
  program = ktg.compile(spec, num_classes=C, total_steps=5,
                        optimizer=optax.sgd(0.1))
  state = program.init(jax.random.key(0), images())
  chex.assert_shape(program.evaluate(state, images()), (3, 4, C))
  _, metrics = program.step(state, {"image": images(),
                                    "label": np.zeros(4, np.int32)})
  chex.assert_shape(metrics["node_accuracy"], (3,))
  assert float(metrics["node_loss"][2]) == 0.0  # no parameters, no loss


# --- pre-trained nodes (002) ----------------------------------------------------

def test_pretrained_node_loads_then_trains(tmp_path):
  source = ktg.models.create("small_cnn", 3).init(
      jax.random.key(5), images(), train=False)  # 3 classes: head differs
  path = checkpoint.save_variables(str(tmp_path / "pre"), source)
  spec = GraphSpec(nodes=(Node("small_cnn", path, kind="pretrained"),),
                   edges={(LABEL, 0): gates.Through()})
  program = ktg.compile(spec, num_classes=C, total_steps=5,
                        optimizer=optax.sgd(0.1))
  state = program.init(jax.random.key(0), images())
  p = state.params["node0"]
  for layer in ("conv0", "conv1", "bn0"):  # loaded layers equal the checkpoint
    chex.assert_trees_all_close(p[layer], source["params"][layer])
  chex.assert_trees_all_close(state.model_state["node0"]["batch_stats"],
                              source["batch_stats"])
  assert p["fc"]["kernel"].shape == (32, C)  # the head, re-initialised
  new, _ = program.step(state, {"image": images(),
                                "label": np.arange(4, dtype=np.int32) % C})
  assert float(jnp.max(jnp.abs(new.params["node0"]["conv0"]["kernel"]
                               - p["conv0"]["kernel"]))) > 0  # then it trains


def test_pretrained_reinit_and_shape_errors():
  like = {"params": {"conv": np.zeros(2, np.float32),
                     "body": np.zeros(3, np.float32)}}
  src = {"params": {"conv": np.ones(2, np.float32),
                    "body": np.ones(4, np.float32)}}
  with pytest.raises(ValueError, match=r"'body'.*shape \(4,\).*reinit"):
    checkpoint.merge_pretrained(src, like)
  out = checkpoint.merge_pretrained(src, like, reinit=("body", "conv"))
  np.testing.assert_array_equal(out["params"]["conv"], 0.0)


# --- schedules ------------------------------------------------------------------

def test_step_decay_boundaries_are_fractions_of_the_run():
  for total in (100, 1000):  # a short search trial decays where a full run does
    s = optim.step_decay(0.1, total, (0.3, 0.6, 0.9))
    assert float(s(int(0.3 * total) - 1)) == pytest.approx(0.1)
    assert float(s(int(0.3 * total))) == pytest.approx(0.01)
    assert float(s(total - 1)) == pytest.approx(1e-4)
  with pytest.raises(ValueError, match=r"lr_boundaries=\(60, 120\).*fractions"):
    optim.step_decay(0.1, 100, (60, 120))


# --- property-based: every new field ------------------------------------------

ANY = st.one_of(st.none(), st.booleans(), st.integers(-2, 4),
                st.floats(-1, 2), st.text(max_size=3), st.lists(st.integers(),
                                                                max_size=2))
NODE = st.fixed_dictionaries(
    {"model": st.sampled_from(["small_cnn", "resnet8", None, "x"])},
    optional={"kind": st.sampled_from(["trainable", "frozen", "pretrained",
                                       "ema", "ensemble", "bad"]),
              "checkpoint": st.one_of(st.none(), st.just("/c"), ANY),
              "of": ANY, "members": st.one_of(ANY, st.lists(
                  st.integers(-1, 4), max_size=3)),
              "decay": ANY, "bn": st.one_of(st.sampled_from(
                  ["batch", "running", "own", "student"]), ANY),
              "reinit": st.one_of(st.lists(st.text(max_size=2), max_size=2),
                                  ANY)})
EDGE = st.fixed_dictionaries(
    {"source": st.one_of(st.just("label"), ANY), "target": ANY,
     "gate": st.one_of(st.sampled_from(["through", "cutoff", "linear"]),
                       st.fixed_dictionaries({"name": st.just("threshold"),
                                              "tau": ANY}), ANY)},
    optional={"loss": st.one_of(st.sampled_from(
        ["kl", "kd", "pseudo_label", "consistency_mse"]), ANY),
              "loss_param": ANY,
              "source_view": st.one_of(st.sampled_from(["weak", "strong"]), ANY),
              "target_view": st.one_of(st.sampled_from(["weak", "strong"]), ANY),
              "samples": st.one_of(st.sampled_from(["all", "labeled",
                                                    "unlabeled"]), ANY)})
SPEC = st.fixed_dictionaries(
    {"nodes": st.lists(NODE, max_size=3), "edges": st.one_of(
        st.lists(EDGE, max_size=6), ANY)},
    optional={"target": ANY})


@settings(max_examples=400, deadline=None)
@given(SPEC)
def test_random_specs_with_every_field_only_raise_spec_errors(obj):
  try:
    spec = GraphSpec.from_json(obj)
  except GraphSpecError as e:
    assert "allowed" in str(e) or "=" in str(e)
    return
  assert GraphSpec.from_json(json.loads(spec.dumps())) == spec
  table = spec.edge_table()
  assert all(math.isfinite(x) for x in table.params.ravel())
  make_plan(spec.structure(), has_unlabeled=True)  # the structure plans
