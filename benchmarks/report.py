"""Markdown tables from step_speed.py's JSON results (for RESULTS.md).

  python benchmarks/report.py benchmarks/results/full_threads1.json ...
"""

from __future__ import annotations

import json
import sys


def _rate(v):
  return f"{v['median']:.3f} [{v['min']:.2f}-{v['max']:.2f}]"


def graphs_table(result) -> str:
  lines = ["| nodes | models | ktg_jax steps/s | torch steps/s | ratio jax/torch"
           " (paired median) | jax graph/floor | torch graph/floor | first "
           "step s (jax / torch) |", "|---|---|---|---|---|---|---|---|"]
  for g in result.get("graphs", []):
    tag = "+".join(g["models"])
    sps, first = g["steps_per_s"], g["first_step_s"]
    floor = [f"{g[k]:.2f}" if k in g else "-"
             for k in ("jax graph/floor", "torch graph/floor")]
    lines.append(
        f"| {g['nodes']} | {tag} | {_rate(sps[f'jax:{tag}'])} | "
        f"{_rate(sps[f'torch:{tag}'])} | **{g['ratio jax/torch']:.2f}** | "
        f"{floor[0]} | {floor[1]} | {first[f'jax:{tag}']:.1f} / "
        f"{first[f'torch:{tag}']:.1f} |")
  return "\n".join(lines)


def singles_table(result) -> str:
  rows = {}
  for g in result.get("graphs", []):
    for name, v in g["steps_per_s"].items():
      fw, tag = name.split(":")
      if "+" not in tag:
        rows.setdefault(tag, {}).setdefault(fw, []).append(v["median"])
  lines = ["| model alone | ktg_jax steps/s | torch steps/s | jax/torch |",
           "|---|---|---|---|"]
  for tag, fws in sorted(rows.items()):
    j, t = (sorted(fws[f])[len(fws[f]) // 2] for f in ("jax", "torch"))
    lines.append(f"| {tag} | {j:.3f} | {t:.3f} | {j / t:.2f} |")
  return "\n".join(lines)


def main(paths):
  for path in paths:
    with open(path) as f:
      result = json.load(f)
    print(f"`{result['command']}` — {result['env']['date']}, "
          f"XLA_FLAGS=`{result['env']['xla_flags']}`\n")
    if result.get("graphs"):
      print(graphs_table(result) + "\n\n" + singles_table(result) + "\n")
    if "population" in result:
      print("```\n" + json.dumps(result["population"]) + "\n```\n")
    if "peak_rss_mib" in result:
      print(f"peak RSS MiB (each framework alone): {result['peak_rss_mib']}\n")


if __name__ == "__main__":
  main(sys.argv[1:])
