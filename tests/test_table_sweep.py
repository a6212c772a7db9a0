"""The tabulated 2-node ch.3 sweep: per-seed frozen teachers, the record
contract (per-epoch curves of both nodes), reference graphs first, shards,
and resume after a kill that re-trains nothing finished."""

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
from ktg_jax.core import LABEL
from ktg_jax.search import exhaustive, presets, spaces, teachers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GATES = ("through", "cutoff", "linear", "correct")
EDGES = ("gate_label_0", "gate_label_1", "gate_1_0", "gate_0_1")


def _space(gates=GATES, target="resnet8", aux="wrn10_2"):
  return presets.get("ch3_4gates", 2, target_model=target, aux_models=(aux,),
                    gates=gates, fixed={"model_1": aux},
                    pretrained_checkpoints={aux: teachers.template(aux)})


class _FakeFit:
  """Records what it trains; 3 epochs of made-up per-node accuracies."""

  def __init__(self, fail_at=None):
    self.graphs, self.teachers, self.calls, self.fail_at = [], [], 0, fail_at

  def __call__(self, specs, data, cfg, workdir, seeds=None):
    self.calls += 1
    if self.calls == self.fail_at:
      raise KeyboardInterrupt("killed")
    assert cfg.resume and cfg.checkpoint_every == 1 and workdir
    if seeds is None:  # a teacher: one graph, fit(spec, ...)
      assert cfg.save_variables and specs.num_nodes == 1
      self.teachers.append((specs.nodes[0].model, cfg.seed))
      os.makedirs(os.path.join(workdir, "variables"), exist_ok=True)
      return self._result(0.5 + cfg.seed / 100, 1, workdir)
    members = []
    for spec, seed in zip(specs, seeds):
      key = json.dumps(spec.to_json(), sort_keys=True)
      self.graphs.append((key, seed, spec))
      members.append(self._result((hash(key) % 97) / 100 + seed / 1000,
                                  spec.num_nodes, workdir))
    return training.PopulationResult(None, tuple(members), "sequential")

  @staticmethod
  def _result(acc, n, workdir):
    history = [{"target_accuracy": acc * e / 3,
                "accuracy": [acc * e / 3 + j / 10 for j in range(n)],
                "train_accuracy": [0.9 + e / 100 + j / 1000 for j in range(n)],
                "seconds": 2.0} for e in (1, 2, 3)]
    return training.FitResult(None, history, acc, acc, workdir)


def test_the_2_node_4_gate_space_has_240_graphs_with_the_teacher_node():
  space = _space()
  pts = exhaustive.points(space)
  # independent count: the target needs a non-Cutoff edge (label->0 or 1->0);
  # node 1 may be all-Cutoff (then it is the frozen teacher)
  count = sum(not (g[0] == 1 and g[2] == 1)
              for g in itertools.product(range(4), repeat=4))
  assert len(pts) == count == 240
  assert sorted(pts[0]) == sorted(EDGES)
  kd = {"gate_label_0": "through", "gate_label_1": "cutoff",
        "gate_1_0": "through", "gate_0_1": "cutoff"}
  assert kd in pts
  spec = teachers.for_seed(space, 7, "/sweep").to_spec(kd)
  assert spec.node_kinds()[1] == "frozen"
  assert spec.nodes[1].checkpoint == \
      "/sweep/teachers/wrn10_2_seed7/variables/node0"
  assert sorted(spec.edges, key=str) == sorted([(LABEL, 0), (1, 0)], key=str)
  # without a checkpoint the same graph is infeasible (the old 225)
  plain = presets.get("ch3_4gates", 2, target_model="resnet8",
                     aux_models=("wrn10_2",), fixed={"model_1": "wrn10_2"})
  assert len(exhaustive.points(plain)) == 225


def test_for_seed_fills_only_templates():
  space = _space()._replace(pretrained_checkpoints={
      "wrn10_2": "t/{seed}/v", "resnet8": "/fixed/ckpt"})
  got = teachers.for_seed(space, 2, "/r").pretrained_checkpoints
  assert got == {"wrn10_2": "/r/t/2/v", "resnet8": "/fixed/ckpt"}
  plain = presets.get("tiny", 2)
  assert teachers.for_seed(plain, 2, "/r") is plain


def test_teachers_first_records_contract_and_resume(tmp_path):
  space, cfg = _space(gates=("through", "cutoff")), training.default_config()
  pts = exhaustive.points(space)
  assert len(pts) == 12  # 16 - the 4 whose target is all-Cutoff
  out = str(tmp_path / "sweep")
  fit = _FakeFit(fail_at=5)  # 2 teachers, 2 packs, killed in the 3rd pack
  with pytest.raises(KeyboardInterrupt):
    exhaustive.run(space, None, cfg, out, repeats=(0, 1), pack_size=1,
                   fit_fn=fit, log=lambda *_: None)
  assert fit.teachers == [("wrn10_2", 0), ("wrn10_2", 1)]
  before = exhaustive.read_results(out)
  assert len(before) == 2
  again = _FakeFit()
  records = exhaustive.run(space, None, cfg, out, repeats=(0, 1), pack_size=1,
                           fit_fn=again, log=lambda *_: None)
  assert again.teachers == []  # finished teachers are not trained again
  trained_first = {(k, s) for k, s, _ in fit.graphs[:2]}
  assert not trained_first & {(k, s) for k, s, _ in again.graphs}
  assert len(again.graphs) == 22 and len(records) == 24
  for key, r in before.items():  # finished lines kept as they were
    assert exhaustive.read_results(out)[key] == r
  # frozen nodes load their own seed's teacher
  for _, seed, spec in again.graphs:
    if spec.node_kinds()[1] == "frozen":
      assert spec.nodes[1].checkpoint == os.path.join(
          out, "teachers", f"wrn10_2_seed{seed}", "variables", "node0")
  assert sum(spec.node_kinds()[1] == "frozen"
             for _, _, spec in fit.graphs + again.graphs) == 2 * 3
  for r in records:  # the record contract
    assert set(EDGES) == set(r["point"]) and r["epochs"] == 3
    assert np.asarray(r["curve"]).shape == (3, 2)
    np.testing.assert_allclose(r["curve"][-1][1] - r["curve"][-1][0], 0.1)
    np.testing.assert_allclose(r["curve"][-1][0], r["score"])
    np.testing.assert_allclose(r["train_acc"], 0.93)
    assert r["wall_s"] >= 0 and r["cpu_s"] >= 0 and r["train_s"] == 6.0
  teacher = teachers.read(os.path.join(out, "teachers", "wrn10_2_seed1",
                                       "variables", "node0"))
  assert teacher["seed"] == 1 and teacher["curve"] == pytest.approx(
      [0.51 / 3, 0.51 * 2 / 3, 0.51])


def test_first_packs_lead_and_shards_split_the_rest():
  space = _space()
  pts = exhaustive.points(space)
  dml = pts.index(dict.fromkeys(EDGES, "through"))
  kd = pts.index({"gate_label_0": "through", "gate_label_1": "cutoff",
                  "gate_1_0": "through", "gate_0_1": "cutoff"})
  packs = exhaustive.packs(space, (0,), 1, first=[dml, kd])
  assert [p[0].index for p in packs[:2]] == [dml, kd]
  assert sorted(p[0].index for p in packs) == list(range(240))
  assert exhaustive.packs(space, (0,), 1) != packs
  with pytest.raises(ValueError, match="first"):
    exhaustive.packs(space, (0,), 1, first=[dml, dml])


def test_shards_train_disjoint_packs_covering_all(tmp_path):
  space, cfg = _space(gates=("through", "cutoff")), training.default_config()
  seen = []
  for k in range(2):
    fit = _FakeFit()
    exhaustive.run(space, None, cfg, str(tmp_path / f"shard{k}"),
                   repeats=(0,), pack_size=1, shard=(k, 2),
                   teachers_dir=str(tmp_path), fit_fn=fit,
                   log=lambda *_: None)
    assert fit.teachers == ([("wrn10_2", 0)] if k == 0 else [])
    seen.append(sorted(exhaustive.read_results(str(tmp_path / f"shard{k}"))))
  assert not set(seen[0]) & set(seen[1])
  assert sorted(seen[0] + seen[1]) == [(i, 0) for i in range(12)]
  with pytest.raises(ValueError, match="shard"):
    exhaustive.run(space, None, cfg, str(tmp_path / "x"), shard=(2, 2),
                   fit_fn=_FakeFit())


SWEEP = """
import sys
from ktg_jax import data
from ktg_jax.run import training
from ktg_jax.search import exhaustive, presets, spaces, teachers
space = presets.get("tiny", num_nodes=2, aux_models=("small_cnn",),
                   gates=("through", "cutoff"), fixed={"model_1": "small_cnn"},
                   pretrained_checkpoints={"small_cnn":
                                           teachers.template("small_cnn")})
cfg = training.default_config()
cfg.update(epochs=2, batch_size=32, learning_rate=0.05, lr_schedule="cosine",
           augment=False, verbose=False)
d = data.sealed(data.load("digits", limit=160))
kd = {"gate_label_0": "through", "gate_label_1": "cutoff",
      "gate_1_0": "through", "gate_0_1": "cutoff"}
chosen = exhaustive.points(space)[:3] + [kd]  # 4 of the 12 graphs (time)
exhaustive.run(space, d, cfg, sys.argv[1], repeats=(0,), pack_size=1,
               chosen=chosen, first=[3])
"""


def script_env(tmp_path) -> dict:
  """The environment of a script run by a test: the checkout on the path,
  the CPU, and one persistent compilation cache for the test's runs (they
  compile the same few programs: the end-to-end test's wall time 118 -> 77 s)."""
  return {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu",
          "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
          "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


def test_real_sweep_with_a_teacher_resumes_after_kill_9(tmp_path):
  out = str(tmp_path / "sweep")
  env = script_env(tmp_path)
  cmd = [sys.executable, "-c", SWEEP, out]
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, start_new_session=True)
  results = os.path.join(out, exhaustive.RESULTS)
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None and not (
      os.path.exists(results) and open(results).read().count("\n") >= 2):
    time.sleep(0.05)
  os.kill(proc.pid, signal.SIGKILL)  # kill -9, mid-way through the sweep
  proc.wait()
  before = exhaustive.read_results(out)
  assert len(before) >= 2, "two graphs should have finished before the kill"
  ckpt = os.path.join(out, "teachers", "small_cnn_seed0", "variables",
                      "node0")
  teacher = teachers.read(ckpt)
  again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
  assert again.returncode == 0, again.stderr[-2000:]
  assert "[teachers]" not in again.stdout  # the teacher is not retrained
  assert "pack 1/4 done" not in again.stdout
  assert "pack 2/4 done" not in again.stdout
  lines = [json.loads(x) for x in open(results).read().splitlines()]
  keys = [(r["index"], r["seed"]) for r in lines]
  assert sorted(keys) == [(i, 0) for i in range(4)]  # each exactly once
  assert keys[0] == (3, 0)  # the graph named first ran first
  assert all(lines[k] == before[keys[k]] for k in range(len(before)))
  kd = lines[0]  # the reference graph ran first
  assert kd["point"]["gate_label_1"] == "cutoff" and \
      kd["point"]["gate_0_1"] == "cutoff"
  # the frozen teacher's accuracy in the graph, every epoch, is the
  # teacher's own final accuracy on the same split (it never changes)
  np.testing.assert_allclose([c[1] for c in kd["curve"]],
                             [teacher["score"]] * 2, atol=1e-6)
  assert all(len(r["curve"]) == r["epochs"] == 2 and 0 <= r["train_acc"] <= 1
             and r["wall_s"] > 0 for r in lines)


def test_table_runner_end_to_end_with_shards_and_collect(tmp_path):
  """experiments/ch3_table.py at toy scale (2 gates: 12 graphs, 1 epoch):
  teacher first, 2 shards, every graph once, collect copies the rows."""
  workdir, out = str(tmp_path / "table"), str(tmp_path / "rows.jsonl")
  env = script_env(tmp_path)
  flags_ = ["--config=experiments/configs/ch3_table.py",
            "--config.dataset=digits_pairs", "--config.limit=96",
            "--config.epochs=1", "--config.target=small_cnn",
            "--config.aux=small_cnn", "--config.batch_size=32",
            "--config.table.gates=('through','cutoff')",
            "--config.table.first=(('kd',('through','cutoff','through',"
            "'cutoff')),)", "--seeds=0", f"--workdir={workdir}"]
  cmd = [sys.executable, "experiments/ch3_table.py", *flags_]
  run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=900)
  assert run.returncode == 0, run.stderr[-3000:]
  assert "[teachers] small_cnn seed 0" in run.stdout
  assert "all 2 shards finished" in run.stdout
  got = subprocess.run(cmd + [f"--collect={out}"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
  assert got.returncode == 0, got.stderr[-3000:]
  rows = [json.loads(x) for x in open(out).read().splitlines()]
  assert sorted(r["index"] for r in rows) == list(range(12))
  assert all(set(r["point"]) == set(EDGES) and len(r["curve"]) == 1
             for r in rows)
  shard0 = exhaustive.read_results(os.path.join(workdir, "seed0", "shard0"))
  assert any(r["point"]["gate_label_1"] == r["point"]["gate_0_1"] ==
             "cutoff" and r["point"]["gate_1_0"] == "through"
             for r in shard0.values())  # kd, the first pack, is in shard 0
  teacher = [json.loads(x) for x in open(
      str(tmp_path / "rows_teachers.jsonl")).read().splitlines()]
  assert [(t["model"], t["seed"]) for t in teacher] == [("small_cnn", 0)]
  again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)  # resume: nothing to train
  assert again.returncode == 0 and "[exhaustive]" not in again.stdout and \
      "[teachers]" not in again.stdout
  # --top: a second seed for the reference graph and the 2 best at seed 0
  kd = [r["index"] for r in rows if r["point"]["gate_label_1"] ==
        r["point"]["gate_0_1"] == "cutoff" and
        r["point"]["gate_1_0"] == "through"
        and r["point"]["gate_label_0"] == "through"]
  best = sorted(rows, key=lambda r: (-r["score"], r["index"]))[:2]
  top = [a if not a.startswith("--seeds=") else "--seeds=1" for a in cmd]
  more = subprocess.run(top + ["--top=2"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)
  assert more.returncode == 0, more.stderr[-3000:]
  subprocess.run(cmd + [f"--collect={out}"], cwd=ROOT, env=env, check=True,
                 capture_output=True, timeout=300)
  seed1 = [json.loads(x) for x in open(out).read().splitlines()]
  seed1 = sorted(r["index"] for r in seed1 if r["seed"] == 1)
  assert seed1 == sorted(set(kd) | {r["index"] for r in best})
  # --report: what the table says, from the collected rows
  rep = str(tmp_path / "report")
  said = subprocess.run([a if not a.startswith("--workdir=") else
                         f"--workdir={rep}" for a in cmd] +
                        [f"--report={out}"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
  assert said.returncode == 0, said.stderr[-3000:]
  text = open(os.path.join(rep, "report.md")).read()
  kd_score = next(r["score"] for r in rows if r["index"] == kd[0])
  rank_kd = 1 + sum(r["score"] > kd_score for r in rows)  # rows: seed 0
  assert (f"| kd | through / cutoff / through / cutoff | "
          f"{100 * kd_score:.2f} | {rank_kd} |") in text
  assert all(os.path.getsize(os.path.join(rep, f)) > 0
             for f in ("edf.png", "edf_edges.png"))
