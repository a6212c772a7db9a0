"""The ch.5 command lines end to end, as the README runs them: search.py on a
ch5_* space (Ray Tune + ASHA, digits, 5 labels per class, 2 trials of 2
evaluations) writes best_graph.json, and semi.py --methods=ktg --search=<it>
trains that graph. One subprocess (absl flags are global; Ray and JAX start
once per script) to keep CI cost down."""

import json
import math
import os
import signal
import subprocess
import sys

from ktg_jax import GraphSpec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "experiments", "configs", "semi_fashion.py")
PER_CLASS, EVALS, TRIALS, SEEDS = 5, 2, 2, (0,)
# digits, 300 images a split, 10 + 20 images a step, an evaluation every 2.
TINY = ["--config.dataset=digits", "--config.limit=300",
        "--config.batch_size=10", "--config.unlabeled_ratio=2",
        "--config.eval_every=2", f"--config.epochs={EVALS}",
        "--config.eval_batch_size=300"]


def test_search_cli_then_semi_cli_trains_the_searched_graph(tmp_path):
  search_dir, semi_dir = tmp_path / "search", tmp_path / "semi"
  search = [sys.executable, "experiments/search.py", "--space=ch5_fixmatch",
            "--target_model=small_cnn", f"--config={CONFIG}", *TINY,
            f"--config.labels_per_class={PER_CLASS}",
            f"--num_trials={TRIALS}", "--workers=1", "--num_cpus=1",
            f"--workdir={search_dir}"]
  best = search_dir / "best_graph.json"
  semi = [sys.executable, "experiments/semi.py", f"--config={CONFIG}", *TINY,
          "--methods=ktg", f"--per_class={PER_CLASS}",
          "--seeds=" + ",".join(map(str, SEEDS)), f"--search={best}",
          f"--workdir={semi_dir}"]
  # semi.py reuses the compilations the search's trials cached (same graph).
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu",
         "JAX_COMPILATION_CACHE_DIR": str(search_dir / "jax_cache")}
  script = " && ".join(" ".join(f"'{a}'" for a in cmd) for cmd in (search,
                                                                   semi))
  # Its own process group: a timeout ends the scripts and their Ray too.
  proc = subprocess.Popen(["bash", "-c", script], cwd=ROOT, text=True,
                          env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, start_new_session=True)
  try:
    stdout, stderr = proc.communicate(timeout=600)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    raise
  assert proc.returncode == 0, stdout[-2000:] + stderr[-3000:]

  # The search: every trial recorded, on the validation split, with labels.
  stored = json.loads((search_dir / "search.json").read_text())
  assert stored["settings"]["labels_per_class"] == PER_CLASS
  assert stored["settings"]["train"]["eval_split"] == "val"
  assert stored["space"]["name"] == "ch5_fixmatch"
  events = [json.loads(l) for l in open(search_dir / "events.jsonl")]
  finished = [e for e in events if e["event"] in ("completed", "stopped")]
  assert len(finished) == TRIALS, events
  assert f"[search] {TRIALS} trials" in stdout
  spec = GraphSpec.load(str(best))
  assert spec.node_kinds() == ("trainable", "ema")  # a node + its EMA
  # the config's EMA settings reach the space (semi_fashion: decay 0.99, own BN)
  assert stored["space"]["ema_bn"] == "own" == spec.nodes[1].bn
  assert spec.nodes[1].decay == stored["space"]["ema_decay"] == 0.99

  # semi.py trained that graph (a population of one seed).
  records = [json.loads(l) for l in open(semi_dir / "results.jsonl")]
  assert [(r["method"], r["per_class"], r["seed"]) for r in records] == [
      ("ktg", PER_CLASS, s) for s in SEEDS]
  for r in records:
    assert 0.0 <= r["test_accuracy"] <= 1.0
    nodes = r["node_test_accuracy"]
    assert len(nodes) == len(spec.nodes)
    assert r["test_accuracy"] == nodes[spec.target]  # the searched target
  assert "| ktg |" in (semi_dir / "results.md").read_text()
  # The test split read once per run, after its last (EVALS-th) epoch: the
  # epochs before log their training metrics and no accuracy (NaN).
  logged = [[json.loads(l) for l in open(p)] for p in (
      semi_dir / f"n{PER_CLASS}").rglob("metrics.jsonl")]
  assert logged and all(
      [(m["epoch"], m["eval_split"]) for m in run
       if not math.isnan(m["target_accuracy"])] == [(EVALS, "test")]
      for run in logged), logged
  # The labelled draw saved beside the run: exactly PER_CLASS per class.
  drawn = [json.loads(p.read_text()) for p in (semi_dir / f"n{PER_CLASS}"
                                               ).rglob("labeled_indices.json")]
  assert drawn and all(d["per_class"] == PER_CLASS for d in drawn)
  assert all(len(set(d["labeled"])) == 10 * PER_CLASS for d in drawn)


def test_progress_events_path_survives_a_restore_from_another_directory(
    tmp_path, monkeypatch):
  """A restored Tuner unpickles its callbacks: the events file must not
  depend on the working directory of the first run."""
  import pickle  # pylint: disable=import-outside-toplevel
  from ktg_jax.search import tune as st  # pylint: disable=import-outside-toplevel
  from ktg_jax.search.progress import EVENTS  # pylint: disable=import-outside-toplevel
  (tmp_path / "a" / "out").mkdir(parents=True)
  monkeypatch.chdir(tmp_path / "a")
  progress = pickle.dumps(st.Progress("out", epochs=2, num_trials=1))
  monkeypatch.chdir(tmp_path)  # the resume runs elsewhere
  restored = pickle.loads(progress)
  restored.setup()
  restored.on_trial_start(0, [], type("T", (), {"trial_id": "t1"})())
  events = (tmp_path / "a" / "out" / EVENTS).read_text().splitlines()
  assert [json.loads(l)["event"] for l in events] == ["start"]
