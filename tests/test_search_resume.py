"""kill -9 in the middle of a search, run the same command again: the search
continues and the trials finished before the kill are not trained again.

The kill waits for an observed event, not for a time: Ray's experiment state
on disk lists a finished trial. The search is then frozen (SIGSTOP, the whole
process tree at once), the trials that state lists as finished are read from
the frozen disk, and the tree is killed. One worker runs the 6 trials one
after another, and the state is saved every second, so the first save that
lists a finished trial comes before the last trial ends on any machine
(each trial compiles and trains 3 epochs; a machine that did all 5 remaining
trials within one save period would fail the "killed too late" check, loudly).
"""

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import psutil

from ktg_jax.search import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_TRIALS = 6
CHECKPOINT_S = 1  # Ray's experiment-state period in this test


def command(output_dir):
  return [sys.executable, os.path.join(ROOT, "experiments", "search.py"),
          "--space=tiny", "--num_nodes=2", "--aux_models=small_cnn",
          "--config.dataset=digits", f"--num_trials={NUM_TRIALS}",
          "--workers=1", "--config.epochs=3", "--config.augment=false",
          "--num_cpus=2",
          f"--workdir={output_dir}"]


def env():
  e = dict(os.environ, JAX_PLATFORMS="cpu")
  e["TUNE_GLOBAL_CHECKPOINT_S"] = str(CHECKPOINT_S)
  return e


def events(output_dir):
  path = os.path.join(output_dir, "events.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(l) for l in f if l.strip()]


def finished(evs, before=float("inf")):
  return {e["trial_id"] for e in evs
          if e["event"] != "start" and e["time"] < before}


def saved_finished(output_dir):
  """Trial ids that Ray's newest experiment state on disk lists as finished
  (TERMINATED): the trials a resumed search keeps."""
  files = sorted(glob.glob(os.path.join(output_dir, "*", "experiment_state*.json")),
                 key=os.path.getmtime)
  if not files:
    return set()
  try:
    with open(files[-1]) as f:
      state = json.load(f)
  except (OSError, ValueError):  # caught mid-write: not saved yet
    return set()
  done = set()
  for entry in state.get("trial_data", []):
    trial = entry[0] if isinstance(entry, (list, tuple)) else entry
    trial = json.loads(trial) if isinstance(trial, str) else trial
    if trial.get("status") == "TERMINATED":
      done.add(trial["trial_id"])
  return done


def signal_tree(proc, sig):
  for p in [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(
      recursive=True):
    try:
      p.send_signal(sig)
    except psutil.NoSuchProcess:
      pass


def kill_tree(proc):
  """kill -9 the driver and every process it started (Ray's included)."""
  tree = psutil.Process(proc.pid).children(recursive=True)
  os.killpg(proc.pid, signal.SIGKILL)
  proc.wait()
  for p in tree:
    try:
      p.kill()
    except psutil.NoSuchProcess:
      pass


def test_kill_then_same_command_resumes(tmp_path):
  out = str(tmp_path / "search")
  # Its own session: the kill takes the driver and the Ray it started.
  proc = subprocess.Popen(command(out), env=env(), cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
  try:
    deadline = time.time() + 240
    while not saved_finished(out) and time.time() < deadline:
      assert proc.poll() is None, "the search ended before it was killed"
      time.sleep(0.05)
    signal_tree(proc, signal.SIGSTOP)  # nothing moves while we read the disk
    before = saved_finished(out)
    assert before, "no finished trial was saved within 240 s"
  finally:
    kill_tree(proc)
  killed_at = time.time()
  assert len(before) < NUM_TRIALS, "killed too late to test anything"

  again = subprocess.run(command(out), env=env(), cwd=ROOT, timeout=300,
                         capture_output=True, text=True)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "resuming the search" in again.stdout

  rows = report.read_table(os.path.join(out, report.TABLE))
  assert len(rows) == NUM_TRIALS
  assert before <= {r["trial_id"] for r in rows}
  restarted = {e["trial_id"] for e in events(out)
               if e["event"] == "start" and e["time"] > killed_at}
  assert not restarted & before, "a finished trial was trained again"
  assert all(r["status"] in ("completed", "stopped", "error") for r in rows)
