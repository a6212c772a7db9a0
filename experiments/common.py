"""What the experiment scripts share: the seed summary and the results table.

Every "mean ± std over seeds" the scripts print uses the *sample* standard
deviation (ddof 1), the convention of the reproduction tables and of
``scipy.stats.ttest_ind``.

Example:
  >>> r = seed_summary([0.5, 0.7])
  >>> round(r["mean"], 3), round(r["std"], 4)
  (0.6, 0.1414)
"""

from __future__ import annotations

import json
import os

import numpy as np


def seed_summary(values) -> dict:
  """``{"test": per seed, "mean", "std"}`` (std: ddof 1; 0.0 for one seed)."""
  v = np.asarray(values, np.float64)
  std = float(v.std(ddof=1)) if v.size > 1 else 0.0
  return {"test": v.tolist(), "mean": float(v.mean()), "std": std}


def write_table(out_dir: str, rows: dict, header: tuple[str, str]) -> str:
  """Writes ``table.json`` (rows as given) and ``table.md`` (name | mean ±
  std in %) under ``out_dir``; returns the markdown."""
  with open(os.path.join(out_dir, "table.json"), "w") as f:
    json.dump(rows, f, indent=1)
  lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
  lines += [f"| {name} | {100 * r['mean']:.2f} ± {100 * r['std']:.2f} % |"
            for name, r in rows.items()]
  text = "\n".join(lines) + "\n"
  with open(os.path.join(out_dir, "table.md"), "w") as f:
    f.write(text)
  return text


def check_command_line(argv, **required) -> None:
  """absl ``main``'s checks: no positional arguments, and every ``required``
  flag (name=value) set; raises ``app.UsageError`` naming the flag."""
  from absl import app  # pylint: disable=import-outside-toplevel
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  for name, value in required.items():
    if not value:
      raise app.UsageError(f"--{name} is required")
