"""Every command in README.md runs as written, or at least parses: each
`make` target exists, each script takes each flag it is given (its
`--helpxml`), each `--config.FIELD` is a field of the config named, each
`--graph` is a builder or a file; the quickstart block is
examples/quickstart.py, and it and its command-line twin run."""

import functools
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import common  # pylint: disable=wrong-import-position

ENV = dict(os.environ, JAX_PLATFORMS="cpu")


def _readme():
  with open(os.path.join(ROOT, "README.md")) as f:
    return f.read()


def blocks(lang: str) -> list[str]:
  return re.findall(rf"```{lang}\n(.*?)```", _readme(), re.S)


def commands() -> list[list[str]]:
  """The bash blocks' commands, continuation lines joined, comments cut."""
  out = []
  for block in blocks("bash"):
    for line in block.replace("\\\n", " ").splitlines():
      line = line.split("  #")[0].strip()
      if line and not line.startswith("#"):
        out.append(shlex.split(line))
  return out


def test_the_readme_is_short_and_has_its_commands():
  assert len(_readme().splitlines()) <= 200
  cmds = [" ".join(c[:2]) for c in commands()]
  assert "make demo" in cmds and "make test" in cmds
  assert any(c.startswith("python experiments/train.py") for c in cmds)


def test_make_targets_and_pip_extras_exist():
  with open(os.path.join(ROOT, "Makefile")) as f:
    targets = set(re.findall(r"^([a-z]+):", f.read(), re.M))
  with open(os.path.join(ROOT, "pyproject.toml")) as f:
    pyproject = f.read()
  for cmd in commands():
    if cmd[0] == "make":
      assert cmd[1] in targets, cmd
    if cmd[:2] == ["pip", "install"]:
      for extra in re.findall(r"\[([a-z,]+)\]", cmd[-1]):
        for name in extra.split(","):
          assert re.search(rf"^{name} = \[", pyproject, re.M), (cmd, name)


@functools.lru_cache(maxsize=None)
def script_flags(script: str) -> frozenset:
  out = subprocess.run([sys.executable, os.path.join(ROOT, script),
                        "--helpxml"], capture_output=True, text=True,
                       env=ENV, cwd=ROOT, timeout=300)
  names = {e.text for e in ET.fromstring(out.stdout).iter("name")}
  return frozenset(names | {"no" + n for n in names})


def _config_fields(path: str) -> set:
  module = common.load_module(common.find_file(path))
  cfg = module.get_config()

  def walk(c, prefix=""):
    for k, v in c.items():
      yield prefix + k
      if hasattr(v, "items"):
        yield from walk(v, prefix + k + ".")
  return set(walk(cfg))


def test_every_script_flag_in_the_readme_exists():
  checked = 0
  for cmd in commands():
    if cmd[0] != "python" or not cmd[1].startswith("experiments/"):
      continue
    script, args = cmd[1], cmd[2:]
    assert os.path.isfile(os.path.join(ROOT, script)), script
    config = next((a.split("=", 1)[1] for a in args
                   if a.startswith("--config=")), None)
    for arg in args:
      name, _, value = arg[2:].partition("=")
      if name.startswith("config."):
        assert config and name[len("config."):] in _config_fields(config), arg
      else:
        assert name in script_flags(script), (script, arg)
      if name == "config":
        assert common.find_file(value), arg
      if name == "graph" and not value.endswith(".json"):
        assert value in common.GRAPH_BUILDERS, arg
      checked += 1
  assert checked >= 5


def test_the_quickstart_block_is_the_example_and_runs(tmp_path):
  with open(os.path.join(ROOT, "examples", "quickstart.py")) as f:
    example = f.read()
  (block,) = [b for b in blocks("python") if "ktg.fit(" in b]
  assert block.strip() in example
  run = lambda argv: subprocess.run(argv, capture_output=True, text=True,
                                    env=ENV, cwd=tmp_path, timeout=600)
  out = run([sys.executable, os.path.join(ROOT, "examples", "quickstart.py")])
  assert out.returncode == 0, out.stderr[-3000:]
  acc = float(out.stdout.split("node 0 validation accuracy:")[1])
  assert acc > 0.9, out.stdout[-2000:]
  # Its command-line twin as the README writes it (run from tmp_path, where
  # the quickstart left runs/quickstart/graph.json), at 2 epochs for time.
  (cli,) = [c for c in commands() if "--graph=runs/quickstart/graph.json" in c]
  out = run([sys.executable, os.path.join(ROOT, cli[1]), *cli[2:],
             "--config.epochs=2"])
  assert out.returncode == 0, out.stderr[-3000:]
  assert "val accuracy" in out.stdout
