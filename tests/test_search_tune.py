"""A real (tiny) search through Ray Tune: ASHA stops trials, a diverging trial
is recorded as failed and the search goes on, a rerun restores, bad settings
fail fast. CPU: digits, 2-node small_cnn graphs, 3 epochs."""

import json
import math
import os
import tempfile

import pytest
import ray

from ktg_jax import GraphSpec
from ktg_jax.search import progress
from ktg_jax.search import report
from ktg_jax.search import presets
from ktg_jax.search import trial
from ktg_jax.search import tune as st

# Shared by the search tests (and kept between runs): graphs of one structure
# compile the same step, so only the first trial pays for XLA.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAX_CACHE = os.path.join(tempfile.gettempdir(), "ktg_search_test_jax_cache")
EPOCHS = 3


def tiny_config(output_dir, num_trials=8, **kw):
  space = presets.get("tiny", num_nodes=2, aux_models=("small_cnn",))
  settings = st.Settings(dataset="digits", cache_dir=JAX_CACHE, train=dict(
      epochs=EPOCHS, batch_size=64, augment=False, lr_schedule="cosine"))
  return st.SearchConfig(space=space, output_dir=str(output_dir),
                         num_trials=num_trials, workers=2, epochs=EPOCHS,
                         settings=settings, seed=kw.pop("seed", 0), **kw)


def make_diverging_fit():
  """training.fit, but graphs whose 1->0 edge is Correct "diverge" after
  epoch 1 (an injected NaN: the trial must fail, the search go on). A closure,
  so Ray ships it by value (workers cannot import this test module)."""

  def diverging_fit(spec, data, config, workdir=None, callback=None):
    from ktg_jax.run import training  # pylint: disable=import-outside-toplevel

    def cb(epoch, metrics):
      stop = callback(epoch, metrics)
      if spec.gate(1, 0).name == "correct":
        raise training.DivergedError(
            f"injected: node 0 loss is nan at epoch {epoch}")
      return stop
    return training.fit(spec, data, config, workdir=workdir, callback=cb)
  return diverging_fit


@pytest.fixture(scope="module")
def local_ray():
  ray.init(num_cpus=2, include_dashboard=False)
  yield
  ray.shutdown()


@pytest.fixture(scope="module")
def finished_search(local_ray, tmp_path_factory):
  del local_ray
  sc = tiny_config(tmp_path_factory.mktemp("search"))
  grid = st.run(sc, fit_fn=make_diverging_fit())
  trials = report.records(grid, sc.space, EPOCHS,
                          os.path.join(sc.output_dir, progress.EVENTS))
  paths = report.write_outputs(trials, sc.output_dir, title="test")
  return sc, trials, paths


def test_search_runs_every_trial_and_asha_stops_some(finished_search):
  sc, trials, _ = finished_search
  assert len(trials) == sc.num_trials
  assert [t.index for t in trials] == list(range(1, sc.num_trials + 1))
  stopped = [t for t in trials if t.status == "stopped"]
  assert stopped, report.summary(trials, EPOCHS)
  assert all(1 <= t.epochs < EPOCHS for t in stopped)
  assert any(t.status == "completed" and t.epochs == EPOCHS for t in trials)
  for t in trials:
    assert GraphSpec.from_json(t.graph).num_nodes == 2  # every graph valid


def test_diverging_trial_is_recorded_and_search_goes_on(finished_search):
  _, trials, paths = finished_search
  failed = [t for t in trials if t.status == "error"]
  assert failed, "seed 0 should sample a graph with a Correct 1->0 edge"
  assert all("DivergedError" in t.reason and "injected" in t.reason
             for t in failed)
  assert all(t.epochs == 1 for t in failed)  # it reported once, then died
  later = max(t.index for t in failed)
  assert any(t.index > later and t.status != "error" for t in trials) or \
      later == len(trials)
  rows = report.read_table(paths["table"])
  assert {r["status"] for r in rows} >= {"error", "stopped", "completed"}
  assert all(r["reason"] for r in rows if r["status"] == "error")


def test_outputs_best_graph_table_and_plots(finished_search):
  _, trials, paths = finished_search
  best = report.best(trials)
  assert best.status == "completed" and not math.isnan(best.score)
  assert best.score == max(t.score for t in trials
                           if t.status == "completed")
  assert GraphSpec.load(paths["best_json"]) == GraphSpec.from_json(best.graph)
  for key in ("scores", "best_png", "table"):
    assert os.path.getsize(paths[key]) > 0
  rows = report.read_table(paths["table"])
  assert len(rows) == len(trials)
  assert {"graph", "epochs", "rung", "score", "status"} <= set(rows[0])


def test_rerun_restores_without_rerunning_finished_trials(finished_search):
  sc, trials, _ = finished_search
  events = os.path.join(sc.output_dir, progress.EVENTS)
  with open(events) as f:
    starts_before = sum(json.loads(l)["event"] == "start" for l in f)
  grid = st.run(sc, fit_fn=make_diverging_fit())  # the same "command" again
  again = report.records(grid, sc.space, EPOCHS,
                         os.path.join(sc.output_dir, progress.EVENTS))
  with open(events) as f:
    starts_after = sum(json.loads(l)["event"] == "start" for l in f)
  assert starts_after == starts_before  # nothing was trained again
  assert [(t.trial_id, t.status, t.epochs) for t in again] == [
      (t.trial_id, t.status, t.epochs) for t in trials]


def test_a_changed_command_does_not_resume_silently(finished_search):
  sc, _, _ = finished_search
  with pytest.raises(st.SearchError, match="num_trials"):
    st.run(sc._replace(num_trials=sc.num_trials + 4))


def test_proxy_script_reads_every_trial_s_curve(finished_search):
  """experiments/search_proxy.py on the finished search: each trial's curve
  ends on the score and epoch the trial table records."""
  import subprocess, sys  # pylint: disable=import-outside-toplevel,multiple-imports
  from ray.tune import ExperimentAnalysis  # pylint: disable=import-outside-toplevel
  from ktg_jax.search import proxy  # pylint: disable=import-outside-toplevel
  sc, trials, _ = finished_search
  curves = proxy.curves_of(ExperimentAnalysis(
      os.path.join(sc.output_dir, "tune")).trial_dataframes)
  scored = [t for t in trials if t.status != "error"]
  assert {t.trial_id for t in scored} <= set(curves)
  for t in scored:
    assert max(curves[t.trial_id]) == t.epochs
    assert curves[t.trial_id][t.epochs] == pytest.approx(t.score)
  out_json = os.path.join(sc.output_dir, "proxy.json")
  out = subprocess.run(
      [sys.executable, os.path.join(ROOT, "experiments", "search_proxy.py"),
       f"--workdir={sc.output_dir}", "--proxy_epochs=1,2",
       f"--json={out_json}"], capture_output=True, text=True, timeout=300,
      env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr[-2000:]
  completed = sum(t.status == "completed" for t in trials)
  assert f"full length {EPOCHS} epochs ({completed} reached it)" in out.stdout
  with open(out_json) as f:
    rows = json.load(f)["rows"]
  assert [r["proxy_epoch"] for r in rows] == [1, 2]
  assert all(r["n"] == completed for r in rows)


def test_the_test_split_is_sealed_during_search():
  data = trial.load_data(st.Settings(dataset="digits"))  # pylint: disable=protected-access
  with pytest.raises(Exception, match="sealed"):
    len(data.test)


@pytest.mark.parametrize("field,value", [
    ("protocol", "grid"), ("num_trials", 0), ("workers", 0),
    ("cpus_per_trial", 0), ("gpus_per_trial", -1), ("epochs", 0),
    ("output_dir", ""), ("grace_period", 0), ("grace_period", 99),
    ("seeds_per_graph", 0), ("seeds_per_graph", 1.5),
])
def test_bad_settings_fail_fast(tmp_path, field, value):
  sc = tiny_config(tmp_path)._replace(**{field: value})
  with pytest.raises(st.SearchError, match=field):
    st.validate(sc)


def _asha_rungs(scheduler) -> list[int]:
  return sorted(m for m, _ in scheduler._brackets[0]._rungs)  # Ray's own


def test_grace_period_moves_asha_rungs():
  asha = st.PROTOCOLS["asha"]
  assert _asha_rungs(st.scheduler(asha, 15)) == [1, 2, 4, 8]
  assert _asha_rungs(st.scheduler(asha, 15, grace_period=3)) == [3, 6, 12]


def test_bo_asha_is_ngopt_proposals_with_asha_rungs():
  bo_asha = st.PROTOCOLS["bo_asha"]
  assert bo_asha.optimizer == st.PROTOCOLS["bo"].optimizer
  # Ray counts max_t as the last rung: a trial there has run its full length
  assert _asha_rungs(st.scheduler(bo_asha, 32, grace_period=8)) == [8, 16, 32]
  assert isinstance(st.scheduler(st.PROTOCOLS["bo"], 32),
                    st.FIFOScheduler)


def test_unknown_training_override_fails_fast(tmp_path):
  sc = tiny_config(tmp_path)
  sc = sc._replace(settings=sc.settings._replace(train={"epochz": 3}))
  with pytest.raises(st.SearchError, match="epochz"):
    st.validate(sc)


def test_protocols_name_nevergrad_optimizers():
  import nevergrad as ng  # pylint: disable=import-outside-toplevel
  for p in st.PROTOCOLS.values():
    assert p.optimizer in ng.optimizers.registry
  space = presets.get("gamma")
  s = st.searcher(space, st.PROTOCOLS["bo"], num_trials=10, workers=2)
  s.set_search_properties(st.METRIC, "max", {})
  for i in range(4):  # NGOpt proposes feasible gamma graphs
    point = s.suggest(f"t{i}")
    assert space.to_spec(point).num_nodes == 2
    s.on_trial_complete(f"t{i}", {st.METRIC: 0.1 * i})


# --- packs: K graphs per trial, one population, each member its own result ---

def test_pack_search_reports_every_member_with_its_own_point(local_ray,
                                                             tmp_path):
  del local_ray
  from ktg_jax.run import training  # pylint: disable=import-outside-toplevel
  # No Cutoff among the gates and one aux model: every pack is one program.
  space = presets.get("tiny", num_nodes=2, aux_models=("small_cnn",),
                     gates=("through", "linear"))
  settings = st.Settings(dataset="digits", cache_dir=JAX_CACHE, limit=400,
                         train=dict(epochs=1, batch_size=64, augment=False,
                                    lr_schedule="cosine"))
  sc = st.SearchConfig(space=space, output_dir=str(tmp_path), num_trials=2,
                       protocol="random", pack_size=2, workers=1, epochs=1,
                       settings=settings)
  grid = st.run(sc)
  assert len(grid) == st.num_samples(sc) == 1  # one trial, 2 graphs
  assert [len(r.config["pack"]) for r in grid] == [2]
  for r in grid:
    assert r.metrics["pack_programs"] == 1
    assert len(r.metrics["member_scores"]) == len(r.config["pack"])
    assert r.metrics["target_accuracy"] == max(r.metrics["member_scores"])
  trials = report.records(grid, space, 1)
  assert len(trials) == sc.num_trials
  assert len({json.dumps(t.point, sort_keys=True) for t in trials}) == 2
  for t in trials:
    assert t.status == "completed" and 0 < t.score <= 1
    assert GraphSpec.from_json(t.graph) == space.to_spec(t.point)
  # A member's score is that of its own point trained alone (fit's
  # population contract), not its pack's.
  t = trials[0]
  data = trial.load_data(settings)  # pylint: disable=protected-access
  alone = training.fit(space.to_spec(t.point), data,
                       trial.train_config(settings))
  assert alone.final_target_accuracy == pytest.approx(t.score, abs=1e-6)


def test_pack_searcher_tells_every_member_to_nevergrad():
  from ktg_jax.search import packs  # pylint: disable=import-outside-toplevel
  space = presets.get("gamma")
  inner = st.searcher(space, st.PROTOCOLS["bo"], num_trials=6, workers=3)
  s = packs.PackSearch(inner, pack_size=3, num_points=6)
  s.set_search_properties(st.METRIC, "max", {})
  pack = s.suggest("a")["pack"]
  assert len(pack) == 3 and all(space.to_spec(p) for p in pack)
  assert len(s.suggest("b")["pack"]) == 3
  assert s.suggest("c") == "FINISHED"
  s.on_trial_complete("a", {packs.MEMBER_SCORES: [0.1, 0.2, float("nan")]})
  s.on_trial_complete("b", None, error=True)
  opt = inner._nevergrad_opt  # pylint: disable=protected-access
  assert opt.num_tell == 2  # the nan member and the errored pack are not told
  assert not inner._live_trial_mapping  # pylint: disable=protected-access


# --- seeds: one graph, S seeds, one population, scored by their mean ---------

def test_seed_mean_trial_scores_a_graph_by_its_seeds_mean(local_ray, tmp_path):
  del local_ray
  from ktg_jax.run import training  # pylint: disable=import-outside-toplevel
  space = presets.get("tiny", num_nodes=2, aux_models=("small_cnn",),
                     gates=("through", "linear"))
  settings = st.Settings(dataset="digits", cache_dir=JAX_CACHE, limit=400,
                         train=dict(epochs=1, batch_size=64, augment=False,
                                    lr_schedule="cosine", seed=3))
  sc = st.SearchConfig(space=space, output_dir=str(tmp_path), num_trials=1,
                       protocol="bo_asha", seeds_per_graph=2, workers=1,
                       epochs=1, settings=settings, seed=3)
  (r,) = st.run(sc)
  seeds = r.metrics[trial.SEED_SCORES]
  assert len(seeds) == 2
  assert r.metrics[st.METRIC] == pytest.approx(sum(seeds) / 2)
  (t,) = report.records(st.run(sc), space, 1)  # resumes: nothing retrained
  assert t.score == pytest.approx(sum(seeds) / 2)
  # Seed k is the graph trained alone with seed 3 + k (fit's population
  # contract), so the first seed is the one-seed trial's score.
  data = trial.load_data(settings)
  spec = space.to_spec(r.config)
  node_accuracy = []
  for k in range(2):
    cfg = trial.train_config(settings)
    cfg.seed = 3 + k
    alone = training.fit(spec, data, cfg)
    assert alone.final_target_accuracy == pytest.approx(seeds[k], abs=1e-6)
    node_accuracy.append(alone.history[-1]["accuracy"])
  # per node, the mean over seeds (a "best"-node space picks its target by it)
  assert r.metrics["node_accuracy"] == pytest.approx(
      [(a + b) / 2 for a, b in zip(*node_accuracy)], abs=1e-6)


def test_seeds_per_graph_is_part_of_the_search_and_not_of_packs(tmp_path):
  with pytest.raises(st.SearchError, match="seeds_per_graph"):
    st.validate(tiny_config(tmp_path)._replace(
        pack_size=2, protocol="random", seeds_per_graph=2))
  st.check_same_search(tiny_config(tmp_path))
  with pytest.raises(st.SearchError, match="seeds_per_graph"):
    st.check_same_search(tiny_config(tmp_path)._replace(seeds_per_graph=3))


def test_packs_refuse_early_stopping(tmp_path):
  with pytest.raises(st.SearchError, match="pack_size"):
    st.validate(tiny_config(tmp_path)._replace(pack_size=2))
  st.validate(tiny_config(tmp_path)._replace(pack_size=2, protocol="random"))


def test_a_search_resumes_under_a_config_that_spells_every_field(tmp_path):
  """Before 2026-12-03 search.py stored only the flags it was given
  (train={"epochs": 3, ...}); now it stores every field of its --config.
  The same training resumes; a changed field is still refused, by name."""
  import importlib.util  # pylint: disable=import-outside-toplevel
  sc = tiny_config(tmp_path)._replace(settings=st.Settings(
      dataset="digits", train={"epochs": EPOCHS, "augment": False,
                               "lr_schedule": "cosine", "seed": 0}))
  st.check_same_search(sc)  # the old form, written
  path = os.path.join(ROOT, "experiments", "configs", "search.py")
  spec = importlib.util.spec_from_file_location("search_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()  # what search.py reads without --config
  config.update(epochs=EPOCHS, augment=False)
  known = dict(config.items())
  st.check_same_search(sc._replace(settings=sc.settings._replace(
      train=known)))  # resumes: the same training
  with pytest.raises(st.SearchError, match=r"settings\.train\.batch_size: "
                     r"64 -> 32"):
    st.check_same_search(sc._replace(settings=sc.settings._replace(
        train={**known, "batch_size": 32})))


def test_progress_best_so_far_skips_a_diverged_trials_nan(tmp_path, capsys):
  class Trial:
    def __init__(self, trial_id):
      self.trial_id = trial_id
  p = progress.Progress(str(tmp_path), epochs=4, num_trials=3)
  for tid, score in (("a", float("nan")), ("b", 0.25), ("c", 0.5),
                     ("d", float("inf"))):
    p.on_trial_result(0, [], Trial(tid), {progress.METRIC: score,
                                         progress.TIME_ATTR: 1})
  p.on_trial_complete(0, [], Trial("c"))
  assert "best so far 0.5000 (c, epoch 1)" in capsys.readouterr().out


def test_progress_best_so_far_survives_a_resume(tmp_path, capsys):
  """A resumed search's "best so far" counts the trials finished before
  the resume (their best is in events.jsonl), not only the new ones."""
  class Trial:
    def __init__(self, trial_id):
      self.trial_id = trial_id
  p = progress.Progress(str(tmp_path), epochs=2, num_trials=3)
  for epoch, score in ((1, 0.6), (2, 0.55)):
    p.on_trial_result(0, [], Trial("a"), {progress.METRIC: score,
                                         progress.TIME_ATTR: epoch})
  p.on_trial_complete(0, [], Trial("a"))
  p.on_trial_result(0, [], Trial("b"), {progress.METRIC: float("nan"),
                                       progress.TIME_ATTR: 1})
  p.on_trial_error(0, [], Trial("b"))
  resumed = progress.Progress(str(tmp_path), epochs=2, num_trials=3)
  resumed.setup()
  resumed.on_trial_start(0, [], Trial("c"))
  resumed.on_trial_result(0, [], Trial("c"), {progress.METRIC: 0.5,
                                             progress.TIME_ATTR: 1})
  resumed.on_trial_complete(0, [], Trial("c"))
  last = capsys.readouterr().out.strip().splitlines()[-1]
  assert "completed 1, stopped early 1, errored 1" in last
  assert "best so far 0.6000 (a, epoch 1)" in last
