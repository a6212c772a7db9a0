"""Exhaustive sweep: every graph x seed trained exactly once; resumes after kill -9."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ktg_jax.run import training
from ktg_jax.search import exhaustive
from ktg_jax.search import presets
from ktg_jax.search import space_ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _space():
  return presets.get("tiny", num_nodes=2, aux_models=("small_cnn",),
                    gates=("through", "cutoff", "linear"))


class _FakeFit:
  """Records every (graph, seed) it is asked to train; fails on call ``fail_at``."""

  def __init__(self, fail_at=None):
    self.trained, self.calls, self.fail_at = [], 0, fail_at

  def __call__(self, specs, data, cfg, workdir, seeds):
    self.calls += 1
    if self.calls == self.fail_at:
      raise KeyboardInterrupt("killed")
    assert cfg.resume and cfg.checkpoint_every == 1 and workdir
    assert len({s.structure() for s in specs}) == 1  # one structure a pack
    members = []
    for spec, seed in zip(specs, seeds):
      self.trained.append((json.dumps(spec.to_json(), sort_keys=True), seed))
      acc = (hash(self.trained[-1][0]) % 97) / 100 + seed / 1000
      members.append(training.FitResult(None, [{"target_accuracy": acc}],
                                        acc, acc, workdir))
    return training.PopulationResult(None, tuple(members), "sequential")


def test_points_enumerate_every_feasible_graph_once():
  space = _space()
  pts = exhaustive.points(space)
  # independent count: 4 edges (label->0, label->1, 1->0, 0->1), 3 gates each,
  # minus graphs where node 0 or node 1 gets only Cutoff (no checkpoint)
  count = 0
  for g in itertools.product(range(3), repeat=4):  # 1 = cutoff
    l0, l1, e10, e01 = g
    count += not (l0 == 1 and e10 == 1) and not (l1 == 1 and e01 == 1)
  assert len(pts) == count == 64
  assert len({json.dumps(p, sort_keys=True) for p in pts}) == len(pts)
  with pytest.raises(space_ops.SpaceError, match="continuous"):
    exhaustive.points(presets.get("ch3_sine", num_nodes=1))


def test_every_graph_and_seed_trained_exactly_once_and_resumed(tmp_path):
  space, cfg = _space(), training.default_config()
  fit = _FakeFit(fail_at=4)
  with pytest.raises(KeyboardInterrupt):
    exhaustive.run(space, None, cfg, str(tmp_path), repeats=(0, 1),
                   pack_size=10, fit_fn=fit, log=lambda *_: None)
  first = list(fit.trained)
  assert len(exhaustive.read_results(str(tmp_path))) == 30  # 3 packs of 10
  again = _FakeFit()
  records = exhaustive.run(space, None, cfg, str(tmp_path), repeats=(0, 1),
                           pack_size=10, fit_fn=again, log=lambda *_: None)
  done_before = set(first[:30])
  assert not done_before & set(again.trained)  # finished packs not retrained
  every = [(json.dumps(space.to_spec(p).to_json(), sort_keys=True), s)
           for p in exhaustive.points(space) for s in (0, 1)]
  assert sorted(first[:30] + again.trained) == sorted(every)
  assert len(records) == 128 and len(
      open(tmp_path / exhaustive.RESULTS).read().splitlines()) == 128
  # a third call trains nothing
  third = _FakeFit()
  exhaustive.run(space, None, cfg, str(tmp_path), repeats=(0, 1),
                 pack_size=10, fit_fn=third, log=lambda *_: None)
  assert third.trained == []
  with pytest.raises(ValueError, match="pack_size"):
    exhaustive.run(space, None, cfg, str(tmp_path), repeats=(0, 1),
                   pack_size=5, fit_fn=third)


def test_only_trains_the_given_indices_under_their_table_indices(tmp_path):
  space, cfg = _space(), training.default_config()
  pts = exhaustive.points(space)
  fit = _FakeFit()
  records = exhaustive.run(space, None, cfg, str(tmp_path), repeats=(3,),
                           pack_size=1, first=[40], only=[7, 40, 63],
                           fit_fn=fit, log=lambda *_: None)
  assert [(r["index"], r["seed"]) for r in records] == [(7, 3), (40, 3),
                                                        (63, 3)]
  assert [r["point"] for r in records] == [pts[7], pts[40], pts[63]]
  want = json.dumps(space.to_spec(pts[40]).to_json(), sort_keys=True)
  assert fit.trained[0] == (want, 3)  # first still goes first
  # the subset is part of the sweep's identity: another subset is refused
  with pytest.raises(Exception, match="sweep"):
    exhaustive.run(space, None, cfg, str(tmp_path), repeats=(3,),
                   pack_size=1, first=[40], only=[7, 40], fit_fn=fit,
                   log=lambda *_: None)
  with pytest.raises(ValueError, match="only"):
    exhaustive.packs(space, (0,), 1, only=[len(pts)])


def test_by_graph_and_best_against_numpy():
  recs = [{"index": i, "seed": s, "point": {"i": i}, "score": sc}
          for i, s, sc in [(0, 0, .5), (0, 1, .7), (1, 0, .9), (1, 1, .3),
                           (2, 0, .65), (2, 1, .62)]]
  graphs = exhaustive.by_graph(recs)
  np.testing.assert_allclose([g["mean"] for g in graphs],
                             [np.mean([.5, .7]), .6, np.mean([.65, .62])])
  # the sample std (ddof 1) of every table (ktg_jax.stats); ddof 0 before
  np.testing.assert_allclose(graphs[1]["std"], np.sqrt((.9 - .6) ** 2 * 2))
  assert exhaustive.best(recs)["index"] == 2


def test_a_half_written_line_is_skipped_and_repaired(tmp_path):
  (tmp_path / exhaustive.RESULTS).write_text(
      json.dumps({"index": 0, "seed": 0, "score": 1.0}) + "\n{\"index\": 1, ")
  assert list(exhaustive.read_results(str(tmp_path))) == [(0, 0)]
  exhaustive._append(str(tmp_path), [{"index": 2, "seed": 0, "score": .5}])
  assert sorted(exhaustive.read_results(str(tmp_path))) == [(0, 0), (2, 0)]


SWEEP = """
import sys
from ktg_jax import data
from ktg_jax.run import training
from ktg_jax.search import exhaustive, presets
space = presets.get("tiny", num_nodes=1, gates=("through", "linear"))
cfg = training.default_config()
cfg.update(epochs=3, batch_size=32, learning_rate=0.05, lr_schedule="cosine",
           augment=False, verbose=False)
d = data.sealed(data.load("digits", limit=160))
exhaustive.run(space, d, cfg, sys.argv[1], repeats=(0, 1), pack_size=2)
"""


def test_real_sweep_resumes_after_kill_9(tmp_path):
  out = str(tmp_path / "sweep")
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
  cmd = [sys.executable, "-c", SWEEP, out]
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, start_new_session=True)
  results = os.path.join(out, exhaustive.RESULTS)
  deadline = time.time() + 120
  while time.time() < deadline and proc.poll() is None and not (
      os.path.exists(results) and open(results).read().count("\n") >= 2):
    time.sleep(0.05)
  os.kill(proc.pid, signal.SIGKILL)  # kill -9, mid-way through pack 2
  proc.wait()
  before = exhaustive.read_results(out)
  assert len(before) == 2, "pack 1 should have finished before the kill"
  again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=180)
  assert again.returncode == 0, again.stderr[-2000:]
  assert "pack 1/2" not in again.stdout and "pack 2/2 done" in again.stdout
  lines = [json.loads(x) for x in open(results).read().splitlines()]
  keys = [(r["index"], r["seed"]) for r in lines]
  assert sorted(keys) == [(0, 0), (0, 1), (1, 0), (1, 1)]  # each once
  assert all(r["epochs"] == 3 and 0 <= r["score"] <= 1 for r in lines)
  assert all(lines[k] == before[keys[k]] for k in range(2))  # kept as is
