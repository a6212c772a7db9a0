"""The training loop: learning, the sealed test split, resume, divergence, pictures."""

import os

import jax
import numpy as np
import pytest

import ktg_jax as ktg
from ktg_jax import checkpoint, data
from ktg_jax.run import training
from ktg_jax.viz import run_pictures
from ktg_jax.core import step


@pytest.fixture(scope="module")
def digits():
  return data.load("digits", seed=0)


def _config(**kw):
  c = training.default_config()
  c.update(dict(epochs=2, batch_size=32, learning_rate=0.05,
                lr_schedule="cosine", verbose=False, pictures=False,
                save_variables=False, keep_checkpoints=2))
  c.update(kw)
  return c


def test_fit_learns_digits_without_reading_test(digits, tmp_path):
  sealed = data.sealed(digits)
  seen = []
  result = training.fit(ktg.classic.vanilla("small_cnn"), sealed,
                        _config(epochs=4, checkpoint_every=0),
                        workdir=str(tmp_path),
                        callback=lambda e, m: seen.append((e, m)))
  assert sealed.test.reads == 0
  assert result.final_target_accuracy > 0.5  # chance is 0.1
  assert result.best_target_accuracy >= result.final_target_accuracy
  assert [e for e, _ in seen] == [1, 2, 3, 4]
  m = seen[-1][1]
  for key in ("target_accuracy", "accuracy", "train_loss", "epoch",
              "steps_per_sec"):
    assert key in m
  lines = open(tmp_path / "metrics.jsonl").read().splitlines()
  assert len(lines) == 4
  assert os.listdir(tmp_path / "tb")
  assert os.path.exists(tmp_path / data.SPLIT_FILE)
  assert ktg.GraphSpec.load(str(tmp_path / "graph.json")) == \
      ktg.classic.vanilla("small_cnn")


def test_eval_every_epochs_skips_evaluations_not_training():
  small = data.load("digits", limit=200)
  spec = ktg.classic.vanilla("small_cnn")
  every = training.fit(spec, small, _config(epochs=3, checkpoint_every=0))
  last = training.fit(spec, small, _config(epochs=3, eval_every_epochs=0))
  second = training.fit(spec, small, _config(epochs=3, eval_every_epochs=2))
  nan = [np.isnan(m["target_accuracy"]) for m in last.history]
  assert nan == [True, True, False]
  assert [np.isnan(m["target_accuracy"]) for m in second.history] == [
      True, False, False]
  # Evaluating is read-only: the last epoch's score is the same either way.
  assert last.final_target_accuracy == every.final_target_accuracy
  assert second.best_target_accuracy == max(
      every.history[1]["target_accuracy"], every.final_target_accuracy)
  with pytest.raises(ValueError, match="eval_every_epochs=-1"):
    training.fit(spec, small, _config(eval_every_epochs=-1))


def test_eval_on_test_of_sealed_data_raises(digits):
  with pytest.raises(data.TestSplitAccessError):
    training.fit(ktg.classic.vanilla("small_cnn"), data.sealed(digits),
                 _config(eval_split="test"))


def test_callback_true_stops(digits):
  small = data.load("digits", limit=200)
  result = training.fit(ktg.classic.vanilla("small_cnn"), small,
                        _config(epochs=5), callback=lambda e, m: e == 2)
  assert len(result.history) == 2


def test_resume_gives_the_same_parameters(tmp_path):
  small = data.load("digits", limit=320)
  spec = ktg.classic.dml(2, "small_cnn")
  full = training.fit(spec, small, _config(), workdir=str(tmp_path / "a"))
  # "Killed" after epoch 1: the callback stops it once the checkpoint is written.
  training.fit(spec, small, _config(), workdir=str(tmp_path / "b"),
               callback=lambda e, m: True)
  resumed = training.fit(spec, small, _config(resume=True),
                         workdir=str(tmp_path / "b"))
  assert [m["epoch"] for m in resumed.history] == [1, 2]
  assert int(resumed.state.step) == int(full.state.step)
  jax.tree_util.tree_map(np.testing.assert_allclose,
                         full.state.params, resumed.state.params)
  jax.tree_util.tree_map(np.testing.assert_allclose,
                         full.state.model_state, resumed.state.model_state)
  assert resumed.final_target_accuracy == full.final_target_accuracy


def test_nan_loss_raises_diverged():
  # NaN *images* do not do it: XLA:CPU's relu maps NaN to 0. A huge lr does.
  small = data.load("digits", limit=200)
  with pytest.raises(training.DivergedError, match=r"node\(s\) \[0\]"):
    training.fit(ktg.classic.vanilla("small_cnn"), small,
                 _config(epochs=1, learning_rate=1e30, lr_schedule="constant"))


def test_vanilla_variables_feed_a_kd_teacher(tmp_path):
  small = data.load("digits", limit=200)
  teacher = training.fit(ktg.classic.vanilla("small_cnn"), small,
                         _config(epochs=1, save_variables=True),
                         workdir=str(tmp_path / "teacher"))
  path = str(tmp_path / "teacher" / "variables" / "node0")
  assert os.path.isdir(path)
  spec = ktg.classic.kd("small_cnn", "small_cnn", path)
  program = ktg.compile(spec, num_classes=10, total_steps=10,
                        optimizer=ktg.optim.sgd(0.01))
  state = program.init(jax.random.key(1), small.train.images[:8])
  jax.tree_util.tree_map(np.testing.assert_array_equal,
                         state.frozen["node1"],
                         step.node_variables(teacher.state, 0))
  student = training.fit(spec, small, _config(epochs=1))
  assert np.isfinite(student.final_target_accuracy)


def test_pictures_are_png(tmp_path):
  spec = ktg.GraphSpec(nodes=["small_cnn", "resnet8", "small_cnn"], edges={
      ("label", 0): ktg.gates.Through(), ("label", 1): ktg.gates.Linear(),
      (1, 0): ktg.gates.Sine(f=0.5, phi=4.71), (0, 1): ktg.gates.Correct(),
      (2, 0): ktg.gates.PositiveGamma(gamma=2.0),
      (0, 2): ktg.gates.Through(), ("label", 2): ktg.gates.Through()})
  history = [{"epoch": e, "accuracy": [0.1 * e, 0.2, 0.3],
              "train_loss": [1.0 / e, 1.0, 1.0], "eval_split": "val"}
             for e in (1, 2, 3)]
  for path in run_pictures.write_run_pictures(spec, history, str(tmp_path)):
    with open(path, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 5000


def test_run_checkpoint_keeps_n(tmp_path):
  mngr = checkpoint.run_manager(str(tmp_path), keep=2)
  state = {"w": np.arange(3.0), "rng": jax.random.key(0)}
  for epoch in (1, 2, 3):
    checkpoint.save_run(mngr, epoch, state, {"epoch": epoch})
  assert mngr.all_steps() == [2, 3]
  epoch, restored, meta = checkpoint.restore_run(mngr, state)
  mngr.close()
  assert epoch == 3 and meta == {"epoch": 3}
  np.testing.assert_array_equal(jax.random.key_data(restored["rng"]),
                                jax.random.key_data(state["rng"]))
