"""``fit`` on semi-supervised data (ktg_jax/run/feeds.py): end to end, against a
hand-written loop over ``semi.batch_at``, resumable; EMA scoring; score rule."""

import json
import os

import chex
import jax
import numpy as np
import pytest

from ktg_jax import classic
from ktg_jax.run import feeds
from ktg_jax.run import scoring
from ktg_jax.run import training
from ktg_jax.data import augment as augment_lib
from ktg_jax.data import semi as semi_lib
from ktg_jax.core import compile as compile_graph

B, MU, EVERY = 8, 2, 3


@pytest.fixture(scope="module")
def semi():
  return semi_lib.load("digits", per_class=4, seed=1, limit=600)


def _config(**kw):
  cfg = training.default_config()
  cfg.update(dataset="digits", batch_size=B, unlabeled_ratio=MU,
             eval_every=EVERY, epochs=2, learning_rate=0.05,
             lr_schedule="cosine", lr_boundaries=(), eval_batch_size=128,
             verbose=False, pictures=False, save_variables=False)
  cfg.update(kw)
  return cfg


def test_semi_run_trains_on_few_labels_and_writes_its_metrics(semi, tmp_path):
  spec = classic.with_ema_target(classic.fixmatch("small_cnn", tau=0.5), 0.9)
  r = training.fit(spec, semi, _config(), workdir=str(tmp_path))
  lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert [m["epoch"] for m in lines] == [1, 2] == [m["epoch"] for m in
                                                    r.history]
  for m in lines:
    assert len(m["accuracy"]) == 2 and all(0 <= a <= 1 for a in m["accuracy"])
    assert np.isfinite(m["train_loss"]).all()
    # The score is the EMA node's (the target after with_ema_target).
    assert m["target_accuracy"] == m["accuracy"][1]
  saved = semi_lib.load_labeled(str(tmp_path))
  np.testing.assert_array_equal(saved["labeled"], semi.indices["labeled"])
  assert not set(saved["labeled"]) & set(semi.indices["val"])
  np.testing.assert_array_equal(
      np.bincount(semi.labeled.labels, minlength=10), [4] * 10)


def test_fit_equals_a_hand_written_loop_over_batch_at(semi):
  """Iteration k of a semi run is ``step(state, batch_at(semi, k))``."""
  spec, cfg = classic.pi_model("small_cnn", weight=2.0), _config(seed=3)
  r = training.fit(spec, semi, cfg)
  total = cfg.epochs * EVERY
  optimizer, _ = training.make_optimizer(cfg, EVERY)
  program = compile_graph(
      spec, num_classes=10, total_steps=total, optimizer=optimizer,
      augment=augment_lib.for_dataset("digits"),
      views=feeds.views("digits", cfg, [spec]))
  state = program.init(jax.random.key(3), semi.labeled.images[:B])
  for k in range(total):
    batch = semi_lib.batch_at(semi, k, B, MU, seed=3)
    chex.assert_shape(batch["unlabeled_image"], (MU * B, 8, 8, 1))
    state, _ = program.step(state, batch)
  chex.assert_trees_all_close(r.state.params, state.params, atol=1e-6)


def test_a_resumed_semi_run_equals_an_uninterrupted_one(semi, tmp_path):
  spec = classic.pseudo_label("small_cnn")
  full = training.fit(spec, semi, _config())
  # Interrupted after the first evaluation (same run length: same schedules).
  training.fit(spec, semi, _config(), workdir=str(tmp_path),
               callback=lambda epoch, m: epoch == 1)
  resumed = training.fit(spec, semi, _config(resume=True),
                         workdir=str(tmp_path))
  chex.assert_trees_all_close(full.state.params, resumed.state.params,
                              atol=1e-6)
  assert len(resumed.history) == 2


def test_evaluating_more_often_does_not_change_training(semi):
  """Two evaluations (every 3 iterations) or one (every 6) over the same 6
  iterations: bit-identical parameters and EMA — an evaluation reads the
  state, draws no training randomness and moves no batch statistics."""
  spec = classic.with_ema_target(classic.fixmatch("small_cnn", tau=0.5), 0.9)
  often = training.fit(spec, semi, _config(eval_every=3, epochs=2))
  once = training.fit(spec, semi, _config(eval_every=6, epochs=1))
  assert len(often.history) == 2 and len(once.history) == 1
  for field in ("params", "model_state", "ema", "opt_state", "rng"):
    chex.assert_trees_all_equal(getattr(often.state, field),
                                getattr(once.state, field))


def test_score_best_is_the_better_node_and_unknown_scores_are_named(semi):
  spec = classic.mean_teacher("small_cnn")
  acc = np.random.default_rng(0).uniform(size=2)
  assert scoring.score_fn(_config(score="best"))(acc, spec) == acc.max()
  assert scoring.score_fn(_config())(acc, spec) == acc[spec.target]
  with pytest.raises(ValueError, match="score='median'"):
    training.fit(spec, semi, _config(epochs=1, score="median"))


def test_a_view_the_config_lacks_is_named(semi):
  cfg = _config(epochs=1)
  cfg.views = {"weak": "weak"}
  with pytest.raises(ValueError, match=r"config.views=.*lacks \['strong'\]"):
    training.fit(classic.fixmatch("small_cnn"), semi, cfg)


def test_eval_every_none_is_one_pass_over_the_unlabelled_pool(semi):
  feed = feeds.make(semi, _config(eval_every=None), seeds=(0, 1), specs=())
  assert feed.steps_per_epoch == len(semi.unlabeled.labels) // (MU * B)
  batch = feed.batch(1, 2)
  np.testing.assert_array_equal(
      batch["label"][1],
      semi_lib.batch_at(semi, feed.steps_per_epoch + 2, B, MU, 1)["label"])
  with pytest.raises(ValueError, match="eval_every=0"):
    feeds.make(semi, _config(eval_every=0), seeds=(0,), specs=())


def test_with_ema_target_reuses_an_ema_of_the_target_or_adds_one():
  mt = classic.mean_teacher("small_cnn")
  assert classic.with_ema_target(mt).target == 1
  assert classic.with_ema_target(mt).nodes == mt.nodes
  fm = classic.with_ema_target(classic.fixmatch("small_cnn"), 0.9)
  assert fm.target == 1 and fm.nodes[1].of == 0 and fm.nodes[1].decay == 0.9
  assert fm.edges == classic.fixmatch("small_cnn").edges
