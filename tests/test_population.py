"""A population in ``training.fit``: K members equal K separate runs, resume of
an interrupted population, per-member files, seeds' sample std."""

import json
import os

import jax
import numpy as np
import pytest

import ktg_jax as ktg
from ktg_jax import data
from ktg_jax.run import population
from ktg_jax.run import seeds
from ktg_jax.run import training
from ktg_jax.run import run_files
from ktg_jax.core import gates
from ktg_jax.core import LABEL, GraphSpec

SEEDS = (0, 3)


def _config(**kw):
  c = training.default_config()
  c.update(dict(epochs=2, batch_size=32, learning_rate=0.05,
                lr_schedule="cosine", verbose=False, pictures=False,
                save_variables=False, augment=False))
  c.update(kw)
  return c


def _graphs():
  """Two graphs of one structure (2 x small_cnn), different edge tables."""
  other = GraphSpec(("small_cnn",) * 2, {
      (LABEL, 0): gates.Through(), (LABEL, 1): gates.Linear(),
      (1, 0): gates.Sine(f=0.5, phi=1.0), (0, 1): gates.Correct()})
  return [ktg.classic.dml(2, "small_cnn"), other]


@pytest.fixture(scope="module")
def small():
  return data.load("digits", limit=256)


@pytest.fixture(scope="module")
def separate(small):
  """Each member trained alone by the one-graph fit."""
  return [training.fit(g, small, _config(seed=s))
          for g, s in zip(_graphs(), SEEDS)]


def _assert_trees_close(a, b, atol):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 0
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol,
                               rtol=atol)


@pytest.mark.gpu_subset
@pytest.mark.parametrize("strategy", ["sequential", "vmap"])
def test_members_equal_separate_runs(small, separate, strategy):
  result = training.fit(_graphs(), small,
                        _config(population_strategy=strategy), seeds=SEEDS)
  assert isinstance(result, training.PopulationResult)
  assert result.strategy == strategy and len(result.members) == 2
  # The stacked state has the member axis first.
  leaf = jax.tree.leaves(result.state.params)[0]
  assert leaf.shape[0] == 2
  for k, (mine, alone) in enumerate(zip(result.members, separate)):
    _assert_trees_close(mine.state.params, alone.state.params, 1e-5)
    _assert_trees_close(mine.state.model_state, alone.state.model_state, 1e-5)
    _assert_trees_close(population.unstack(result.state.params, k),
                        alone.state.params, 1e-5)
    assert int(mine.state.step) == int(alone.state.step) == 2 * (204 // 32)
    assert [m["epoch"] for m in mine.history] == [1, 2]
    np.testing.assert_allclose([m["train_loss"] for m in mine.history],
                               [m["train_loss"] for m in alone.history],
                               rtol=1e-5)
  # The members really differ (seed and edges), so equality is not trivial.
  a, b = (jax.tree.leaves(m.state.params)[0] for m in result.members)
  assert np.max(np.abs(np.asarray(a) - np.asarray(b))) > 1e-3


def test_interrupted_population_resumes_to_identical_parameters(small,
                                                                 tmp_path):
  cfg = _config(population_strategy="vmap")
  whole = training.fit(_graphs(), small, cfg, str(tmp_path / "a"), seeds=SEEDS)
  # Interrupted after epoch 1 (its checkpoint is written), then resumed —
  # under the other strategy: the checkpoint layout is the same.
  stopped = training.fit(_graphs(), small, cfg, str(tmp_path / "b"),
                         callback=lambda e, ms: True, seeds=SEEDS)
  assert [len(m.history) for m in stopped.members] == [1, 1]
  resumed = training.fit(
      _graphs(), small, _config(population_strategy="sequential", resume=True),
      str(tmp_path / "b"), seeds=SEEDS)
  for w, r in zip(whole.members, resumed.members):
    assert [m["epoch"] for m in r.history] == [1, 2]
    assert int(r.state.step) == int(w.state.step)
    _assert_trees_close(w.state.params, r.state.params, 1e-6)
    _assert_trees_close(w.state.opt_state, r.state.opt_state, 1e-6)
  # It continued from epoch 1: the resumed run trained one epoch only.
  lines = open(tmp_path / "b" / "member1" / "metrics.jsonl").read().splitlines()
  assert [json.loads(l)["epoch"] for l in lines] == [1, 2]


def test_each_member_gets_its_own_files(small, tmp_path):
  seen = []
  training.fit(ktg.classic.dml(2, "small_cnn"), small,
               _config(epochs=1, save_variables=True, pictures=True),
               str(tmp_path), callback=lambda e, ms: seen.append(ms),
               seeds=(5, 6))
  assert len(seen) == 1 and len(seen[0]) == 2
  for k, seed in enumerate((5, 6)):
    d = tmp_path / f"member{k}"
    assert json.load(open(d / "config.json"))["seed"] == seed
    assert GraphSpec.load(str(d / "graph.json")) == ktg.classic.dml(
        2, "small_cnn")
    assert len(open(d / "metrics.jsonl").read().splitlines()) == 1
    assert os.listdir(d / "tb")
    for name in ("graph.png", "curves.png"):
      assert os.path.getsize(d / name) > 0
    assert sorted(os.listdir(d / "variables")) == ["node0", "node1"]
  assert os.listdir(tmp_path / "checkpoints")


def test_resume_refuses_a_folder_of_other_seeds_or_graphs(small, tmp_path):
  """A script that kept one folder per method and varied --seeds resumed seed
  0's finished checkpoint as seed 1's run (its JSON was seed 0's numbers)."""
  cfg = _config(epochs=1)
  training.fit(ktg.classic.dml(2, "small_cnn"), small, cfg, str(tmp_path),
               seeds=(0,))
  again = _config(epochs=1, resume=True)
  with pytest.raises(run_files.RunFolderInUseError,
                     match=r"seed 0, not seed 1.*another --workdir"):
    training.fit(ktg.classic.dml(2, "small_cnn"), small, again,
                 str(tmp_path), seeds=(1,))
  with pytest.raises(run_files.RunFolderInUseError, match="another graph"):
    training.fit(_graphs()[1], small, again, str(tmp_path), seeds=(0,))
  # the same run resumes (finished: nothing left to train)
  r = training.fit(ktg.classic.dml(2, "small_cnn"), small, again,
                   str(tmp_path), seeds=(0,))
  assert [m["epoch"] for m in r.members[0].history] == [1]


def test_fit_seeds_reports_sample_std(small):
  result = seeds.fit_seeds(ktg.classic.vanilla("small_cnn"), small,
                           _config(epochs=1), (0, 1, 2), strategy="vmap")
  assert result.strategy == "vmap" and result.final.shape == (3,)
  x = result.final
  want = np.sqrt(np.sum((x - x.mean()) ** 2) / (len(x) - 1))  # ddof=1
  assert result.std == pytest.approx(want)
  assert result.mean == pytest.approx(np.sum(x) / 3)
  assert len(set(x.tolist())) > 1  # seeds differ, so the std is not 0
  one = seeds.summarize((0,), [[{"target_accuracy": 0.5}]], "single")
  assert one.mean == 0.5 and np.isnan(one.std)


def test_members_broadcast_and_refuse_mixed_structures():
  dml = ktg.classic.dml(2, "small_cnn")
  ms = population.members(dml, (1, 2, 3))
  assert [m.seed for m in ms] == [1, 2, 3] and all(m.spec == dml for m in ms)
  assert [m.seed for m in population.members([dml, dml], (7,))] == [7, 7]
  with pytest.raises(ValueError, match="2 graphs but 3 seeds"):
    population.members([dml, dml], (1, 2, 3))
  with pytest.raises(ValueError, match="graph 1 has structure"):
    population.members([dml, ktg.classic.dml(3, "small_cnn")], (0,))
  with pytest.raises(ValueError, match="strategy='pmap'"):
    population.runner(ms, "pmap", num_classes=10, total_steps=1,
                      optimizer=ktg.optim.sgd(0.1))


SHARDED_FIT = """
import sys
import jax, numpy as np
from ktg_jax import data
from ktg_jax.run import training
sys.path.insert(0, sys.argv[1])
from test_population import SEEDS, _config, _graphs
small = data.load("digits", limit=256)
cfg = _config(epochs=1, population_strategy="vmap")
sharded = training.fit(_graphs(), small, cfg, seeds=SEEDS)
leaf = jax.tree.leaves(sharded.state.params)[0]
assert len(leaf.sharding.device_set) == 2, leaf.sharding
cfg.shard_population = False
plain = training.fit(_graphs(), small, cfg, seeds=SEEDS)
assert len(jax.tree.leaves(plain.state.params)[0].sharding.device_set) == 1
for a, b in zip(jax.tree.leaves(sharded.state), jax.tree.leaves(plain.state)):
  if a.dtype != jax.numpy.float32:
    continue
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)
print("OK")
"""


def test_fit_spreads_a_vmapped_population_over_devices():
  """fit's one loop, 2 forced host devices: the members are split over them
  and the run equals the same population on one device."""
  import subprocess
  import sys
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=2")
  out = subprocess.run([sys.executable, "-c", SHARDED_FIT,
                        os.path.dirname(__file__)], env=env,
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.strip().endswith("OK")
