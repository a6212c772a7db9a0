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
from ktg_jax.cli import common

ENV = dict(os.environ, JAX_PLATFORMS="cpu")


def _readme(path="README.md"):
  with open(os.path.join(ROOT, path)) as f:
    return f.read()


def blocks(lang: str, path="README.md") -> list[str]:
  return re.findall(rf"```{lang}\n(.*?)```", _readme(path), re.S)


def commands(path="README.md") -> list[list[str]]:
  """The bash blocks' commands, continuation lines joined, comments cut;
  ``a; b`` and ``a && b`` are two commands, ``VAR=x cmd`` is ``cmd``."""
  out = []
  for block in blocks("bash", path):
    for line in block.replace("\\\n", " ").splitlines():
      line = line.split("  #")[0].strip()
      if not line or line.startswith("#"):
        continue
      lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
      lexer.whitespace_split, lexer.commenters = True, "#"
      words = []
      for token in [*lexer, ";"]:
        if token in (";", "&&", "||", "|", "&"):
          while words and (re.match(r"^[A-Z_]+=", words[0])
                           or words[0] in ("do", "then", "else")):
            words = words[1:]  # VAR=x cmd, for ...; do cmd
          if words:
            out.append(words)
          words = []
        else:
          words.append(token)
  return out


# The installed commands (pyproject [project.scripts]) are these scripts.
COMMANDS = {"ktg-train": "experiments/train.py",
            "ktg-search": "experiments/search.py",
            "ktg-reproduce": "experiments/reproduce.py"}


def script_commands(path: str) -> list[tuple[str, list[str]]]:
  """(script, its arguments) of every ``python experiments/X.py`` or
  ``ktg-X`` command of ``path``'s bash blocks."""
  out = []
  for cmd in commands(path):
    if cmd[0] == "python" and len(cmd) > 1 and cmd[1].startswith(
        "experiments/"):
      out.append((cmd[1], cmd[2:]))
    elif cmd[0] in COMMANDS:
      out.append((COMMANDS[cmd[0]], cmd[1:]))
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
def _helpxml(script: str):
  out = subprocess.run([sys.executable, os.path.join(ROOT, script),
                        "--helpxml"], capture_output=True, text=True,
                       env=ENV, cwd=ROOT, timeout=300)
  return ET.fromstring(out.stdout)


def script_flags(script: str) -> frozenset:
  names = {e.text for e in _helpxml(script).iter("name")}
  return frozenset(names | {"no" + n for n in names})


def default_config(script: str) -> str | None:
  """The file ``script``'s --config defaults to (its
  ``common.define_config("<name>", ...)``, the script's or its command's)."""
  path = os.path.join(ROOT, script)
  with open(path) as f:
    source = f.read()
  command = re.search(r"from ktg_jax.cli import (\w+)\n", source)
  if command and command.group(1) != "common":  # experiments/train.py etc.
    with open(os.path.join(ROOT, "ktg_jax", "cli",
                           command.group(1) + ".py")) as f:
      source = f.read()
  m = re.search(r'define_config\(\s*"([^"]+)"', source)
  return f"experiments/configs/{m.group(1)}" if m else None


def _config_fields(path: str) -> set:
  module = common.load_module(common.find_file(path))
  cfg = module.get_config()

  def walk(c, prefix=""):
    for k, v in c.items():
      yield prefix + k
      if hasattr(v, "items"):
        yield from walk(v, prefix + k + ".")
  return set(walk(cfg))


def check_script_command(script: str, args: list[str]) -> int:
  """Asserts each flag of ``script args`` exists (a config field for
  ``--config.FIELD``, of the --config given or the script's default);
  arguments with shell variables or ``...`` are checked by name only."""
  assert os.path.isfile(os.path.join(ROOT, script)), script
  config = next((a.split("=", 1)[1] for a in args
                 if a.startswith("--config=")), None)
  config = config or default_config(script)
  concrete = lambda v: v and "$" not in v and "..." not in v
  checked = 0
  for arg in args:
    if not arg.startswith("--"):
      continue  # "..." in a sketch of a command
    name, _, value = arg[2:].partition("=")
    if name.startswith("config."):
      assert config, (script, arg)
      if concrete(config):
        assert name[len("config."):] in _config_fields(config), (script, arg)
    else:
      assert name in script_flags(script), (script, arg)
    if name == "config" and concrete(value):
      assert common.find_file(value.partition(":")[0]), arg
    if name == "graph" and concrete(value) and not value.endswith(".json"):
      assert value in common.GRAPH_BUILDERS, arg
    checked += 1
  return checked


def test_every_script_flag_in_the_readme_exists():
  checked = sum(check_script_command(s, a) for s, a in
                script_commands("README.md"))
  assert checked >= 5


DOCS = sorted(f"docs/{f}" for f in os.listdir(os.path.join(ROOT, "docs"))
              if f.endswith(".md"))


@pytest.mark.parametrize("path", DOCS)
def test_every_script_flag_in_the_docs_exists(path):
  """docs/*.md's commands (the measurement logs' too) take the flags they are
  given: no old flag survives a change of the command line."""
  for script, args in script_commands(path):
    check_script_command(script, args)


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
