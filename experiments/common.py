"""What the experiment scripts share: the seed summary and the results table.

Every "mean ± std over seeds" the scripts print is ``ktg_jax.stats``'s: the
*sample* standard deviation (ddof 1), NaN (printed "—") for one seed.

Example:
  >>> r = seed_summary([0.5, 0.7])
  >>> round(r["mean"], 3), round(r["std"], 4)
  (0.6, 0.1414)
"""

from __future__ import annotations

import json
import os

from ktg_jax import stats


def seed_summary(values) -> dict:
  """``{"test": per seed, "mean", "std"}`` (``stats.summarize``: std ddof 1,
  NaN for one seed)."""
  s = stats.summarize(values)
  return {"test": [float(x) for x in values], "mean": s.mean, "std": s.std}


def write_table(out_dir: str, rows: dict, header: tuple[str, str]) -> str:
  """Writes ``table.json`` (rows as given) and ``table.md`` (name | mean ±
  std in %) under ``out_dir``; returns the markdown."""
  with open(os.path.join(out_dir, "table.json"), "w") as f:
    json.dump(rows, f, indent=1)
  lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
  lines += [f"| {name} | {stats.mean_std(r['mean'], r['std'], scale=100)} % |"
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
