"""What the experiment scripts share: the command-line convention, one-line
usage errors, the seed summary and the results table.

The convention (docs/cli.md): ``--config`` (a config file; a relative path
not found from the current folder is looked up in the repository's
``experiments/`` folder, then at its root, so ``--config=configs/digits.py``
works from anywhere in a checkout), ``--workdir`` (the run folder),
``--seeds`` (comma-separated); a config field is changed with
``--config.FIELD=...``, never by a flag of its own. ``run(main)`` replaces
``absl.app.run``: a bad invocation — a missing config file, a broken JSON
graph, an unknown model, gate, space or data set, a used run folder — ends
in one line ``<script>: error: <what>`` naming the file and the field, exit
status 2 (``KTG_TRACEBACK=1`` shows the traceback instead).

Every "mean ± std over seeds" the scripts print is ``ktg_jax.stats``'s: the
*sample* standard deviation (ddof 1), NaN (printed "—") for one seed.

Example:
  >>> r = seed_summary([0.5, 0.7])
  >>> round(r["mean"], 3), round(r["std"], 4)
  (0.6, 0.1414)
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

import ktg_jax as ktg
from ktg_jax import classic
from ktg_jax import stats
from ktg_jax.core import GraphSpecError
from ktg_jax.core import gates
from ktg_jax.run import run_files
from ktg_jax.search import space_ops

# The repository checkout this package runs from (an editable install); in an
# installed wheel these folders do not exist and only given paths are found.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
HERE = os.path.join(ROOT, "experiments")  # the scripts and their configs/


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
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  for name, value in required.items():
    if not value:
      raise app.UsageError(f"--{name} is required")


# --- the command line ---------------------------------------------------------

def parse_seeds(value, flag: str = "seeds") -> tuple[int, ...]:
  """``--seeds``: a comma-separated string or absl's list -> ints; raises
  ``UsageError`` naming the flag.

  >>> parse_seeds("0,1, 2"), parse_seeds(["3"])
  ((0, 1, 2), (3,))
  """
  items = value.split(",") if isinstance(value, str) else list(value)
  try:
    seeds = tuple(int(s) for s in items if str(s).strip())
  except ValueError:
    raise app.UsageError(f"--{flag}={value if isinstance(value, str) else ','.join(items)}"
                         " is invalid; allowed: comma-separated ints") from None
  if not seeds:
    raise app.UsageError(f"--{flag} is empty; allowed: comma-separated ints")
  return seeds


def find_file(path: str) -> str | None:
  """``path`` as given if it exists, else in the checkout's experiments/,
  else at its root; None if nowhere."""
  for base in ("", HERE, ROOT):
    p = os.path.join(base, path) if base else path
    if os.path.exists(p):
      return p
  return None


def resolve_config_argv(argv: list[str], flag: str = "config") -> list[str]:
  """``argv`` with ``--config=PATH`` (or ``--config PATH``) made absolute by
  ``find_file``; raises ``UsageError`` naming the flag and the places looked."""
  out, i = list(argv), 1
  while i < len(out):
    a, value, j = out[i], None, None
    if a.startswith(f"--{flag}="):
      value, j = a.split("=", 1)[1], i
    elif a == f"--{flag}" and i + 1 < len(out):
      value, j = out[i + 1], i + 1
    if value is not None:
      path, _, override = value.partition(":")  # config_flags' file:arg
      found = find_file(path)
      if found is None:
        raise app.UsageError(
            f"--{flag}={value}: no such file (looked in {os.getcwd()}, "
            f"{HERE}, {ROOT})")
      new = os.path.abspath(found) + (":" + override if override else "")
      out[j] = f"--{flag}={new}" if j == i else new
    i += 1
  return out


def load_graph(path: str):
  """``GraphSpec.load(path)`` with its errors as one ``UsageError`` line: the
  file, and the JSON position or the spec's field."""
  try:
    return ktg.GraphSpec.load(path)
  except json.JSONDecodeError as e:
    raise app.UsageError(f"{path}: not valid JSON: line {e.lineno} column "
                         f"{e.colno}: {e.msg}") from None
  except (ktg.GraphSpecError, ValueError, KeyError, TypeError) as e:
    raise app.UsageError(f"{path}: {e}") from None


# Builder name -> spec from the config's comma-separated models and the
# teacher checkpoint (kd; compression: one per teacher, comma-separated).
def _first(models):
  return models[0]


GRAPH_BUILDERS = {
    "vanilla": lambda m, t: _builders().vanilla(_first(m)),
    "dml": lambda m, t: _builders().dml(m if len(m) > 1 else 2, m[0]),
    "ensemble": lambda m, t: _builders().ensemble(m if len(m) > 1 else 2, m[0]),
    "kd": lambda m, t: _builders().kd(m[0], m[1], t),
    "compression": lambda m, t: _builders().compression(
        m[0], m[1:], t.split(",")),
    "pi_model": lambda m, t: _builders().pi_model(_first(m)),
    "mean_teacher": lambda m, t: _builders().mean_teacher(_first(m)),
    "pseudo_label": lambda m, t: _builders().pseudo_label(_first(m)),
    "fixmatch": lambda m, t: _builders().fixmatch(_first(m)),
    "ssl": lambda m, t: _builders().ssl(_first(m)),
    "ssl_dml": lambda m, t: _builders().ssl_dml(
        tuple(m) if len(m) > 1 else (m[0], m[0]),
        ("simclr",) * max(len(m), 2)),
}
NEEDS = {"kd": (2, True), "compression": (2, True)}  # (models, checkpoint)


def _builders():
  return classic


def build_graph(graph: str, models: str, teacher: str | None = None):
  """``--graph``: a builder of ``ktg_jax.classic.BUILDERS`` (models from
  ``models``, comma-separated) or a GraphSpec JSON file (``find_file``)."""
  names = [m for m in models.split(",") if m]
  if graph in GRAPH_BUILDERS:
    need_models, need_ckpt = NEEDS.get(graph, (1, False))
    if len(names) < need_models:
      raise app.UsageError(f"--graph={graph} needs {need_models}+ models in "
                           f"--config.models (got {models!r})")
    if need_ckpt and not teacher:
      raise app.UsageError(f"--graph={graph} needs --teacher_checkpoint (the "
                           "variables path a --graph=vanilla run prints)")
    try:
      return GRAPH_BUILDERS[graph](names, teacher)
    except (GraphSpecError, ValueError) as e:
      raise app.UsageError(f"--graph={graph} --config.models={models}: {e}"
                           ) from None
  path = find_file(graph) if graph.endswith(".json") or os.sep in graph else None
  if path and os.path.isfile(path):
    return load_graph(path)
  raise app.UsageError(f"--graph={graph!r}: not a builder "
                       f"{sorted(GRAPH_BUILDERS)} and not a JSON file")


def usage_errors() -> tuple:
  """The exceptions ``run`` reports as one line: the ones whose message names
  the field and the allowed values."""
  errors = [app.UsageError, GraphSpecError, gates.GateError,
            run_files.RunFolderInUseError, FileNotFoundError]
  try:
    errors.append(space_ops.SpaceError)
  except ImportError:  # the search extra is not installed
    pass
  return tuple(errors)


def _one_line(e: BaseException) -> str:
  return " ".join(str(e).split()) or type(e).__name__


def exit_with_usage_error(e: BaseException | str) -> None:
  prog = os.path.basename(sys.argv[0])
  print(f"{prog}: error: {_one_line(e)}", file=sys.stderr, flush=True)
  sys.exit(2)


def config_error_line(e: BaseException) -> str:
  """A config file's or override's error as one line: ml_collections'
  "Did you mean" for a misspelt field, else the exception's last line (a
  config file that raises is reported with its traceback).

  >>> config_error_line(KeyError('Did you mean "epochs" instead of "epochz"?'))
  '--config.epochz: no such field; did you mean --config.epochs?'
  """
  text = str(e)
  m = re.search(r'Did you mean \"?(\w+)\"? instead of \"?(\w+)', text)
  if m:
    return (f"--config.{m.group(2)}: no such field; did you mean "
            f"--config.{m.group(1)}?")
  if isinstance(e, (KeyError, AttributeError)):  # a field ml_collections
    for arg in sys.argv[1:]:                     # found nothing like
      field = arg.partition("=")[0][len("--config."):]
      if arg.startswith("--config.") and field.split(".")[-1] in text:
        return f"--config.{field}: no such field"
  m = re.search(r"^(?:flag )?(--config[^ :]*(?::[^ :]+)?): ", text)
  lines = [l.strip() for l in text.splitlines() if l.strip()]
  last = lines[-1] if lines else type(e).__name__
  return f"{m.group(1)}: {last}" if m and len(lines) > 1 else _one_line(e)


def define_config(default: str | None, help_text: str):
  """``--config``: ``config_flags.DEFINE_config_file("config", ...)`` with
  the default ``experiments/configs/<default>`` (``config_path``), and a
  bad override or config file (which ml_collections reports while the flag
  is defined) as one usage-error line."""
  try:
    holder = config_flags.DEFINE_config_file(
        "config", config_path(default) if default else None, help_text)
    # the caller's flag (its --helpshort), as if it had defined it
    caller = sys._getframe(1).f_globals.get("__name__")  # pylint: disable=protected-access
    flags.FLAGS.register_key_flag_for_module(
        sys.argv[0] if caller == "__main__" else caller,
        flags.FLAGS["config"])
    return holder
  except Exception as e:  # pylint: disable=broad-except
    if os.environ.get("KTG_TRACEBACK"):
      raise
    exit_with_usage_error(config_error_line(e))


def parse_flags(argv):
  """``app.run``'s flags parser: a flag error (an unknown flag, a bad
  value, a config file that fails) as one line, exit status 2."""
  try:
    return flags.FLAGS(argv)
  # flags.Error, and what ml_collections raises for a misspelt field
  except Exception as e:  # pylint: disable=broad-except
    if os.environ.get("KTG_TRACEBACK"):
      raise
    exit_with_usage_error(config_error_line(e))


def own_help(module_name: str, doc: str | None) -> None:
  """``--help`` of a command whose flags a package module defined
  (``ktg_jax.cli.train``) while another runs as ``__main__`` (a console
  script, ``experiments/train.py``): that module's flags and docstring
  become the main module's."""
  fv = flags.FLAGS
  for flag in fv.get_key_flags_for_module(module_name):
    fv.register_key_flag_for_module(sys.argv[0], flag)
  main = sys.modules.get("__main__")
  if main is not None and not getattr(main, "__doc__", None) and doc:
    main.__doc__ = doc


def run(main) -> None:
  """``absl.app.run(main)`` with the config path resolved (``find_file``)
  and the usage errors (``usage_errors``) as one line, exit status 2."""
  try:
    argv = resolve_config_argv(sys.argv)
  except app.UsageError as e:
    exit_with_usage_error(e)
  catch = () if os.environ.get("KTG_TRACEBACK") else usage_errors()

  def guarded(args):
    try:
      return main(args)
    except catch as e:  # pylint: disable=catching-non-exception
      exit_with_usage_error(e)
  app.run(guarded, argv=argv, flags_parser=parse_flags)


def load_module(path: str, register: bool = True):
  """The Python file ``path`` as a module (no ``sys.path`` edit); with
  ``register``, also in ``sys.modules`` under its file name unless a module
  of that name is there already."""
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  if register:
    sys.modules.setdefault(name, module)
  spec.loader.exec_module(module)
  return module


def config_beside(here: str, name: str):
  """The config file ``name`` in the folder of the file ``here`` (a config
  that builds on another calls it with ``__file__``), as a module. Config
  files are loaded by path, not imported, and not registered: a config and
  the script of the same name (ch3_table) must not shadow each other."""
  return load_module(os.path.join(os.path.dirname(os.path.abspath(here)),
                                  name), register=False)


def config_path(name: str) -> str | None:
  """The absolute path of ``experiments/configs/<name>`` (script defaults do
  not depend on the current folder); None where the checkout's configs are
  not there (an installed wheel: then ``--config`` must be given, and
  ``require_config`` says so)."""
  path = os.path.join(HERE, "configs", name)
  return path if os.path.exists(path) else None


def require_config(config, name: str):
  """``config``, or a ``UsageError`` when ``--config`` was not given and the
  default ``experiments/configs/<name>`` is not installed."""
  if config is None:
    raise app.UsageError(f"--config is required (the default "
                         f"experiments/configs/{name} is in the repository, "
                         "not in the installed package)")
  return config
