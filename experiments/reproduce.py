"""Thesis Table 3.2 (ch.3) reproduced: ``ktg_jax/cli/reproduce.py`` (its docstring has the
usage), also installed as the ``ktg-reproduce`` command. docs/cli.md: the
scripts' command line."""

from ktg_jax.cli import reproduce

__doc__ = reproduce.__doc__  # --help shows the command's own text

if __name__ == "__main__":
  reproduce.cli()
