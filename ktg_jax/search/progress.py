"""A search's progress, in the Ray Tune driver: one line per trial event
(done / stopped early / errored / running, best so far), and every event
appended to ``<output_dir>/events.jsonl`` (``report`` reads it: which trials
ASHA stopped, at which epoch)."""

from __future__ import annotations

import json
import math
import os
import time

from ray import tune

METRIC = "target_accuracy"  # validation accuracy of the target node
TIME_ATTR = "epoch"
EVENTS = "events.jsonl"


def _beats(score, best) -> bool:
  """Whether ``score`` is a new best over ``best`` ((score, ...) or None).
  A diverged trial reports NaN: as a best it would stay (NaN > x is never
  true) and hide every later score."""
  return (score is not None and math.isfinite(score)
          and (best is None or score > best[0]))


class Progress(tune.Callback):
  """One line per trial event: done / stopped early / errored / running, best
  so far; every event also appended to ``<output_dir>/events.jsonl``."""

  def __init__(self, output_dir: str, epochs: int, num_trials: int):
    # Absolute: a restored Tuner unpickles this object, maybe in another
    # working directory (a relative path pointed nowhere there).
    self._path = os.path.join(os.path.abspath(output_dir), EVENTS)
    self._epochs, self._num_trials = epochs, num_trials
    self._last, self._status, self._best = {}, {}, None
    self._trial_best = {}

  def setup(self, **info):
    """Called by Tune at every (re)start: finished trials of earlier runs
    still count (a restored Tuner unpickles this object, not ``__init__``)."""
    self._last, self._status, self._best, self._trial_best = {}, {}, None, {}
    if not os.path.exists(self._path):
      return
    with open(self._path) as f:
      for line in f:
        e = json.loads(line)
        if e["event"] != "start":
          self._status[e["trial_id"]] = e["event"]
        # ... and so do their best scores (events of before 2026-12-04 have
        # none: a resumed search's best then counts from the resume)
        self._offer(e.get("best"), e["trial_id"], e.get("best_epoch"))

  def _offer(self, score, trial_id, epoch):
    if _beats(score, self._best):
      self._best = (score, trial_id, epoch)

  def _log(self, trial, event: str, **extra):
    with open(self._path, "a") as f:
      f.write(json.dumps({"time": time.time(), "trial_id": trial.trial_id,
                          "event": event, **extra}) + "\n")

  def _print(self):
    done = [t for t, s in self._status.items() if s != "running"]
    count = lambda s: sum(v == s for v in self._status.values())
    best = ("-" if self._best is None else
            f"{self._best[0]:.4f} ({self._best[1]}, epoch {self._best[2]})")
    print(f"[search] trials {len(done)}/{self._num_trials} done "
          f"(completed {count('completed')}, stopped early {count('stopped')}"
          f", errored {count('error')}), running {count('running')}; "
          f"best so far {best}", flush=True)

  def on_trial_start(self, iteration, trials, trial, **info):
    self._status[trial.trial_id] = "running"
    self._log(trial, "start")
    self._print()

  def on_trial_result(self, iteration, trials, trial, result, **info):
    score, epoch = result.get(METRIC), result.get(TIME_ATTR)
    self._last[trial.trial_id] = epoch
    self._offer(score, trial.trial_id, epoch)
    if _beats(score, self._trial_best.get(trial.trial_id)):
      self._trial_best[trial.trial_id] = (score, epoch)

  def _ended(self, trial):
    """The ended trial's epochs and its best score (a restart reads it)."""
    best = self._trial_best.get(trial.trial_id)
    return dict(epochs=self._last.get(trial.trial_id) or 0,
                **({"best": best[0], "best_epoch": best[1]} if best else {}))

  def on_trial_complete(self, iteration, trials, trial, **info):
    ended = self._ended(trial)
    status = "completed" if ended["epochs"] >= self._epochs else "stopped"
    self._status[trial.trial_id] = status
    self._log(trial, status, **ended)
    self._print()

  def on_trial_error(self, iteration, trials, trial, **info):
    self._status[trial.trial_id] = "error"
    self._log(trial, "error", **self._ended(trial))
    self._print()
