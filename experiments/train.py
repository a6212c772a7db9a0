"""Trains one KTG graph: ``ktg_jax/cli/train.py`` (its docstring has the
usage), also installed as the ``ktg-train`` command. docs/cli.md: the
scripts' command line."""

from ktg_jax.cli import train

__doc__ = train.__doc__  # --help shows the command's own text

if __name__ == "__main__":
  train.cli()
