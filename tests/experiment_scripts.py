"""An ``experiments/`` script imported as a module, for tests of its functions.

A script defines its absl flags when imported (``--config``, ``--workdir``,
...). Two scripts imported into one pytest process — every xdist worker
collects every test module — would define ``--config`` twice, and absl stops
the whole run at collection. So the flags a script defines are removed again
once it is imported: its functions are tested here, its command line in a
subprocess (tests/test_table_sweep.py, tests/test_cli.py).
"""

import importlib
import os
import sys

from absl import flags

EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "experiments")


def import_script(name: str):
  """``experiments/<name>.py`` as a module, without its flags."""
  if name in sys.modules:
    return sys.modules[name]
  if EXPERIMENTS not in sys.path:
    sys.path.insert(0, EXPERIMENTS)  # a script may import its siblings
  before = set(flags.FLAGS)
  module = importlib.import_module(name)
  for flag in set(flags.FLAGS) - before:
    delattr(flags.FLAGS, flag)
  return module
