"""benchmarks/device_ch5.sh (issue 25's searches in one device call): the
commands it runs take the flags and config fields it gives them, in the full
and the smoke version, and a bad part or argument names the allowed ones."""

import os
import shlex
import subprocess

import pytest

from test_readme import ROOT, check_script_command

SCRIPT = os.path.join(ROOT, "benchmarks", "device_ch5.sh")


def _run(*args):
  return subprocess.run(["bash", SCRIPT, *args], capture_output=True,
                        text=True, cwd=ROOT, timeout=60)


@pytest.mark.parametrize("part", ["fixmatch_space", "diverse_space"])
@pytest.mark.parametrize("smoke", [(), ("--smoke",)])
def test_the_commands_take_their_flags(part, smoke):
  out = _run(part, *smoke, "--print")
  assert out.returncode == 0, out.stderr
  search, rows = [shlex.split(line) for line in out.stdout.splitlines()]
  assert search[1] == "experiments/search.py"
  assert rows[1] == "experiments/semi.py"
  for cmd in (search, rows):
    assert check_script_command(cmd[1], cmd[2:]) == len(cmd) - 2
  # the rows train the graph the search wrote, under the search's protocol
  config = lambda cmd: [a for a in cmd if a.startswith("--config")]
  assert config(search) == config(rows)
  best = [a for a in rows if a.startswith("--search=")][0].split("=", 1)[1]
  workdir = [a for a in search if a.startswith("--workdir=")][0]
  assert best == os.path.join(workdir.split("=", 1)[1], "best_graph.json")
  seeds = [a for a in rows if a.startswith("--seeds=")][0]
  assert seeds == ("--seeds=0,1" if smoke else "--seeds=0,1,2,3,4")
  if not smoke:  # the budgets: 60 graphs (Table 5.3), >= 50 (5.4)
    trials = int([a for a in search if a.startswith("--num_trials=")][0]
                 .split("=")[1])
    assert trials == 60 if part == "fixmatch_space" else trials >= 50


@pytest.mark.parametrize("args, allowed", [
    (("nope",), "allowed: fixmatch_space, diverse_space"),
    (("diverse_space", "--fast"), "allowed: --smoke, --print"),
])
def test_a_bad_argument_names_the_allowed_ones(args, allowed):
  out = _run(*args)
  assert out.returncode == 2
  assert allowed in out.stderr
