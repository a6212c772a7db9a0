"""003: EDF of the error split by a hyper-parameter; A -> B -> C -> X as data."""

import json
import math

import numpy as np
import pytest

from ktg_jax.search import edf
from ktg_jax.search import refine
from ktg_jax.search import report
from ktg_jax.search import presets
from ktg_jax.search import space_ops


def _rows(seed=0, n=60):
  rng = np.random.default_rng(seed)
  rows = []
  for i in range(n):
    point = {"gate_1_0": ["through", "cutoff", "linear"][rng.integers(3)],
             "model_1": ["a", "b"][rng.integers(2)], "f_1_0": 0.3}
    score = float(rng.uniform(0.0, 1.0))
    rows.append({"point": json.dumps(point), "score": f"{score:.6f}",
                 "epochs": str(int(rng.integers(1, 5)))})
  return rows


def test_edf_against_a_numpy_reference():
  rows = _rows()
  floor, min_epochs = 0.1, 2
  grid = np.linspace(0, 1, 101)
  got = edf.curves(rows, "gate_1_0", floor, min_epochs)
  for value in ("through", "cutoff", "linear"):
    errs = np.array([1 - float(r["score"]) for r in rows
                     if json.loads(r["point"])["gate_1_0"] == value
                     and float(r["score"]) > floor
                     and int(r["epochs"]) >= min_epochs])
    ref = (errs[None, :] < grid[:, None]).mean(1)  # F(e) = mean 1[e_i < e]
    assert got[value].n == len(errs)
    np.testing.assert_allclose(edf.evaluate(got[value].errors, grid), ref)
    s = edf.summary(got)[value]
    np.testing.assert_allclose(s["mean_error"], errs.mean())
    np.testing.assert_allclose(s["median_error"], np.median(errs))


def test_floor_drops_graphs_at_or_below_it_and_empty_scores():
  rows = [{"point": {"g": "x"}, "score": s, "epochs": 1}
          for s in (0.02, 0.021, "", 0.5)]
  c = edf.curves(rows, "g", floor=0.02)
  np.testing.assert_allclose(c["x"].errors, sorted([1 - 0.021, 0.5]))
  assert edf.curves(rows, "g", floor=0.0)["x"].n == 3


def test_edf_reads_trial_records_and_written_tables(tmp_path):
  recs = [report.TrialRecord(i, f"t{i}", "completed", 2, s, "", "{}",
                             {"gate_1_0": g, "model_1": "m"})
          for i, (g, s) in enumerate([("through", .8), ("cutoff", .6),
                                      ("through", .4)])]
  path = report.write_table(recs, str(tmp_path / "trials.csv"))
  a = edf.curves(recs, "gate_1_0")
  b = edf.curves(report.read_table(path), "gate_1_0")
  for v in a:
    np.testing.assert_allclose(a[v].errors, b[v].errors)
  # model_1 never varies, so only the gate gets a picture
  assert edf.hyper_parameters(recs) == ["gate_1_0"]
  paths = edf.plot_all(recs, str(tmp_path / "edf"))
  assert list(paths) == ["gate_1_0"]
  assert open(paths["gate_1_0"], "rb").read(4) == b"\x89PNG"


def test_edf_errors_are_named():
  with pytest.raises(ValueError, match="floor=1.5"):
    edf.kept([], floor=1.5)
  with pytest.raises(ValueError, match="param='gate_9_9'"):
    edf.curves(_rows(n=3), "gate_9_9", floor=0.0)
  with pytest.raises(ValueError, match="errors=\\[\\]"):
    edf.evaluate([], [0.5])


def test_chain_sizes_and_003_printed_counts():
  chain = refine.chain_003(presets.get("003_A"))
  # independent counts: A: 2 models^2 x 3 gates^9 edges; B: models fixed;
  # C: 2 label edges fixed; X: 5 free edges x {through, linear} for the tie
  plain = {"A": 2 ** 2 * 3 ** 9, "B": 3 ** 9, "C": 3 ** 7, "X": 3 ** 5 * 2}
  for step, space in chain.items():
    size = space.size()
    assert size.plain == plain[step]
    assert size.thesis == math.ceil(plain[step] / 2)
    assert refine.printed_size(space, step) == refine.PRINTED_003[step]
  assert refine.CONVENTION_003["X"] == "plain"


@pytest.mark.parametrize("step", ["B", "C", "X"])
def test_chain_equals_the_presets(step):
  got = refine.chain_003(presets.get("003_A"))[step]
  want = presets.get(f"003_{step}")
  assert (dict(got.fixed), dict(got.narrowed), dict(got.tied)) == (
      dict(want.fixed), dict(want.narrowed), dict(want.tied))


def test_chain_on_a_cpu_space_holds_on_every_sample():
  base = presets.get("tiny", gates=("through", "cutoff", "linear"))
  x = refine.chain_003(base, strong="resnet8")["X"]
  rng = np.random.default_rng(0)
  for _ in range(30):
    full = x.resolve(x.sample(rng))
    assert full["model_1"] == full["model_2"] == "resnet8"
    assert full["gate_label_1"] == full["gate_label_2"] == "through"
    assert full["gate_1_0"] == full["gate_2_0"] in ("through", "linear")


def test_apply_only_narrows_further():
  x = presets.get("003_X")
  with pytest.raises(space_ops.SpaceError, match="fixed\\['gate_1_0'\\]='cutoff'"):
    refine.apply(x, refine.Constraint(fixed={"gate_1_0": "cutoff"}))
  with pytest.raises(space_ops.SpaceError, match="a subset of"):
    refine.apply(x, refine.Constraint(
        narrowed={"gate_1_0": ("through", "cutoff")}))
  one = refine.apply(x, refine.Constraint(fixed={"gate_1_0": "linear"}))
  assert one.size().plain == 3 ** 5 and "gate_1_0" not in one.narrowed
  with pytest.raises(space_ops.SpaceError, match="strong='wrn28_2'"):
    refine.chain_003(presets.get("tiny", gates=("through", "cutoff")))


def test_best_values_pool_parameters_by_mean_error():
  rows = [{"point": {"m1": a, "m2": b}, "score": s, "epochs": 1}
          for a, b, s in [("x", "y", .9), ("y", "x", .5), ("x", "x", .8),
                          ("y", "y", .1)]]
  # pooled errors: x: .1 .5 .2 .2 -> mean 0.25; y: .1 .5 .9 .9 -> 0.6
  assert edf.best_values(rows, ["m1", "m2"], floor=0.0) == ("x",)
  assert edf.best_values(rows, ["m1", "m2"], k=2, floor=0.0) == ("x", "y")
  with pytest.raises(ValueError, match="k=3"):
    edf.best_values(rows, ["m1"], k=3, floor=0.0)


def test_other_readings_make_other_chains():
  chain = refine.chain_003(presets.get("003_A"), strong="resnet32",
                           label_gate="linear",
                           target_gates=("through", "cutoff"))
  assert chain["X"].fixed["model_1"] == "resnet32"
  assert chain["X"].fixed["gate_label_2"] == "linear"
  assert chain["X"].narrowed["gate_1_0"] == ("through", "cutoff")
